"""Robot health and robot selection on real databases (PostgreSQL and SQLite), in-process, with the
online state polled from the loopback WorkTool stub; the tables match their migration."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import create_database, drop_database, migrate
from tests.stubs.worktool_stub import WorkToolStub

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stub() -> Iterator[WorkToolStub]:
    with WorkToolStub() as running:
        yield running


@pytest.fixture(params=["postgresql", "sqlite"])
async def db(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Any]:
    from app.config import load_settings
    from app.db import Database

    url = create_database() if request.param == "postgresql" else f"sqlite:///{tmp_path / 'hub.db'}"
    migrate(url)
    database = Database(load_settings({"DATABASE_URL": url, "SECRET_KEY": "x" * 32}))
    database.url = url  # type: ignore[attr-defined]
    yield database
    await database.dispose()
    if request.param == "postgresql":
        drop_database(url)


def local_noon() -> datetime:
    from app import clock
    from app.config import get_settings

    return clock.as_utc(clock.now().astimezone(get_settings().tz).replace(hour=12, minute=0))


async def robots(db: Any, stub: WorkToolStub) -> tuple[Any, Any, str]:
    from app.robots.schemas import RobotCreate
    from app.robots.service import create_robot

    tag = secrets.token_hex(3)
    group = f"健康群{tag}"
    async with db.transaction() as session:
        day, _ = await create_robot(
            session, RobotCreate(f"day-{tag}", "白班小晴", "day_reply", groups=[group])
        )
        night, _ = await create_robot(
            session, RobotCreate(f"night-{tag}", "晚班小夜", "night_reply", groups=[group])
        )
    for robot in (day, night):
        stub.configure(robot.robot_id, online=True, callback=False)
    return day, night, group


async def add_commands(db: Any, robot_pk: int, statuses: list[str], time_cost: float) -> None:
    from app import clock
    from app.commands.models import Command

    now = clock.now()
    async with db.transaction() as session:
        for status in statuses:
            session.add(
                Command(
                    robot_id=robot_pk,
                    kind="reply",
                    targets=["群"],
                    text="x",
                    at_list=[],
                    due_at=now,
                    status=status,
                    attempts=1 if status == "succeeded" else 3,
                    time_cost=time_cost if status == "succeeded" else None,
                    created_at=now - timedelta(minutes=10),
                    created_by="test",
                    sent_at=now - timedelta(minutes=1),
                    updated_at=now,
                )
            )


async def test_health_is_scored_stored_and_feeds_robot_selection(db: Any, stub: WorkToolStub) -> None:
    from app import clock
    from app.commands.worktool_client import WorkToolClient
    from app.replies.selection import pick_robot, select_robot
    from app.replies.settings import save_selection_rules
    from app.robots.health import latest_history, today_stats
    from app.robots.models import Robot, RobotHealth
    from app.robots.tasks import refresh_health

    day, night, _group = await robots(db, stub)
    await add_commands(db, day.id, ["succeeded"] * 8 + ["manual"] * 2, time_cost=12.0)
    stub.configure(night.robot_id, online=False)
    client = WorkToolClient(stub.base_url, 5.0)
    try:
        counts = await refresh_health(db, client, publish=False)
    finally:
        await client.close()
    assert counts.get("warning", 0) >= 1 and counts.get("critical", 0) >= 1
    async with db.session() as session:
        d = await session.get(Robot, day.id)
        n = await session.get(Robot, night.id)
        # 80 % success → −28.5, two manual → −10, 12 s average → −10: 51.5 → 52, warning.
        assert (d.health_score, d.health_status, d.online) == (52, "warning", True)
        assert any(r.startswith("优化响应速度") for r in d.health_recommendations)
        assert (n.health_score, n.health_status, n.online) == (45, "critical", False)
        (row,) = await latest_history(session, d)
        assert row.success_rate == 80.0 and row.error_count == 6 and row.average_response_time == 12000
        stats = (await today_stats(session, clock.now()))[day.id]
        assert stats["sends"] == 10 and stats["success_rate"] == 80.0 and stats["average_time"] == 12.0
        group_id = d.groups[0].id

        noon = local_noon()
        choice = await select_robot(session, group_id=group_id, purpose="reply", now=noon)
        assert choice.robot.id == day.id and choice.shift == "day" and not choice.fell_back
        # Night shift: the night robot is offline → the day robot answers, and the trace says why.
        evening = noon + timedelta(hours=10)
        choice = await select_robot(session, group_id=group_id, purpose="reply", now=evening)
        assert choice.shift == "night" and choice.robot.id == day.id and choice.preferred.id == night.id
        assert choice.fallback_reason == "晚班回复机器人「晚班小夜」离线，改用「白班小晴」"
        assert (await pick_robot(session, group_id=group_id, now=evening)).id == day.id

    async with db.transaction() as session:
        await save_selection_rules(session, {"fallback_statuses": ["warning", "critical"]}, "test")
    async with db.session() as session:
        choice = await select_robot(session, group_id=group_id, purpose="reply", now=noon)
        # The day robot is "warning" now counted as unhealthy, but the night robot is offline.
        assert choice.robot.id == day.id and "没有可替补" in (choice.note or "")
        assert choice.as_output()["fallback"] is False
        history = await session.scalar(select(func.count()).select_from(RobotHealth))
        assert history >= 2


async def test_notify_purposes_follow_the_rules(db: Any, stub: WorkToolStub) -> None:
    from app.replies.selection import pick_robot
    from app.replies.settings import save_selection_rules
    from app.robots.schemas import RobotCreate
    from app.robots.service import create_robot

    tag = secrets.token_hex(3)
    async with db.transaction() as session:
        first, _ = await create_robot(session, RobotCreate(f"n1-{tag}", "通知一号", "notify"))
        second, _ = await create_robot(session, RobotCreate(f"n2-{tag}", "通知二号", "notify"))
    async with db.session() as session:
        assert (await pick_robot(session, group_id=None, purpose="notify")).id == first.id
        assert (await pick_robot(session, group_id=None, purpose="p0_alert_notify")).id == first.id
    async with db.transaction() as session:
        await save_selection_rules(session, {"p0_alert_notify_robot": second.robot_id}, "test")
    async with db.session() as session:
        assert (await pick_robot(session, group_id=None, purpose="p0_alert_notify")).id == second.id
        assert (await pick_robot(session, group_id=None, purpose="after_sales_notify")).id == first.id


async def test_templates_render_from_the_seeded_library(db: Any) -> None:
    from app.errors import NotFound
    from app.replies.templates import get_template, match_faq, render_template, update_template

    async with db.transaction() as session:
        assert (
            await render_template(session, "comfort_staff_busy")
            == "好的，请稍等，售后人员正在处理其他任务，马上就来 ⏳"
        )
        greeting = await render_template(session, "greeting", user_name="张三")
        assert greeting.startswith(("张三", "在的在的，张三"))
        assert await match_faq(session, "扫码登不上怎么办", user_name="李四") is not None
        assert await match_faq(session, "今天天气不错") is None
        row = await get_template(session, "conciliation")
        await update_template(session, row, active=False)
        with pytest.raises(NotFound):
            await render_template(session, "conciliation")
        with pytest.raises(NotFound):
            await render_template(session, "no_such_template")


def table_of(change: Any) -> str | None:
    """The table an Alembic autogenerate difference is about."""
    item = change[0] if isinstance(change, list) else change
    op, target = item[0], item[1]
    if op in ("add_table", "remove_table"):
        return str(target.name)
    if op in ("add_column", "remove_column") or op.startswith("modify_"):
        return str(item[2])
    if op in ("add_fk", "remove_fk"):
        return str(target.parent.name)
    table = getattr(target, "table", None)
    return str(table.name) if table is not None else None


async def test_health_and_template_tables_match_their_migration(db: Any) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    import app.models  # noqa: F401
    from app.db import Base

    engine = create_engine(db.url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert [c for c in diff if table_of(c) in {"robot_health", "reply_templates", "robots"}] == []
