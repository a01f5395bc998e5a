"""Pure text rules of the after-sales branch: task type, @-mentions, task / completion words, cooperation."""

from __future__ import annotations

import re

# Most specific first: "视频号扫码认证" is a 视频号认证 task, "拍个视频发作品" a 自拍视频 one.
TYPE_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("视频号认证", re.compile(r"视频号")),
    ("实名认证", re.compile(r"实名|身份证|人脸|刷脸")),
    ("绑定手机", re.compile(r"绑定|换绑|绑手机|手机号|验证码")),
    ("自拍视频", re.compile(r"自拍|拍(个|一个|一段|段)?视频|录(个|一个|一段|段)?视频|拍一下视频")),
    ("发作品", re.compile(r"发(个|一个|一条|条)?作品|发布作品|发视频|作品|发(个|一)?条")),
    ("扫码登录", re.compile(r"扫码|扫一?下码|扫个码|扫一扫|二维码|登录|登陆|码")),
)
TASK_WORDS = re.compile(
    r"扫码|扫一?下|扫个码|二维码|登录|登陆|实名|认证|身份证|人脸|刷脸|绑定|换绑|手机号|验证码|作品|发布|"
    r"自拍|拍(个|一个|一段|段)?视频|录(个|一个|一段|段)?视频|视频号|配合|操作一下|弄一下|处理一下"
)
COMPLETION_WORDS = re.compile(
    r"已完成|完成了|搞定了?|弄好了|处理好了|已处理|已经好了|好了哈|已解决|解决了|ok了"
)
# WorkTool shows @-mentions as "@name" followed by a space or U+2005 (four-per-em space).
MENTION = re.compile(r"@([^\s@\u2005\u2002\u3000,，:：]{1,40})")
PRIORITY_BY_TYPE = {
    "扫码登录": "high",
    "实名认证": "high",
    "视频号认证": "high",
    "绑定手机": "medium",
    "发作品": "medium",
    "自拍视频": "medium",
    "其他": "low",
}
LOWER = {"high": "medium", "medium": "low", "low": "low", "unknown": "low"}


def task_type_of(text: str) -> str:
    for name, pattern in TYPE_RULES:
        if pattern.search(text or ""):
            return name
    return "其他"


def mentions(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(1) for m in MENTION.finditer(text or "")))


def has_task_words(text: str) -> bool:
    return bool(TASK_WORDS.search(text or ""))


def says_done(text: str) -> bool:
    return bool(COMPLETION_WORDS.search((text or "").lower()))


def lowered(level: str) -> str:
    """Cooperation after a refusal or a time-out: one step down (unknown counts as medium)."""
    return LOWER.get(level, "low")


def cooperation_on_response(waited_seconds: float | None, quick_seconds: float) -> str:
    """Cooperation from how soon the user answered the staff @ (quick → high)."""
    if waited_seconds is None or waited_seconds <= quick_seconds:
        return "high"
    return "medium"
