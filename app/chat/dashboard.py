"""Figures for the dashboard."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.chat.models import Group, Message
from app.robots.models import Robot

ONLINE_WINDOW = timedelta(minutes=10)


async def dashboard_figures(session: AsyncSession) -> dict[str, Any]:
    local_midnight = clock.local_now().replace(hour=0, minute=0, second=0, microsecond=0)
    since = clock.as_utc(local_midnight)
    counts = dict(
        (
            await session.execute(
                select(Message.status, func.count())
                .where(Message.received_at >= since)
                .group_by(Message.status)
            )
        ).all()
    )
    active_groups = await session.scalar(
        select(func.count()).select_from(Group).where(Group.last_message_at >= since)
    )
    return {
        "today_total": sum(counts.values()),
        "today_processed": counts.get("processed", 0),
        "today_pending": counts.get("received", 0),
        "today_failed": counts.get("failed", 0),
        "active_groups": active_groups or 0,
    }


async def recent_messages(session: AsyncSession, limit: int = 50) -> list[Message]:
    # Newest first, processed or not: the live stream shows a message as soon as it is stored.
    query = select(Message).order_by(Message.id.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def robot_overview(session: AsyncSession, include_inactive: bool = False) -> list[dict[str, Any]]:
    query = select(Robot).order_by(Robot.active.desc(), Robot.role, Robot.id)
    if not include_inactive:
        query = query.where(Robot.active.is_(True))
    robots = (await session.execute(query)).scalars()
    now = clock.now()
    # WorkTool's own online state when it has been polled; else whether the robot reported lately.
    return [
        {
            "robot": r,
            "online": r.online
            if r.online is not None
            else bool(r.last_seen_at and now - r.last_seen_at <= ONLINE_WINDOW),
        }
        for r in robots
    ]
