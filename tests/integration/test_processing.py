"""Processing guarantees: retries with traces, crash recovery, rate limit, migrations both ways."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import ClassVar

import httpx
import pytest
import redis
from sqlalchemy import create_engine, func, insert, inspect, select, text

from app.chat.groups import forget_group_cache
from app.chat.models import Message
from app.config import load_settings
from app.db import Database
from app.flows.executor import FlowExecutor
from app.flows.models import FlowDefinition, FlowRun, FlowStep
from app.flows.registry import FlowNode, NodeContext, NodeResult, register_node
from app.ingest.schemas import WorkToolMessage
from app.ingest.service import IngestWriter, RobotIdentity
from app.robots.models import Robot
from app.runtime import load_plugins
from tests.conftest import HubProcess, hub_env, migrate, register_robot, wait_for

pytestmark = pytest.mark.integration


@register_node
class FlakyNode(FlowNode):
    """Fails while the message text asks for it: 'fail:N' fails the first N attempts."""

    type_name = "test_flaky"
    title = "测试：按次数失败"
    failures: ClassVar[dict[int, int]] = {}

    async def run(self, ctx: NodeContext) -> NodeResult:
        wanted = int(ctx.message.text.split(":")[1]) if ctx.message.text.startswith("fail:") else 0
        seen = self.failures.get(ctx.message.id, 0)
        if seen < wanted:
            self.failures[ctx.message.id] = seen + 1
            raise RuntimeError(f"第 {seen + 1} 次故意失败")
        return NodeResult(output={"attempts_failed": seen})


FLAKY_FLOW = {
    "name": "default",
    "start": "receive",
    "nodes": {
        "receive": {"type": "receive", "next": "identify_sender"},
        "identify_sender": {"type": "identify_sender_role", "next": "flaky"},
        "flaky": {"type": "test_flaky", "next": "session_update"},
        "session_update": {"type": "session_update", "next": None},
    },
}


@pytest.fixture
async def scratch_db(scratch_pg: str) -> AsyncIterator[Database]:
    migrate(scratch_pg)
    load_plugins()
    forget_group_cache()  # the name → id cache is process-wide; each test has its own database
    db = Database(load_settings({"DATABASE_URL": scratch_pg, "SECRET_KEY": "x" * 32}))
    yield db
    await db.dispose()


async def store(db: Database, texts: list[str]) -> list[int]:
    from app import clock

    async with db.transaction() as session:
        robot = Robot(
            robot_id="flaky-bot",
            name="测试机器人",
            role="monitor",
            shift="all_day",
            token_hash="0" * 64,
            active=True,
            created_at=clock.now(),
            updated_at=clock.now(),
            message_count=0,
        )
        session.add(robot)
        await session.flush()
        session.add(
            FlowDefinition(
                name="default", version=2, definition=FLAKY_FLOW, active=True, created_at=clock.now()
            )
        )
    identity = RobotIdentity(robot.id, robot.robot_id, "monitor", robot.token_hash, True)
    stored: list[int] = []

    async def collect(ids: list[int]) -> None:
        stored.extend(ids)

    writer = IngestWriter(db, collect)
    writer.start()
    try:
        for t in texts:
            payload = WorkToolMessage(
                receivedName="张三", roomType=1, textType=1, spoken=t, rawSpoken=t, groupName="重试群"
            )
            await writer.submit(identity, payload, {"spoken": t})
    finally:
        await writer.stop()
    return stored


async def test_failing_node_is_traced_retried_then_marked_failed(scratch_db: Database) -> None:
    ok_id, flaky_id, broken_id = await store(scratch_db, ["正常", "fail:1", "fail:9"])
    executor = FlowExecutor(scratch_db, max_attempts=3)

    first = await executor.process([ok_id, flaky_id, broken_id])
    assert first.processed == [ok_id]
    assert sorted(first.retry) == [flaky_id, broken_id]

    second = await executor.process(first.retry)
    assert second.processed == [flaky_id] and second.retry == [broken_id]
    third = await executor.process(second.retry)
    assert third.failed == [broken_id]

    async with scratch_db.session() as session:
        broken = await session.get(Message, broken_id)
        assert broken is not None and broken.status == "failed" and broken.attempts == 3
        assert "故意失败" in (broken.last_error or "")
        runs = (
            (
                await session.execute(
                    select(FlowRun).where(FlowRun.message_id == flaky_id).order_by(FlowRun.id)
                )
            )
            .scalars()
            .all()
        )
        assert [r.status for r in runs] == ["error", "ok"]
        failed_steps = (
            (
                await session.execute(
                    select(FlowStep).where(FlowStep.run_id == runs[0].id).order_by(FlowStep.position)
                )
            )
            .scalars()
            .all()
        )
        assert [(s.node, s.status) for s in failed_steps] == [
            ("receive", "ok"),
            ("identify_sender", "ok"),
            ("flaky", "error"),
        ]
        assert "第 1 次故意失败" in (failed_steps[-1].error or "")
        flaky = await session.get(Message, flaky_id)
        assert flaky is not None and flaky.status == "processed" and flaky.session_id is not None
        # The failed attempt's session update was rolled back: the session counts the message once.
        from app.chat.models import ChatSession

        chat = await session.get(ChatSession, flaky.session_id)
        assert chat is not None and chat.message_count == 2  # 正常 + fail:1, same user and group

    again = await executor.process([ok_id, flaky_id, broken_id])
    assert again.processed == again.retry == again.failed == []


def test_stored_but_never_enqueued_messages_are_recovered_by_worker(
    production_hub: HubProcess, unique: str
) -> None:
    robot = register_robot(production_hub)
    production_hub.stop_worker()
    try:
        ids = []
        for i in range(3):
            answer = httpx.post(
                robot["message_url"],
                json={
                    "spoken": f"恢复{i}",
                    "rawSpoken": f"恢复{i}",
                    "receivedName": "甲",
                    "groupName": f"恢复群{unique}",
                    "roomType": 1,
                    "atMe": False,
                    "textType": 1,
                },
            )
            ids.append(answer.headers["X-Hub-Message-Id"])
        # Lose the queued jobs, as if the web process died between commit and enqueue.
        client = redis.Redis.from_url(production_hub.env["REDIS_URL"])
        client.delete("arq:queue")
        client.close()
        with production_hub.api() as api:
            statuses = {api.get(f"/api/messages/{i}").json()["data"]["processing_status"] for i in ids}
        assert statuses == {"received"}
    finally:
        production_hub.start_worker()
    with production_hub.api() as api:
        wait_for(
            lambda: all(
                api.get(f"/api/messages/{i}").json()["data"]["processing_status"] == "processed" for i in ids
            ),
            timeout=20,
        )


def test_embedded_start_up_sweep_processes_leftovers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrate(url)
    first = HubProcess(hub_env(url, None))
    first.start_web()
    robot = register_robot(first)
    first.stop()
    engine = create_engine(url)
    with engine.begin() as conn:
        robot_pk = conn.execute(
            text("SELECT id FROM robots WHERE robot_id = :r"), {"r": robot["robot_id"]}
        ).scalar()
        for i in range(3):
            conn.execute(
                insert(Message.__table__).values(
                    robot_id=robot_pk,
                    reported_by=[robot_pk],
                    group_name="残留群",
                    group_remark="",
                    sender_name="乙",
                    text=f"残留{i}",
                    raw_text=f"残留{i}",
                    room_type=1,
                    text_type=1,
                    media_kind="text",
                    at_me=False,
                    raw_payload={},
                    received_at=datetime(2026, 1, 1, tzinfo=UTC),
                    dedup_key=f"k{i}",
                    status="received",
                    attempts=0,
                    is_staff_intervention=False,
                    intervention_needed=False,
                )
            )
    second = HubProcess(hub_env(url, None))
    second.start_web()
    try:
        with engine.connect() as conn:
            wait_for(
                lambda: (
                    conn.execute(
                        select(func.count())
                        .select_from(Message.__table__)
                        .where(Message.__table__.c.status == "processed")
                    ).scalar()
                    == 3
                )
            )
    finally:
        second.stop()
        engine.dispose()


def test_rate_limit_answers_429_in_the_envelope(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrate(url)
    hub = HubProcess(hub_env(url, None, HUB_WEBHOOK_RATE_LIMIT="1", HUB_WEBHOOK_RATE_BURST="3"))
    hub.start_web()
    try:
        robot = register_robot(hub)
        answers = [
            httpx.post(
                robot["message_url"],
                json={
                    "spoken": f"限流{i}",
                    "rawSpoken": f"限流{i}",
                    "receivedName": "甲",
                    "groupName": "限流群",
                    "roomType": 1,
                    "atMe": False,
                    "textType": 1,
                },
            )
            for i in range(6)
        ]
        codes = [a.status_code for a in answers]
        assert codes[:3] == [200, 200, 200]
        assert 429 in codes[3:]
        limited = next(a for a in answers if a.status_code == 429)
        assert limited.json()["code"] == -1 and "频繁" in limited.json()["message"]
    finally:
        hub.stop()


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_migrations_upgrade_downgrade_upgrade(backend: str, scratch_pg: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = scratch_pg if backend == "postgresql" else f"sqlite:///{tmp_path / 'm.db'}"
    sa_url = url.replace("postgresql://", "postgresql+psycopg://")
    migrate(url)
    engine = create_engine(sa_url)
    tables = set(inspect(engine).get_table_names())
    assert {
        "messages",
        "robots",
        "people",
        "chat_sessions",
        "groups",
        "flow_runs",
        "flow_steps",
        "users",
        "audit_log",
        "system_settings",
        "flow_definitions",
        "api_tokens",
        "command_results",
    } <= tables
    message_indexes = {i["name"] for i in inspect(engine).get_indexes("messages")}
    assert {"ix_messages_status_id", "ix_messages_group_received", "ix_messages_dedup"} <= message_indexes
    engine.dispose()
    migrate(url, "base", command="downgrade")
    engine = create_engine(sa_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    migrate(url)
    engine = create_engine(sa_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM flow_definitions")).scalar() == 1
    engine.dispose()


async def test_processing_commits_early_while_webhooks_wait_and_still_finishes(scratch_db: Database) -> None:
    """Embedded mode: a chunk ends after the current message when webhooks wait to store, then
    processing goes on from where it stopped, in id order, until everything is processed."""
    ids = await store(scratch_db, [f"第{i}条消息" for i in range(7)])
    executor = FlowExecutor(scratch_db, max_attempts=3)
    asked: list[int] = []

    def webhooks_waiting() -> bool:
        asked.append(1)
        return len(asked) % 3 == 0  # now and then a webhook batch is waiting

    executor.yield_to = webhooks_waiting
    outcome = await executor.process(ids)
    assert sorted(outcome.processed) == ids and not outcome.retry and not outcome.failed
    assert len(asked) >= len(ids) - 1  # consulted before every message after a chunk's first
    async with scratch_db.session() as session:
        runs = (await session.execute(select(FlowRun).order_by(FlowRun.id))).scalars().all()
    assert [r.message_id for r in runs] == ids  # one run each, in arrival order


@register_node
class StoreAnotherNode(FlowNode):
    """While the first message runs, a 'webhook' (its own committed transaction) stores another
    message of the same group: it arrives after the job selected its chunk."""

    type_name = "test_store_another"
    title = "测试：处理中又到一条"
    db: ClassVar[Database | None] = None
    stored: ClassVar[list[int]] = []

    async def run(self, ctx: NodeContext) -> NodeResult:
        m = ctx.message
        if m.text == "第一条" and self.db is not None:
            async with self.db.transaction() as session:
                later = Message(
                    robot_id=m.robot_id,
                    reported_by=[m.robot_id],
                    group_id=m.group_id,
                    group_name=m.group_name,
                    sender_name=m.sender_name,
                    text="处理中到达的",
                    raw_text="处理中到达的",
                    room_type=m.room_type,
                    text_type=m.text_type,
                    media_kind=m.media_kind,
                    at_me=False,
                    raw_payload={},
                    received_at=ctx.now,
                    dedup_key="later-" + str(m.id),
                    status="received",
                    attempts=0,
                )
                session.add(later)
                await session.flush()
                self.stored.append(later.id)
        return NodeResult()


async def test_a_job_processes_what_arrived_in_its_groups_while_it_held_them(scratch_db: Database) -> None:
    """Jobs that found the group locked do not poll for it: the holder looks again after release."""
    (first_id,) = await store(scratch_db, ["第一条"])
    from app import clock

    async with scratch_db.transaction() as session:
        session.add(
            FlowDefinition(
                name="default",
                version=3,
                active=True,
                created_at=clock.now(),
                definition={
                    "name": "default",
                    "start": "receive",
                    "nodes": {
                        "receive": {"type": "receive", "next": "spawn"},
                        "spawn": {"type": "test_store_another", "next": None},
                    },
                },
            )
        )
    StoreAnotherNode.db, StoreAnotherNode.stored = scratch_db, []
    try:
        outcome = await FlowExecutor(scratch_db, max_attempts=3).process([first_id])
    finally:
        StoreAnotherNode.db = None
    assert len(StoreAnotherNode.stored) == 1
    assert outcome.processed == [first_id, StoreAnotherNode.stored[0]]


async def test_a_job_takes_each_held_groups_pending_messages_in_order_and_defers_busy_groups(
    scratch_db: Database,
) -> None:
    """PostgreSQL: more pending messages than one chunk, over three groups; one group is busy in
    another job (its advisory lock held elsewhere). The job processes the other two groups' backlog
    chunk after chunk, each group in id order, and hands back its own ids of the busy group."""
    from app import clock

    await store(scratch_db, ["先存一条"])  # robot + flow (its own group, left alone here)
    async with scratch_db.transaction() as session:
        robot_pk = (await session.execute(select(Robot.id))).scalar_one()
        rows = [
            {
                "robot_id": robot_pk,
                "reported_by": [robot_pk],
                "group_name": f"积压群{i % 3}",
                "sender_name": "张三",
                "text": f"积压{i}",
                "raw_text": f"积压{i}",
                "room_type": 1,
                "text_type": 1,
                "media_kind": "text",
                "raw_payload": {},
                "received_at": clock.now(),
                "dedup_key": f"backlog-{i}",
                "status": "received",
                "attempts": 0,
            }
            for i in range(40)
        ]
        await session.execute(insert(Message), rows)
    from app.chat.groups import ensure_groups

    async with scratch_db.transaction() as session:
        group_ids = await ensure_groups(session, {f"积压群{i}": ("", 1) for i in range(3)}, clock.now())
        for name, gid in group_ids.items():
            await session.execute(
                text("UPDATE messages SET group_id = :g WHERE group_name = :n"), {"g": gid, "n": name}
            )
        backlog = list(
            (await session.execute(select(Message.id).where(Message.text.like("积压%")))).scalars()
        )
    busy = group_ids["积压群2"]
    executor = FlowExecutor(scratch_db, max_attempts=3)
    executor.chunk_size = 5  # 13 or 14 messages per group: several chunks
    async with scratch_db.transaction() as other_job:
        await other_job.execute(text("SELECT pg_advisory_xact_lock(7301, :g)"), {"g": busy})
        outcome = await executor.process(sorted(backlog)[-3:])  # the last three: one per group
    async with scratch_db.session() as session:
        found = (await session.execute(select(Message.id, Message.group_id, Message.status))).all()
    by_id = {i: (g, status) for i, g, status in found}
    free = [i for i in backlog if by_id[i][0] != busy]
    assert sorted(outcome.processed) == sorted(free)
    assert all(by_id[i][1] == "processed" for i in free)
    assert all(by_id[i][1] == "received" for i in backlog if by_id[i][0] == busy)
    assert outcome.deferred == [max(i for i in backlog if by_id[i][0] == busy)]
    for group in group_ids.values():  # each group in arrival order
        order = [i for i in outcome.processed if by_id[i][0] == group]
        assert order == sorted(order)
    async with scratch_db.session() as session:
        runs = [r for (r,) in (await session.execute(select(FlowRun.message_id).order_by(FlowRun.id))).all()]
    for group in group_ids.values():
        order = [i for i in runs if by_id[i][0] == group]
        assert order == sorted(order)


async def test_bulk_insert_keeps_every_value_and_the_order_of_the_rows(scratch_db: Database) -> None:
    """The PostgreSQL bulk insert (one JSON parameter) stores text, JSON, times and flags exactly,
    and gives ids in the order of the rows."""
    from app import clock
    from app.ingest.pg_insert import insert_messages

    await store(scratch_db, ["先存一条"])  # the robot
    tricky = [
        '引号 " 反斜杠 \\ 换行\n制表\t',
        "emoji 😀👍🏻 and ‮ rtl",
        "",
        "</script><b>&amp;</b>",
        "'; DROP TABLE x; --",
    ]
    now = clock.now()
    async with scratch_db.transaction() as session:
        robot_pk = (await session.execute(select(Robot.id))).scalar_one()
        rows = [
            {
                "robot_id": robot_pk,
                "reported_by": [robot_pk, 7],
                "group_id": None,
                "group_name": f"群{i}",
                "group_remark": t,
                "sender_name": f"发送者{i}",
                "text": t,
                "raw_text": t + "!",
                "room_type": 2,
                "text_type": 1,
                "media_kind": "text",
                "at_me": i % 2 == 0,
                "raw_payload": {"spoken": t, "nested": {"n": i, "f": 1.5, "none": None, "list": [t]}},
                "received_at": now,
                "dedup_key": f"bulk-{i}",
                "status": "received",
                "attempts": 0,
                "is_staff_intervention": False,
                "intervention_needed": i == 1,
            }
            for i, t in enumerate(tricky)
        ]
        ids = await insert_messages(session, rows)
    assert ids == sorted(ids)
    async with scratch_db.session() as session:
        stored = {
            m.id: m for m in (await session.execute(select(Message).where(Message.id.in_(ids)))).scalars()
        }
    for message_id, row in zip(ids, rows, strict=True):
        m = stored[message_id]
        for column, value in row.items():
            assert getattr(m, column) == value, column
