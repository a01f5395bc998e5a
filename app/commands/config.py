"""Command-queue settings, read once from the environment and validated (durations in seconds).

HUB_COMMAND_CONFIRM_SECONDS   wait for a result callback before querying rawMsg/list (60)
HUB_COMMAND_MAX_ATTEMPTS      sends per command before manual handling (3)
HUB_COMMAND_RETRY_SECONDS     back-off after the first failed attempt; ×4 after each further one (30)
HUB_WORKTOOL_TIMEOUT          HTTP timeout of one WorkTool API call, real seconds, not scaled (10)

Durations pass through clock.scaled_seconds() (HUB_TIME_SCALE) where they are used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from app.config import env_float


@dataclass(frozen=True, slots=True)
class CommandSettings:
    confirm_seconds: float = 60.0
    max_attempts: int = 3
    retry_seconds: float = 30.0
    worktool_timeout: float = 10.0


def load_command_settings(environ: dict[str, str] | None = None) -> CommandSettings:
    env = dict(os.environ if environ is None else environ)
    return CommandSettings(
        confirm_seconds=env_float(env, "HUB_COMMAND_CONFIRM_SECONDS", 60.0, 0.0, 86400.0),
        max_attempts=int(env_float(env, "HUB_COMMAND_MAX_ATTEMPTS", 3, 1, 10)),
        retry_seconds=env_float(env, "HUB_COMMAND_RETRY_SECONDS", 30.0, 0.0, 86400.0),
        worktool_timeout=env_float(env, "HUB_WORKTOOL_TIMEOUT", 10.0, 0.5, 120.0),
    )


@lru_cache(maxsize=1)
def command_settings() -> CommandSettings:
    return load_command_settings()
