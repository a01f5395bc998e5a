"""The scheduled daily report (PRODUCT §6.4) on PostgreSQL: once the configured local time has
passed, the periodic job stores that day's report and hands its summary to the notify robot —
once per day, however often the job runs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

import app.db as db_module
from app import clock
from app.aftersales.config import SETTING_KEY
from app.aftersales.models import AfterSalesReport
from app.aftersales.service import create_task
from app.aftersales.tasks import after_sales_daily_report
from app.commands.models import Command
from app.config import load_settings, reset_settings
from app.db import Database
from app.robots.models import Robot
from app.runtime import load_plugins
from app.system.service import put_setting
from tests.conftest import migrate

pytestmark = pytest.mark.integration


@pytest.fixture
async def db(scratch_pg: str) -> AsyncIterator[Database]:
    migrate(scratch_pg)
    load_plugins()
    reset_settings(load_settings({"DATABASE_URL": scratch_pg, "SECRET_KEY": "x" * 32}))
    database = db_module.get_db()
    yield database
    await db_module.close_db()
    reset_settings(None)


async def test_report_job_sends_once_after_the_configured_time(db: Database) -> None:
    now = clock.now()
    async with db.transaction() as session:
        session.add(
            Robot(
                robot_id="report-notify",
                name="通知机器人",
                role="notify",
                shift="all_day",
                token_hash="0" * 64,
                active=True,
                created_at=now,
                updated_at=now,
                message_count=0,
            )
        )
        await put_setting(session, SETTING_KEY, {"report_time": "23:59", "managers": ["王总"]}, "test")
    # Not yet (unless the test runs in the last minute of the day).
    if clock.local_now().strftime("%H:%M") < "23:59":
        assert await after_sales_daily_report({}) == "not_yet"
    async with db.transaction() as session:
        await put_setting(session, SETTING_KEY, {"report_time": "00:00", "managers": ["王总"]}, "test")
        await create_task(
            session,
            group_id=None,
            group_name="日报群",
            user="张三",
            task_type="扫码登录",
            source="manual",
            now=now,
        )
    assert await after_sales_daily_report({}) == "sent"
    assert await after_sales_daily_report({}) == "already"
    async with db.session() as session:
        reports = list((await session.execute(select(AfterSalesReport))).scalars())
        commands = list((await session.execute(select(Command).where(Command.kind == "report"))).scalars())
    assert len(reports) == 1 and reports[0].report_date == clock.local_now().date().isoformat()
    assert reports[0].data["created"] == 1 and reports[0].sent_at is not None
    assert len(commands) == 1 and commands[0].at_list == ["王总"] and commands[0].targets == ["管理群"]
    assert commands[0].text.startswith("📊 售后日报")
