"""Staff records (售后人员): synced from the people registry; status derived from activity and hours."""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.aftersales.assignment import Candidate
from app.aftersales.config import HHMM, AfterSalesSettings
from app.aftersales.models import OPEN_STATUSES, STAFF_STATUSES, TASK_TYPES, AfterSalesStaff, AfterSalesTask
from app.chat.models import Person
from app.errors import InvalidInput, NotFound


def _hhmm(value: str) -> time:
    hour, minute = value.split(":")
    return time(int(hour), int(minute))


def within_hours(staff: AfterSalesStaff, moment: datetime) -> bool:
    local = clock.to_local(moment).time()
    start, end = _hhmm(staff.work_start), _hhmm(staff.work_end)
    if start == end:
        return True
    return start <= local < end if start < end else (local >= start or local < end)


def derive_status(staff: AfterSalesStaff, load: int, now: datetime, settings: AfterSalesSettings) -> str:
    """Override wins; outside working hours → offline; active recently → online (busy from the
    configured number of open tasks); otherwise offline."""
    if staff.status_override in STAFF_STATUSES:
        return staff.status_override
    if not within_hours(staff, now):
        return "offline"
    active = staff.last_active_at is not None and (
        now - clock.as_utc(staff.last_active_at) <= clock.scaled(settings.staff_active_seconds)
    )
    if not active:
        return "offline"
    return "busy" if load >= settings.busy_threshold else "online"


async def sync_staff(session: AsyncSession, now: datetime | None = None) -> None:
    """Every after-sales person in the registry has a staff record (skills copied once)."""
    now = now or clock.now()
    people = (await session.execute(select(Person).where(Person.role == "after_sales"))).scalars().all()
    if not people:
        return
    known = set((await session.execute(select(AfterSalesStaff.name))).scalars())
    for person in people:
        if person.display_name in known:
            continue
        known.add(person.display_name)
        session.add(
            AfterSalesStaff(
                name=person.display_name,
                person_id=person.id,
                skills=[s for s in person.skills or [] if s],
                work_start="09:00",
                work_end="21:00",
                active=True,
                created_at=now,
                updated_at=now,
            )
        )
    await session.flush()


async def loads(session: AsyncSession) -> dict[int, int]:
    rows = await session.execute(
        select(AfterSalesTask.assigned_staff_id, func.count())
        .where(AfterSalesTask.status.in_(OPEN_STATUSES), AfterSalesTask.assigned_staff_id.is_not(None))
        .group_by(AfterSalesTask.assigned_staff_id)
    )
    return {int(sid): int(n) for sid, n in rows.all() if sid is not None}


async def staff_rows(
    session: AsyncSession,
    settings: AfterSalesSettings,
    now: datetime | None = None,
    active_only: bool = False,
) -> list[tuple[AfterSalesStaff, str, int]]:
    """(record, status, open tasks) for every staff member, by name."""
    now = now or clock.now()
    query = select(AfterSalesStaff).order_by(AfterSalesStaff.name)
    if active_only:
        query = query.where(AfterSalesStaff.active.is_(True))
    staff = (await session.execute(query)).scalars().all()
    load = await loads(session)
    return [(s, derive_status(s, load.get(s.id, 0), now, settings), load.get(s.id, 0)) for s in staff]


async def candidates(session: AsyncSession, settings: AfterSalesSettings, now: datetime) -> list[Candidate]:
    await sync_staff(session, now)
    return [
        Candidate(s.id, s.name, tuple(s.skills or ()), status, load, s.last_assigned_at)
        for s, status, load in await staff_rows(session, settings, now, active_only=True)
    ]


async def touch_staff(
    session: AsyncSession, name: str, now: datetime, create: bool
) -> AfterSalesStaff | None:
    """A staff member spoke: they are active now."""
    staff = (
        await session.execute(select(AfterSalesStaff).where(AfterSalesStaff.name == name))
    ).scalar_one_or_none()
    if staff is None and create:
        await sync_staff(session, now)
        staff = (
            await session.execute(select(AfterSalesStaff).where(AfterSalesStaff.name == name))
        ).scalar_one_or_none()
    if staff is not None:
        staff.last_active_at = now
    return staff


def clean_skills(values: list[str] | str | None) -> list[str]:
    import re

    items = values if isinstance(values, list) else re.split(r"[,，、\s]+", values or "")
    skills = [str(s).strip() for s in items if str(s).strip()]
    unknown = [s for s in skills if s not in TASK_TYPES]
    if unknown:
        raise InvalidInput(f"未知的技能（任务类型）：{'、'.join(unknown)}（可选 {'、'.join(TASK_TYPES)}）")
    return list(dict.fromkeys(skills))


async def save_staff(
    session: AsyncSession,
    staff_id: int | None,
    *,
    name: str | None = None,
    skills: list[str] | str | None = None,
    status_override: str | None = None,
    work_start: str | None = None,
    work_end: str | None = None,
    active: bool | None = None,
    clear_override: bool = False,
) -> AfterSalesStaff:
    now = clock.now()
    if staff_id is None:
        name = (name or "").strip()
        if not name or len(name) > 120:
            raise InvalidInput("姓名不能为空，且不超过 120 个字符")
        exists = (await session.execute(select(AfterSalesStaff).where(AfterSalesStaff.name == name))).scalar()
        if exists is not None:
            raise InvalidInput(f"售后人员「{name}」已存在")
        staff = AfterSalesStaff(
            name=name,
            skills=[],
            work_start="09:00",
            work_end="21:00",
            active=True,
            created_at=now,
            updated_at=now,
        )
        session.add(staff)
    else:
        found = await session.get(AfterSalesStaff, staff_id)
        if found is None:
            raise NotFound(f"售后人员 {staff_id} 不存在")
        staff = found
    if skills is not None:
        staff.skills = clean_skills(skills)
    if clear_override:
        staff.status_override = None
    elif status_override:
        if status_override not in STAFF_STATUSES:
            raise InvalidInput(f"状态取值无效：{status_override}（可选 online | busy | offline）")
        staff.status_override = status_override
    for field_name, value in (("work_start", work_start), ("work_end", work_end)):
        if value:
            if not HHMM.match(value.strip()):
                raise InvalidInput(f"{field_name} 必须是 HH:MM")
            setattr(staff, field_name, value.strip())
    if active is not None:
        staff.active = active
    staff.updated_at = now
    await session.flush()
    return staff
