"""Alert service: raise (or raise again), escalate, acknowledge, resolve, cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


async def raise_alert(
    session: AsyncSession,
    *,
    alert_type: str,
    group_id: int | None,
    user_name: str | None,
    reason: str,
    level: int | None = None,
    message_id: int | None = None,
    now: datetime | None = None,
) -> Any:
    """Open an alert of `alert_type` for (group, user), or raise the open one again.

    `level` None means: the level rules decide. Returns the alert (None until alerts are built)."""
    return None
