"""Command queries for the API and the page (indexed: status, robot, message, created_at)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.commands.models import WITH_ROBOT, Command
from app.commands.states import MANUAL, STATUSES
from app.robots.models import Robot
from app.web.params import check_list_filter

MAX_PAGE_SIZE = 200
MANUAL_QUEUE_LIMIT = 50


@dataclass(frozen=True)
class CommandFilter:
    status: str | None = None
    robot: str | None = None  # WorkTool robot_id
    message_id: int | None = None
    q: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1
    page_size: int = 50

    def validate(self) -> CommandFilter:
        check_list_filter(
            self.status, STATUSES, self.page, self.page_size, MAX_PAGE_SIZE, self.since, self.until
        )
        return self


def _filtered(f: CommandFilter) -> Select[Command]:
    query = select(Command).options(WITH_ROBOT)
    if f.status:
        query = query.where(Command.status == f.status)
    if f.robot:
        query = query.where(Command.robot_id.in_(select(Robot.id).where(Robot.robot_id == f.robot)))
    if f.message_id is not None:
        query = query.where(Command.message_id == f.message_id)
    if f.q:
        query = query.where(Command.text.contains(f.q, autoescape=True))
    if f.since:
        query = query.where(Command.created_at >= f.since)
    if f.until:
        query = query.where(Command.created_at <= f.until)
    return query


async def search_commands(session: AsyncSession, f: CommandFilter) -> tuple[list[Command], int]:
    f = f.validate()
    query = _filtered(f)
    total = int(await session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)
    page = query.order_by(Command.id.desc()).offset((f.page - 1) * f.page_size).limit(f.page_size)
    return list((await session.execute(page)).unique().scalars()), total


async def manual_queue(session: AsyncSession, limit: int = MANUAL_QUEUE_LIMIT) -> tuple[list[Command], int]:
    """Commands waiting for a person (人工处理), oldest first."""
    query = select(Command).where(Command.status == MANUAL).options(WITH_ROBOT)
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = await session.execute(query.order_by(Command.id).limit(limit))
    return list(rows.unique().scalars()), total


async def status_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Command.status, func.count()).group_by(Command.status))
    counts = {status: 0 for status in STATUSES}
    counts.update({status: int(n) for status, n in rows.all()})
    return counts
