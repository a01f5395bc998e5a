"""Robot registry: register, change, rotate tokens; callback URLs for WorkTool."""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.chat.groups import ensure_groups
from app.chat.models import Group, Message
from app.errors import Conflict, InvalidInput, NotFound
from app.ingest.service import hash_token
from app.robots.models import DEFAULT_SHIFT, ROBOT_ROLES, SHIFTS, Robot
from app.robots.schemas import RobotCreate, RobotUpdate

ROBOT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def callback_urls(base_url: str, robot_id: str, token: str) -> dict[str, str]:
    base = base_url.rstrip("/")
    return {
        "message": f"{base}/webhooks/worktool/{robot_id}/message?token={token}",
        "result": f"{base}/webhooks/worktool/{robot_id}/result?token={token}",
    }


def robot_dict(robot: Robot) -> dict[str, Any]:
    return {
        "id": robot.id,
        "robot_id": robot.robot_id,
        "name": robot.name,
        "role": robot.role,
        "role_name": robot.role_name,
        "shift": robot.shift,
        "groups": [g.name for g in robot.groups],
        "active": robot.active,
        "note": robot.note,
        "created_at": robot.created_at.isoformat(),
        "last_seen_at": robot.last_seen_at.isoformat() if robot.last_seen_at else None,
    }


def _validate_role_shift(role: str, shift: str | None) -> str:
    if role not in ROBOT_ROLES:
        raise InvalidInput(f"角色无效：{role}（可选 {', '.join(ROBOT_ROLES)}）")
    shift = shift or DEFAULT_SHIFT[role]
    if shift not in SHIFTS:
        raise InvalidInput(f"班次无效：{shift}（可选 {', '.join(SHIFTS)}）")
    return shift


async def _groups(session: AsyncSession, names: list[str]) -> list[Group]:
    clean = sorted({n.strip() for n in names if n.strip()})
    if any(len(n) > 200 for n in clean):
        raise InvalidInput("群名称不超过 200 个字符")
    if not clean:
        return []
    ids = await ensure_groups(session, {n: ("", 1) for n in clean}, clock.now())
    return list((await session.execute(select(Group).where(Group.id.in_(ids.values())))).scalars())


async def create_robot(session: AsyncSession, data: RobotCreate) -> tuple[Robot, str]:
    robot_id = data.robot_id.strip()
    if not ROBOT_ID_PATTERN.match(robot_id):
        raise InvalidInput("robot_id 只能包含字母、数字、下划线、点和连字符（1–100 个字符）")
    name = data.name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("名称不能为空，且不超过 100 个字符")
    shift = _validate_role_shift(data.role, data.shift)
    if await session.scalar(select(func.count()).select_from(Robot).where(Robot.robot_id == robot_id)):
        raise Conflict(f"机器人 {robot_id} 已登记")
    token = new_token()
    now = clock.now()
    robot = Robot(
        robot_id=robot_id,
        name=name,
        role=data.role,
        shift=shift,
        token_hash=hash_token(token),
        active=True,
        note=data.note[:500],
        created_at=now,
        updated_at=now,
        message_count=0,
    )
    robot.groups = await _groups(session, data.groups)
    session.add(robot)
    await session.flush()
    return robot, token


async def get_robot(session: AsyncSession, robot_pk: int) -> Robot:
    robot = await session.get(Robot, robot_pk)
    if robot is None:
        raise NotFound("机器人不存在")
    return robot


async def find_robot(session: AsyncSession, key: str) -> Robot:
    """By numeric id or by WorkTool robot_id."""
    query = select(Robot).where(Robot.robot_id == key)
    robot = (await session.execute(query)).scalar_one_or_none()
    if robot is None and key.isdigit():
        robot = await session.get(Robot, int(key))
    if robot is None:
        raise NotFound(f"机器人 {key} 不存在")
    return robot


async def update_robot(session: AsyncSession, robot: Robot, data: RobotUpdate) -> Robot:
    if data.name is not None:
        if not data.name.strip():
            raise InvalidInput("名称不能为空")
        robot.name = data.name.strip()[:100]
    if data.role is not None or data.shift is not None:
        role = data.role or robot.role
        robot.shift = _validate_role_shift(
            role, data.shift if data.shift is not None else (None if data.role else robot.shift)
        )
        robot.role = role
    if data.groups is not None:
        robot.groups = await _groups(session, data.groups)
    if data.note is not None:
        robot.note = data.note[:500]
    if data.active is not None:
        robot.active = data.active
    robot.updated_at = clock.now()
    await session.flush()
    return robot


async def rotate_token(session: AsyncSession, robot: Robot) -> str:
    token = new_token()
    robot.token_hash = hash_token(token)
    robot.updated_at = clock.now()
    await session.flush()
    return token


async def delete_robot(session: AsyncSession, robot: Robot) -> str:
    """Robots that reported messages are deactivated (history stays); others are removed."""
    used = await session.scalar(select(func.count()).select_from(Message).where(Message.robot_id == robot.id))
    if used:
        robot.active = False
        robot.updated_at = clock.now()
        return "deactivated"
    await session.delete(robot)
    return "deleted"


async def list_robots(session: AsyncSession) -> list[Robot]:
    return list((await session.execute(select(Robot).order_by(Robot.role, Robot.id))).scalars())
