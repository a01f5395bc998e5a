"""Which robot speaks for the hub in a group right now (shift, role, fallback)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.chat.models import Group
from app.robots.models import Robot, robot_groups

DAY_START_HOUR = 9
NIGHT_START_HOUR = 21


def current_shift(moment: datetime | None = None) -> str:
    """'day' (09:00–21:00 local time) or 'night'."""
    hour = clock.to_local(moment or clock.now()).hour
    return "day" if DAY_START_HOUR <= hour < NIGHT_START_HOUR else "night"


async def pick_robot(
    session: AsyncSession, *, group_id: int | None, purpose: str = "reply", now: datetime | None = None
) -> Robot | None:
    """The active robot for `purpose` ('reply' or 'notify') in this group at `now`.

    Reply: the current shift's reply robot of the group, else any active reply robot of the
    group. Notify: the notify robot (need not be in the group)."""
    query = select(Robot).where(Robot.active.is_(True))
    if purpose == "notify":
        notify = query.where(Robot.role == "notify").order_by(Robot.id)
        return (await session.execute(notify)).scalars().first()
    if group_id is not None:
        query = query.join(robot_groups, robot_groups.c.robot_id == Robot.id).where(
            robot_groups.c.group_id == group_id
        )
    robots = (
        (await session.execute(query.where(Robot.role.in_(("day_reply", "night_reply"))).order_by(Robot.id)))
        .scalars()
        .all()
    )
    preferred = f"{current_shift(now)}_reply"
    for robot in robots:
        if robot.role == preferred:
            return robot
    return robots[0] if robots else None


async def group_title(session: AsyncSession, group_id: int) -> str | None:
    group = await session.get(Group, group_id)
    return group.name if group else None
