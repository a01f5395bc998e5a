"""Announce stored messages on the live stream the moment they are stored.

The dashboard shows a message as soon as the webhook has stored it (one `message.new` event per
stored batch, newest row first); labels fill in when processing publishes `message.processed`.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from app.realtime.bus import EventBus
from app.realtime.topics import MESSAGES
from app.web.templating import render_partial


def stored_rows_html(rows: list[dict[str, Any]]) -> str:
    return "".join(
        render_partial("chat/_message_row.html", m=SimpleNamespace(sender_role=None, **row))
        for row in reversed(rows)
    )


async def announce_stored(bus: EventBus, rows: list[dict[str, Any]]) -> None:
    """`rows` are the stored messages' column values, each with its `id`."""
    if rows:
        await bus.publish(
            MESSAGES, "message.new", stored_rows_html(rows), {"ids": [row["id"] for row in rows]}
        )
