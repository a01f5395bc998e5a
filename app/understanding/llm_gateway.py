"""The process-wide LLM tier, built from the environment once; None when no provider is configured."""

from __future__ import annotations

import os
from typing import Any

_tier: Any = None
_loaded = False


def llm_tier() -> Any:
    global _tier, _loaded
    if not _loaded:
        _loaded = True
        try:
            from app.understanding.llm import LLMTier, providers_from_env
        except ImportError:
            return None
        providers = providers_from_env(dict(os.environ))
        _tier = LLMTier(providers) if providers else None
    return _tier


def reset_llm_tier(tier: Any = None) -> None:
    global _tier, _loaded
    _tier, _loaded = tier, tier is not None
