"""API input for the command queue."""

from __future__ import annotations

import msgspec


class CommandCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Queue a text for one or more chats through a robot. `due_at` (ISO 8601) or `delay_seconds`
    (scaled by HUB_TIME_SCALE); neither means now."""

    robot_id: str
    targets: list[str]
    text: str
    at_list: list[str] = []
    due_at: str | None = None
    delay_seconds: float | None = None
    message_id: int | None = None
    kind: str = "send_text"
