"""Group lookup and creation, with a process-wide name → id cache."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.chat.models import Group
from app.db_upsert import insert_ignore

_group_ids: dict[str, int] = {}


def forget_group_cache() -> None:
    _group_ids.clear()


async def ensure_groups(
    session: AsyncSession, groups: dict[str, tuple[str, int]], now: datetime
) -> dict[str, int]:
    """Return name → id for every named group, creating the missing ones (remark, room type)."""
    missing = [name for name in groups if name not in _group_ids]
    if missing:
        rows = [
            {
                "name": name,
                "remark": groups[name][0],
                "room_type": groups[name][1],
                "created_at": now,
                "message_count": 0,
            }
            for name in missing
        ]
        await session.execute(insert_ignore(session, Group), rows)
        found = await session.execute(select(Group.name, Group.id).where(Group.name.in_(missing)))
        _group_ids.update({name: gid for name, gid in found.all()})
    return {name: _group_ids[name] for name in groups}
