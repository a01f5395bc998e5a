"""System settings: JSON values by key, with defaults."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.system.models import SystemSetting


async def get_setting(session: AsyncSession, key: str, default: Any = None) -> Any:
    row = await session.get(SystemSetting, key)
    return default if row is None else row.value


async def put_setting(session: AsyncSession, key: str, value: Any, by: str) -> None:
    row = await session.get(SystemSetting, key)
    if row is None:
        session.add(SystemSetting(key=key, value=value, updated_at=clock.now(), updated_by=by))
    else:
        row.value = value
        row.updated_at = clock.now()
        row.updated_by = by
