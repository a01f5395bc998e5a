"""After-sales response detection (节点 2.5): did a user with an open task answer or refuse?"""

from __future__ import annotations

import re

from app.understanding.textfeatures import EMOJI, normalise

FILLERS = re.compile(r"[\s,，.。!！?？~～…、:：;；\"'“”‘’()（）【】\[\]啊呀呢哈哦嘛吧啦噢喔哟滴]+")
MAX_RESPONSE_CHARS = 10


def core_text(text: str) -> str:
    """The words left after emoji, punctuation and 语气词 are removed."""
    return FILLERS.sub("", EMOJI.sub("", normalise(text)))


def detect_response(text: str, open_task: bool, words: dict[str, list[str]]) -> tuple[str, str]:
    """→ (response | refusal | none, reason)."""
    if not open_task:
        return "none", "无进行中的售后任务"
    lowered = normalise(text)
    for word in words.get("refusal", []):
        if word and normalise(word) in lowered:
            return "refusal", f"拒绝配合：「{word}」"
    core = core_text(text)
    if not core:
        return "none", "没有文字内容"
    for word in sorted(words.get("response", []), key=len, reverse=True):
        w = core_text(word)
        if w and core.startswith(w) and len(core) <= MAX_RESPONSE_CHARS:
            return "response", f"响应：「{word}」"
    return "none", "既非响应也非拒绝"
