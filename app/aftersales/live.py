"""Live events of the after-sales branch (topic after_sales), published once the transaction commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.commands.aftercommit import after_commit
from app.realtime.bus import get_bus
from app.realtime.topics import AFTER_SALES

TASK_EVENT = "task.update"
STAFF_EVENT = "staff.update"
CONFLICT_EVENT = "conflict.update"


def publish_after_commit(session: AsyncSession, event: str, data: dict[str, Any]) -> None:
    payload = dict(data)

    async def send() -> None:
        try:
            bus = get_bus()
        except RuntimeError:  # a CLI or test process without live events
            return
        await bus.publish(AFTER_SALES, event, "", payload)

    after_commit(session, send)
