"""Text features shared by the trained models: character n-grams of normalised chat text.

The same function builds features at training time and at run time, so the two never drift.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\u2b50\u2764]")
AT_MENTION = re.compile(r"@[^\s@，,:：]{1,20}[\s\u2005]?")
REPEAT = re.compile(r"(.)\1{2,}")
DIGITS = re.compile(r"\d+")
SPACE = re.compile(r"\s+")


@lru_cache(maxsize=8192)
def normalise(text: str) -> str:
    """NFKC (full-width → half-width), lower case, @names and numbers folded, runs shortened."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = AT_MENTION.sub("@ ", text)
    text = DIGITS.sub("0", text)
    text = REPEAT.sub(r"\1\1", text)
    return SPACE.sub(" ", text).strip()


def char_ngrams(text: str, sizes: tuple[int, ...] = (1, 2, 3)) -> list[str]:
    """Character n-grams of the normalised text (a new list; the models of one message share
    the cached computation)."""
    return list(_char_ngrams(text, sizes))


def forget_features() -> None:
    _char_ngrams.cache_clear()


@lru_cache(maxsize=256)
def _char_ngrams(text: str, sizes: tuple[int, ...]) -> tuple[str, ...]:
    padded = f"^{normalise(text)}$"
    grams: list[str] = []
    for n in sizes:
        grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return tuple(grams)


def shape_tokens(text: str) -> list[str]:
    """Coarse shape of a chat line: length bucket, question/exclamation marks, emoji, ellipsis."""
    tokens = [f"§len{min(len(text) // 5, 8)}"]
    if "?" in text or "？" in text:
        tokens.append("§question")
    if "!" in text or "！" in text:
        tokens.append("§exclaim")
    if EMOJI.search(text):
        tokens.append("§emoji")
    if "。。" in text or "..." in text or "…" in text:
        tokens.append("§ellipsis")
    if text.lstrip().startswith("@"):
        tokens.append("§starts_at")
    elif "@" in text:
        tokens.append("§has_at")
    return tokens
