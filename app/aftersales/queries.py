"""Task queries for the API, the kanban and the big screen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.aftersales.models import OPEN_STATUSES, STATUSES, TASK_KINDS, TASK_TYPES, AfterSalesTask
from app.errors import InvalidInput
from app.web.params import check_list_filter

MAX_PAGE_SIZE = 200
STATUS_FILTERS = (*STATUSES, "open")


@dataclass(frozen=True)
class TaskFilter:
    user: str | None = None
    group: str | None = None
    status: str | None = None  # a status, or "open" (pending, waiting, in progress)
    task_type: str | None = None
    kind: str | None = None
    staff: str | None = None
    q: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1
    page_size: int = 50

    def validate(self) -> TaskFilter:
        check_list_filter(
            self.status, STATUS_FILTERS, self.page, self.page_size, MAX_PAGE_SIZE, self.since, self.until
        )
        if self.task_type and self.task_type not in TASK_TYPES:
            raise InvalidInput(f"task_type 取值无效：{self.task_type}（可选 {' | '.join(TASK_TYPES)}）")
        if self.kind and self.kind not in TASK_KINDS:
            raise InvalidInput(f"kind 取值无效：{self.kind}（可选 {' | '.join(TASK_KINDS)}）")
        return self


def filtered(f: TaskFilter) -> Select[AfterSalesTask]:
    query = select(AfterSalesTask)
    if f.user:
        query = query.where(AfterSalesTask.target_user == f.user.strip())
    if f.group:
        group = f.group.strip()
        match = AfterSalesTask.group_name == group
        query = query.where(or_(match, AfterSalesTask.group_id == int(group)) if group.isdigit() else match)
    if f.status == "open":
        query = query.where(AfterSalesTask.status.in_(OPEN_STATUSES))
    elif f.status:
        query = query.where(AfterSalesTask.status == f.status)
    if f.task_type:
        query = query.where(AfterSalesTask.task_type == f.task_type)
    if f.kind:
        query = query.where(AfterSalesTask.kind == f.kind)
    if f.staff:
        query = query.where(AfterSalesTask.assigned_staff_name == f.staff.strip())
    if f.q:
        like = f.q.strip()
        query = query.where(
            or_(
                AfterSalesTask.target_user.contains(like, autoescape=True),
                AfterSalesTask.group_name.contains(like, autoescape=True),
                AfterSalesTask.description.contains(like, autoescape=True),
            )
        )
    if f.since:
        query = query.where(AfterSalesTask.created_at >= f.since)
    if f.until:
        query = query.where(AfterSalesTask.created_at <= f.until)
    return query


async def search_tasks(session: AsyncSession, f: TaskFilter) -> tuple[list[AfterSalesTask], int]:
    f = f.validate()
    query = filtered(f)
    total = int(await session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)
    page = query.order_by(AfterSalesTask.id.desc()).offset((f.page - 1) * f.page_size).limit(f.page_size)
    return list((await session.execute(page)).scalars()), total


async def status_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(AfterSalesTask.status, func.count()).group_by(AfterSalesTask.status))
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: int(n) for status, n in rows.all()})
    return counts
