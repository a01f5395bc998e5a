"""Administrative actions behind the CLI: first admin, users, robots, demo data."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from sqlalchemy import func, select

from app.auth.models import User
from app.auth.service import audit, create_user
from app.chat.people import create_person
from app.chat.schemas import PersonIn
from app.config import VAR_DIR, get_settings
from app.db import close_db, get_db
from app.errors import HubError
from app.ingest.service import hash_token
from app.robots.models import Robot
from app.robots.schemas import RobotCreate
from app.robots.service import callback_urls, create_robot, rotate_token

DEMO_CREDENTIALS = VAR_DIR / "demo_robots.json"


def default_base_url() -> str:
    settings = get_settings()
    return settings.public_base_url or f"http://127.0.0.1:{settings.port}"


async def create_admin(username: str = "admin", password: str | None = None) -> str:
    async with get_db().transaction() as session:
        if await session.scalar(select(func.count()).select_from(User).where(User.role == "admin")):
            await close_db()
            return "管理员已存在，跳过。"
        given = password or get_settings().admin_password
        chosen = given or secrets.token_urlsafe(12)
        await create_user(session, username, chosen, "admin", "管理员")
        await audit(session, "system", "user.create", username, {"role": "admin"})
    await close_db()
    if given:
        return f"已创建管理员 {username}（密码来自 HUB_ADMIN_PASSWORD 或参数）。"
    return (
        f"已创建管理员 {username}，初始密码：{chosen}\n"
        "（只显示这一次；可设置 HUB_ADMIN_PASSWORD 指定初始密码）"
    )


async def create_console_user(username: str, password: str, role: str, display_name: str | None) -> str:
    async with get_db().transaction() as session:
        await create_user(session, username, password, role, display_name)
        await audit(session, "system", "user.create", username, {"role": role})
    await close_db()
    return f"已创建用户 {username}（{role}）。"


async def register_robot(
    robot_id: str, name: str, role: str, groups: list[str], token: str | None, base_url: str | None
) -> str:
    async with get_db().transaction() as session:
        robot, generated = await create_robot(
            session, RobotCreate(robot_id=robot_id, name=name, role=role, groups=groups)
        )
        if token:
            robot.token_hash = hash_token(token)
        await audit(session, "system", "robot.create", robot_id, {"role": role})
    await close_db()
    urls = callback_urls(base_url or default_base_url(), robot_id, token or generated)
    return f"消息回调：{urls['message']}\n结果回调：{urls['result']}"


async def seed_demo() -> str:
    """Idempotent: demo robots, groups and people; credentials for the simulator in var/."""
    from app.demo.data import GROUPS, PEOPLE, ROBOTS

    lines = [await create_admin()]
    credentials = _read_credentials()
    base = default_base_url()
    async with get_db().transaction() as session:
        existing = {r.robot_id: r for r in (await session.execute(select(Robot))).scalars()}
        for spec in ROBOTS:
            groups = [g["name"] for g in GROUPS if spec["robot_id"] in g["robot_ids"]]
            robot = existing.get(spec["robot_id"])
            if robot is None:
                robot, token = await create_robot(
                    session,
                    RobotCreate(
                        robot_id=spec["robot_id"], name=spec["name"], role=spec["role"], groups=groups
                    ),
                )
            elif spec["robot_id"] in credentials:
                continue
            else:
                token = await rotate_token(session, robot)
            credentials[spec["robot_id"]] = {
                "robot_id": spec["robot_id"],
                "role": spec["role"],
                "token": token,
                **callback_urls(base, spec["robot_id"], token),
            }
        people = 0
        for person in PEOPLE:
            try:
                async with session.begin_nested():
                    await create_person(session, PersonIn(**person))
                people += 1
            except HubError:
                pass  # already registered
    await close_db()
    _write_credentials(base, credentials)
    lines.append(f"演示数据就绪：{len(ROBOTS)} 个机器人，{len(GROUPS)} 个群，新登记 {people} 人。")
    lines.append(f"模拟器凭据：{DEMO_CREDENTIALS}")
    return "\n".join(lines)


def _read_credentials() -> dict[str, dict[str, str]]:
    if not DEMO_CREDENTIALS.exists():
        return {}
    data = json.loads(DEMO_CREDENTIALS.read_text())
    return {r["robot_id"]: r for r in data.get("robots", [])}


def _write_credentials(base: str, credentials: dict[str, dict[str, str]]) -> None:
    path = Path(DEMO_CREDENTIALS)
    path.parent.mkdir(parents=True, exist_ok=True)
    robots = [
        {
            "robot_id": c["robot_id"],
            "role": c["role"],
            "token": c["token"],
            # Fresh entries carry callback_urls' keys; entries read back from the file, the file's.
            "message_url": c.get("message", c.get("message_url", "")),
            "result_url": c.get("result", c.get("result_url", "")),
        }
        for c in credentials.values()
    ]
    path.write_text(json.dumps({"base_url": base, "robots": robots}, ensure_ascii=False, indent=2))
    path.chmod(0o600)
