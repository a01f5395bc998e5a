"""The only source of "now" and of scaled durations (HUB_TIME_SCALE)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from app.config import get_settings


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


def local_now() -> datetime:
    return now().astimezone(get_settings().tz)


def to_local(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(get_settings().tz)


def scaled_seconds(seconds: float) -> float:
    """A configured duration after HUB_TIME_SCALE is applied."""
    return seconds * get_settings().time_scale


def scaled(seconds: float) -> timedelta:
    return timedelta(seconds=scaled_seconds(seconds))


async def sleep_scaled(seconds: float) -> None:
    await asyncio.sleep(scaled_seconds(seconds))


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
