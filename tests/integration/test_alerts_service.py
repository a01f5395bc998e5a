"""Alert service on PostgreSQL with a controllable clock: grouping, anti-fatigue, escalation
history, cancellation, idempotent escalation checks, task completion."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.alerts import config, service
from app.alerts.models import AlertDelivery
from app.alerts.queries import AlertFilter, search_alerts, stats
from app.config import load_settings
from app.db import Database
from app.errors import Conflict, InvalidInput
from app.jobs import set_queue
from app.runtime import load_plugins
from tests.conftest import migrate

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai


class RecordingQueue:
    """Stands in for the job queue: the test decides when "later" is, by calling the service."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, float | None, dict[str, Any]]] = []

    async def enqueue(self, name: str, defer_by: float | None, kwargs: dict[str, Any]) -> None:
        self.jobs.append((name, defer_by, kwargs))

    async def close(self) -> None:
        return None


@pytest.fixture
async def db(scratch_pg: str) -> AsyncIterator[Database]:
    migrate(scratch_pg)
    load_plugins()
    queue = RecordingQueue()
    set_queue(queue)  # type: ignore[arg-type]
    database = Database(load_settings({"DATABASE_URL": scratch_pg, "SECRET_KEY": "x" * 32}))
    yield database
    set_queue(None)
    await database.dispose()


async def raise_(
    db: Database, kind: str = "complaint", user: str = "张三", at: datetime = T0, **kw: Any
) -> Any:
    async with db.transaction() as session:
        return await service.raise_alert(
            session,
            alert_type=kind,
            group_id=None,
            user_name=user,
            reason=kw.pop("reason", "测试"),
            now=at,
            **kw,
        )


async def test_recurrence_raises_the_open_alert(db: Database) -> None:
    first = await raise_(db, "important_question")
    assert first.level == 2 and first.status == "open"
    again = await raise_(db, "important_question", at=T0 + timedelta(minutes=5))
    assert again.id == first.id and again.occurrences == 2 and again.level == 3
    [entry] = again.escalation_history
    assert (
        entry["from"] == 2 and entry["to"] == 3 and "再次出现" in entry["reason"] and entry["by"] == "system"
    )
    other_user = await raise_(db, "important_question", user="李四")
    assert other_user.id != first.id
    other_type = await raise_(db, "churn_risk")
    assert other_type.id != first.id and other_type.level == 3
    async with db.transaction() as session:
        await service.cancel(session, first.id, "误报", "tester")
    fresh = await raise_(db, "important_question", at=T0 + timedelta(minutes=6))
    assert fresh.id != first.id and fresh.level == 2  # a cancelled alert is not raised again


async def test_escalation_steps_are_idempotent_and_capped(db: Database) -> None:
    alert = await raise_(db, "unanswered", user="王五")
    assert alert.level == 2 and alert.next_check_at == T0 + timedelta(minutes=30)
    async with db.transaction() as session:
        checked = await service.check_escalation(session, alert.id, now=T0 + timedelta(minutes=31))
        assert checked is not None and checked.level == 3
    async with db.transaction() as session:  # the same moment again (a duplicate job): no change
        checked = await service.check_escalation(session, alert.id, now=T0 + timedelta(minutes=31))
        assert checked is not None and checked.level == 3 and checked.escalation_count == 1
    async with db.transaction() as session:
        checked = await service.check_escalation(session, alert.id, now=T0 + timedelta(minutes=125))
        assert checked is not None and checked.level == 4
        assert [h["to"] for h in checked.escalation_history] == [3, 4]
        assert checked.time_steps_done == 3 and checked.unresolved_bumped and checked.next_check_at is None


async def test_acknowledged_alert_only_rises_when_unresolved(db: Database) -> None:
    alert = await raise_(db, "manual", user="赵六")
    async with db.transaction() as session:
        acked = await service.acknowledge(session, alert.id, "agent1", now=T0 + timedelta(minutes=1))
        assert acked.acknowledged_by == "agent1" and acked.next_check_at == T0 + timedelta(hours=2)
    async with db.transaction() as session:
        checked = await service.check_escalation(session, alert.id, now=T0 + timedelta(minutes=100))
        assert checked is not None and checked.level == 1
        checked = await service.check_escalation(session, alert.id, now=T0 + timedelta(hours=2, seconds=1))
        assert (
            checked is not None and checked.level == 2 and "未解决" in checked.escalation_history[0]["reason"]
        )
    async with db.transaction() as session:
        resolved = await service.resolve(session, alert.id, "agent1", now=T0 + timedelta(hours=3))
        assert resolved.status == "resolved" and resolved.resolved_by == "agent1"
    async with db.transaction() as session:
        with pytest.raises(Conflict):
            await service.cancel(session, alert.id, "晚了", "agent1")


async def test_anti_fatigue_from_the_fourth_alert_of_a_user_in_a_day(db: Database) -> None:
    kinds = ["important_question", "churn_risk", "unanswered", "private_operation", "negative_emotion"]
    made = [await raise_(db, kind, user="钱七", at=T0 + timedelta(minutes=i)) for i, kind in enumerate(kinds)]
    assert [a.suppressed for a in made] == [False, False, False, True, True]
    assert [a.level for a in made][3:] == [1, 1]
    complaint = await raise_(db, "complaint", user="钱七", at=T0 + timedelta(minutes=9))
    assert complaint.level == 4 and not complaint.suppressed  # complaints are never muted
    async with db.session() as session:
        query = select(AlertDelivery).where(AlertDelivery.alert_id.in_([made[3].id, made[4].id]))
        muted = list((await session.execute(query)).scalars())
    assert muted == []  # recorded, not pushed
    tomorrow = await raise_(db, "operator_conflict", user="钱七", at=T0 + timedelta(days=1))
    assert tomorrow.level == 4 and not tomorrow.suppressed  # a new day counts afresh


async def test_sentiment_worsening_again_and_manual_escalation(db: Database) -> None:
    alert = await raise_(db, "negative_emotion", user="孙八")
    assert alert.level == 3
    async with db.transaction() as session:
        loaded = await service.get_alert(session, alert.id, lock=True)
        assert await service.worsen(session, loaded, "情绪再次恶化", T0 + timedelta(minutes=2))
        assert loaded.level == 4
        assert not await service.worsen(session, loaded, "情绪再次恶化", T0 + timedelta(minutes=3))  # cap 4
    other = await raise_(db, "manual", user="孙八")
    async with db.transaction() as session:
        escalated, old = await service.escalate(session, other.id, 3, "用户未响应，需要升级处理", "sup")
        assert (old, escalated.level, escalated.escalation_history[-1]["by"]) == (1, 3, "sup")
        with pytest.raises(Conflict):
            await service.escalate(session, other.id, 2, "降级", "sup")
        with pytest.raises(InvalidInput):
            await service.escalate(session, other.id, 9, "越界", "sup")


async def test_task_completion_and_bulk_cancel(db: Database) -> None:
    timeout = await raise_(db, "after_sales_timeout", user="周九")
    complaint = await raise_(db, "complaint", user="周九")
    async with db.transaction() as session:
        done = await service.after_sales_task_completed(session, group_id=None, user_name="周九", task_id=5)
    assert [a.id for a in done] == [timeout.id]
    async with db.transaction() as session:
        assert (await service.get_alert(session, timeout.id)).cancel_reason == "相关售后任务 #5 已完成"
        result = await service.bulk_cancel(session, [complaint.id, timeout.id, 999999], "批量处理", "sup")
    assert result == {"cancelled": [complaint.id], "skipped": [timeout.id], "missing": [999999]}
    async with db.session() as session:
        items, total = await search_alerts(session, AlertFilter(status="cancelled", user="周九"))
        assert total == 2 and all(a.cancelled_by in ("system", "sup") for a in items)
        summary = await stats(session, 7, now=T0 + timedelta(hours=1))
        assert summary["by_status"]["cancelled"] == 2 and len(summary["trend"]) == 7


async def test_settings_round_trip(db: Database) -> None:
    async with db.transaction() as session:
        saved = await config.save(
            session, {"escalation_steps_seconds": [1, 2, 3], "unresolved_seconds": 4}, "t"
        )
        assert saved.escalation_steps_seconds == [1, 2, 3]
    async with db.session() as session:
        assert (await config.load(session)).unresolved_seconds == 4
