"""People registry service (人员登记): operators, assistants, after-sales, users."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.chat.groups import ensure_groups
from app.chat.models import PERSON_ROLES, Group, Person
from app.chat.schemas import PersonIn, PersonPatch
from app.errors import Conflict, InvalidInput, NotFound


def person_dict(person: Person, group_name: str | None) -> dict[str, Any]:
    return {
        "id": person.id,
        "display_name": person.display_name,
        "aliases": list(person.aliases or []),
        "role": person.role,
        "group": group_name,
        "skills": list(person.skills or []),
        "note": person.note,
        "created_at": person.created_at.isoformat(),
        "updated_at": person.updated_at.isoformat(),
    }


def _clean_names(values: list[str], what: str) -> list[str]:
    out: list[str] = []
    for value in values:
        value = value.strip()
        if not value:
            continue
        if len(value) > 120:
            raise InvalidInput(f"{what}不超过 120 个字符")
        if value not in out:
            out.append(value)
    return out


async def _group_id(session: AsyncSession, group: str | None) -> int | None:
    if group is None or not group.strip():
        return None
    ids = await ensure_groups(session, {group.strip(): ("", 1)}, clock.now())
    return ids[group.strip()]


async def _ensure_unique(session: AsyncSession, name: str, group_id: int | None, exclude: int | None) -> None:
    query = (
        select(func.count())
        .select_from(Person)
        .where(
            Person.display_name == name,
            Person.group_id.is_(None) if group_id is None else Person.group_id == group_id,
        )
    )
    if exclude is not None:
        query = query.where(Person.id != exclude)
    if await session.scalar(query):
        raise Conflict(f"「{name}」在该范围内已登记")


async def create_person(session: AsyncSession, data: PersonIn) -> Person:
    name = data.display_name.strip()
    if not name or len(name) > 120:
        raise InvalidInput("显示名不能为空，且不超过 120 个字符")
    if data.role not in PERSON_ROLES:
        raise InvalidInput(f"角色无效：{data.role}（可选 {', '.join(PERSON_ROLES)}）")
    group_id = await _group_id(session, data.group)
    await _ensure_unique(session, name, group_id, None)
    now = clock.now()
    person = Person(
        display_name=name,
        aliases=_clean_names(data.aliases, "别名"),
        role=data.role,
        group_id=group_id,
        skills=_clean_names(data.skills, "技能"),
        note=data.note[:500],
        created_at=now,
        updated_at=now,
    )
    session.add(person)
    await session.flush()
    return person


async def update_person(session: AsyncSession, person: Person, data: PersonPatch) -> Person:
    if data.display_name is not None:
        name = data.display_name.strip()
        if not name or len(name) > 120:
            raise InvalidInput("显示名不能为空，且不超过 120 个字符")
        person.display_name = name
    if data.role is not None:
        if data.role not in PERSON_ROLES:
            raise InvalidInput(f"角色无效：{data.role}")
        person.role = data.role
    if data.aliases is not None:
        person.aliases = _clean_names(data.aliases, "别名")
    if data.skills is not None:
        person.skills = _clean_names(data.skills, "技能")
    if data.note is not None:
        person.note = data.note[:500]
    if "group" in data.__struct_fields__ and data.group is not None:
        person.group_id = await _group_id(session, data.group)
    await _ensure_unique(session, person.display_name, person.group_id, person.id)
    person.updated_at = clock.now()
    await session.flush()
    return person


async def get_person(session: AsyncSession, person_id: int) -> Person:
    person = await session.get(Person, person_id)
    if person is None:
        raise NotFound("人员不存在")
    return person


async def group_names(session: AsyncSession, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(Group.id, Group.name).where(Group.id.in_(wanted)))
    return dict(rows.all())


async def list_people(
    session: AsyncSession,
    q: str | None = None,
    role: str | None = None,
    group: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[tuple[Person, str | None]], int]:
    query = select(Person, Group.name).outerjoin(Group, Group.id == Person.group_id)
    if q:
        like = f"%{q.strip()}%"
        query = query.where(or_(Person.display_name.ilike(like), Person.note.ilike(like)))
    if role:
        query = query.where(Person.role == role)
    if group:
        query = query.where(Group.name == group)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.execute(
        query.order_by(Person.role, Person.display_name).offset((page - 1) * page_size).limit(page_size)
    )
    return [(p, g) for p, g in rows.all()], total
