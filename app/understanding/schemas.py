"""API input for understanding."""

from __future__ import annotations

import msgspec

MAX_TEXT = 2000


class ContextItem(msgspec.Struct, frozen=True):
    role: str
    content: str


class IdentifyTypeIn(msgspec.Struct, frozen=True):
    message: str
    sender_role: str = "user"
    context: list[ContextItem] = []
    open_task: bool = False
    open_task_type: str | None = None  # the open task's type: 扫码登录 … 发作品, 自拍视频, 其他
