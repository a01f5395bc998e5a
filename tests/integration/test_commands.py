"""Command queue end to end: the hub's own web + arq worker (PostgreSQL, Redis) and an embedded hub
(SQLite), both pointed at the loopback WorkTool stub over HTTP, with HUB_TIME_SCALE=0.01 (the 60 s
confirmation wait is 0.6 s; retries wait 1 s, then 4 s)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import redis

from tests.conftest import (
    REDIS_TEST_URL,
    HubProcess,
    create_database,
    drop_database,
    hub_env,
    migrate,
    register_robot,
    wait_for,
)
from tests.stubs.worktool_stub import WorkToolStub

pytestmark = pytest.mark.integration

# A Redis db of their own: the session's production_hub worker must never run these jobs.
COMMANDS_REDIS_URL = REDIS_TEST_URL.rsplit("/", 1)[0] + "/12"
SETTINGS = {"HUB_TIME_SCALE": "0.01", "HUB_COMMAND_RETRY_SECONDS": "100"}


@pytest.fixture(scope="module")
def stub() -> Iterator[WorkToolStub]:
    with WorkToolStub() as running:
        yield running


@pytest.fixture(scope="module")
def hub(stub: WorkToolStub, redis_url: str) -> Iterator[HubProcess]:
    """Web + arq worker on a fresh PostgreSQL database, talking to the stub."""
    client = redis.Redis.from_url(COMMANDS_REDIS_URL)
    client.flushdb()
    client.close()
    database = create_database()
    migrate(database)
    process = HubProcess(hub_env(database, COMMANDS_REDIS_URL, WORKTOOL_API_BASE=stub.base_url, **SETTINGS))
    try:
        process.start_web()
        process.start_worker()
        yield process
    finally:
        process.stop()
        drop_database(database)


@pytest.fixture(scope="module")
def embedded(stub: WorkToolStub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    url = f"sqlite:///{tmp_path_factory.mktemp('commands') / 'hub.db'}"
    migrate(url)
    process = HubProcess(hub_env(url, None, WORKTOOL_API_BASE=stub.base_url, **SETTINGS))
    process.start_web()
    yield process
    process.stop()


def robot(hub: HubProcess, stub: WorkToolStub, unique: str, role: str = "day_reply", **config: Any) -> str:
    """A registered robot whose result callbacks the stub sends to the hub."""
    registered = register_robot(hub, role=role, robot_id=f"wt-{role}-{unique}", groups=[f"{unique}群"])
    stub.configure(registered["robot_id"], callback_url=registered["result_url"], **config)
    return registered["robot_id"]


def create(hub: HubProcess, robot_id: str, text: str, **extra: Any) -> dict[str, Any]:
    body = {"robot_id": robot_id, "targets": ["测试群1"], "text": text, **extra}
    with hub.api() as api:
        answer = api.post("/api/commands", json=body)
    assert answer.status_code == 201, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def status(hub: HubProcess, command_id: int) -> dict[str, Any]:
    with hub.api() as api:
        answer = api.get(f"/api/commands/{command_id}/status")
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def wait_status(hub: HubProcess, command_id: int, wanted: str, timeout: float = 15.0) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    def reached() -> dict[str, Any] | None:
        seen.append(status(hub, command_id))
        return seen[-1] if seen[-1]["status"] == wanted else None

    try:
        return wait_for(reached, timeout=timeout)  # type: ignore[no-any-return]
    except AssertionError:
        raise AssertionError(f"command {command_id} never {wanted}: {seen[-1]}\n{logs(hub)}") from None


def logs(hub: HubProcess) -> str:
    return "\n".join(log.read_text(errors="replace")[-2500:] for log in hub.logs if log.exists())


def sends(stub: WorkToolStub, robot_id: str, text: str | None = None) -> list[Any]:
    return [
        s
        for s in stub.sent
        if s.robot_id == robot_id and (text is None or s.body["list"][0]["receivedContent"] == text)
    ]


# ── the happy path, both set-ups ──────────────────────────────────────────────


@pytest.mark.parametrize("setup", ["hub", "embedded"])
def test_queued_sent_and_settled_by_callback(
    setup: str, request: pytest.FixtureRequest, stub: WorkToolStub, unique: str
) -> None:
    hub: HubProcess = request.getfixturevalue(setup)
    robot_id = robot(hub, stub, unique)
    created = create(hub, robot_id, f"您好，{unique}", at_list=["张三"], targets=["测试群1", "张三"])
    assert created["status"] == "queued" and created["attempts"] == 0
    done = wait_status(hub, created["id"], "succeeded")
    (sent,) = sends(stub, robot_id)
    assert sent.body == {
        "socketType": 2,
        "list": [
            {
                "type": 203,
                "titleList": ["测试群1", "张三"],
                "receivedContent": f"您好，{unique}",
                "atList": ["张三"],
            }
        ],
    }
    assert done["worktool_message_id"] == sent.message_id
    assert done["attempts"] == 1 and done["error"] is None
    assert done["result"]["source"] == "callback"
    assert done["result"]["success_list"] == ["测试群1", "张三"]
    contract = {"id", "robot_id", "kind", "targets", "text", "at_list", "due_at", "status", "attempts"}
    assert contract | {"worktool_message_id", "message_id", "error"} <= set(done)
    assert done["robot_id"] == robot_id and done["kind"] == "send_text"


def test_without_callback_the_result_is_queried_after_the_wait(
    hub: HubProcess, stub: WorkToolStub, unique: str
) -> None:
    robot_id = robot(hub, stub, unique, callback=False)
    created = create(hub, robot_id, "查询确认")
    done = wait_status(hub, created["id"], "succeeded")
    assert done["result"]["source"] == "query"
    sent_at = datetime.fromisoformat(done["sent_at"])
    settled_at = datetime.fromisoformat(done["settled_at"])
    assert (settled_at - sent_at).total_seconds() >= 0.55  # 60 s × 0.01
    assert len(sends(stub, robot_id)) == 1 and not [c for c in stub.callbacks if robot_id in c["url"]]


def test_failed_run_reported_by_callback_is_retried(hub: HubProcess, stub: WorkToolStub, unique: str) -> None:
    robot_id = robot(hub, stub, unique, exec_error_code=201101, exec_error_times=1)
    created = create(hub, robot_id, "第一次执行失败")
    failed = wait_status(hub, created["id"], "failed")
    assert failed["error"] == "未找到聊天窗口（群名或联系人名不存在）（错误码 201101）"
    assert failed["attempts"] == 1 and failed["result"]["fail_list"] == ["测试群1"]
    done = wait_status(hub, created["id"], "succeeded")
    assert done["attempts"] == 2 and len(sends(stub, robot_id)) == 2


# ── failures, manual handling, notification ──────────────────────────────────


def test_three_send_errors_go_to_manual_and_staff_are_notified(
    hub: HubProcess, stub: WorkToolStub, unique: str
) -> None:
    notify_id = robot(hub, stub, unique, role="notify")
    robot_id = robot(hub, stub, unique, send_error_code=201102)
    created = create(hub, robot_id, "一直发不出去")
    manual = wait_status(hub, created["id"], "manual", timeout=20)
    assert manual["attempts"] == 3 and manual["error"] == "消息发送失败（错误码 201102）"
    assert len(sends(stub, robot_id)) == 3
    with hub.api() as api:
        notices = api.get("/api/commands", params={"robot_id": notify_id}).json()["data"]
    # The robot-failure alert may reach the notify robot too (kind "alert"); one manual-handling notice.
    (notice,) = [c for c in notices["items"] if c["kind"] == "notify"]
    assert notice["targets"] == [f"{unique}群"]
    assert "待人工处理" in notice["text"] and f"#{created['id']}" in notice["text"]
    assert wait_status(hub, notice["id"], "succeeded")["attempts"] == 1
    # Staff fix the cause and retry from the queue: one more send, settled normally.
    stub.configure(robot_id, send_error_code=None)
    with hub.api() as api:
        answer = api.post(f"/api/commands/{created['id']}/retry")
    assert answer.status_code == 200 and answer.json()["data"]["status"] == "queued"
    done = wait_status(hub, created["id"], "succeeded")
    assert done["attempts"] == 4 and len(sends(stub, robot_id)) == 4


def test_failing_notify_robot_is_never_announced_recursively(
    hub: HubProcess, stub: WorkToolStub, unique: str
) -> None:
    notify_id = robot(hub, stub, unique, role="notify", send_error_code=501000)
    created = create(hub, notify_id, "通知机器人自己的消息")
    wait_status(hub, created["id"], "manual", timeout=20)
    with hub.api() as api:
        items = api.get("/api/commands", params={"robot_id": notify_id}).json()["data"]["items"]
    # No manual-handling notice about itself (a robot-failure alert may still be routed to it).
    assert [c["id"] for c in items if c["kind"] != "alert"] == [created["id"]]


def test_permanent_error_goes_to_manual_at_once(hub: HubProcess, stub: WorkToolStub, unique: str) -> None:
    robot_id = robot(hub, stub, unique, send_error_code=501012)
    created = create(hub, robot_id, "robotKey 错误")
    manual = wait_status(hub, created["id"], "manual")
    assert manual["attempts"] == 1 and "robotKey 错误" in manual["error"]


def test_command_that_ran_late_is_settled_not_resent(
    hub: HubProcess, stub: WorkToolStub, unique: str
) -> None:
    """No callback and nothing run by the deadline → timeout; it runs before the retry → the retry's
    check finds it in rawMsg/list and settles it instead of sending it again."""
    robot_id = robot(hub, stub, unique, callback=False, hold=True)
    created = create(hub, robot_id, "迟到的执行")
    timed_out = wait_status(hub, created["id"], "timeout")
    assert "没有结果回调" in timed_out["error"]
    stub.release(robot_id)
    wait_for(lambda: stub.results(timed_out["worktool_message_id"]))
    done = wait_status(hub, created["id"], "succeeded")
    assert done["attempts"] == 1 and done["result"]["source"] == "query"
    assert len(sends(stub, robot_id)) == 1


def test_offline_robot_is_not_resent_and_goes_to_manual(
    hub: HubProcess, stub: WorkToolStub, unique: str
) -> None:
    robot_id = robot(hub, stub, unique, callback=False, online=False)
    created = create(hub, robot_id, "机器人离线")
    manual = wait_status(hub, created["id"], "manual", timeout=20)
    assert manual["attempts"] == 3 and "机器人离线" in manual["error"]
    assert len(sends(stub, robot_id)) == 1  # verified before every retry: never a second copy


# ── crash recovery ────────────────────────────────────────────────────────────


def test_worker_restart_during_a_delayed_command_sends_it_once(
    hub: HubProcess, stub: WorkToolStub, unique: str
) -> None:
    robot_id = robot(hub, stub, unique)
    created = create(hub, robot_id, "重启期间到期", delay_seconds=150)  # due in 1.5 s
    due = datetime.fromisoformat(created["due_at"]).timestamp()
    hub.stop_worker()
    try:
        wait_for(lambda: time.time() > due + 0.5, timeout=10)  # due while no worker runs
        assert status(hub, created["id"])["status"] == "queued" and not sends(stub, robot_id)
    finally:
        hub.start_worker()
    done = wait_status(hub, created["id"], "succeeded", timeout=30)
    # The deferred arq job survived in Redis and the start-up sweep re-scheduled it too: one send.
    assert len(sends(stub, robot_id)) == 1 and done["attempts"] == 1
    later = create(hub, robot_id, "重启之后")
    wait_status(hub, later["id"], "succeeded")
    assert len(sends(stub, robot_id, "重启期间到期")) == 1


# ── API: cancel, retry, filters ──────────────────────────────────────────────


def test_cancel_and_retry_rules(hub: HubProcess, stub: WorkToolStub, unique: str) -> None:
    robot_id = robot(hub, stub, unique)
    queued = create(hub, robot_id, "将被取消", delay_seconds=100)
    with hub.api() as api:
        cancelled = api.post(f"/api/commands/{queued['id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["data"]["status"] == "cancelled"
        again = api.post(f"/api/commands/{queued['id']}/cancel")
        assert again.status_code == 409 and "排队中" in again.json()["message"]
        retry = api.post(f"/api/commands/{queued['id']}/retry")
        assert retry.status_code == 409
        assert api.post("/api/commands/999999/cancel").status_code == 404
    after = create(hub, robot_id, "取消之后", delay_seconds=120)  # due after the cancelled one
    done = wait_status(hub, after["id"], "succeeded")
    with hub.api() as api:
        assert api.post(f"/api/commands/{done['id']}/retry").status_code == 409
    assert not sends(stub, robot_id, "将被取消") and status(hub, queued["id"])["status"] == "cancelled"


def test_list_filters_and_validation(hub: HubProcess, stub: WorkToolStub, unique: str) -> None:
    registered = register_robot(hub, role="monitor", robot_id=f"wt-src-{unique}")
    answer = httpx.post(
        registered["message_url"],
        json={
            "spoken": "在吗",
            "rawSpoken": "在吗",
            "receivedName": "用户",
            "groupName": "测试群1",
            "roomType": 1,
            "atMe": False,
            "textType": 1,
        },
    )
    message_id = int(answer.headers["X-Hub-Message-Id"])
    robot_id = robot(hub, stub, unique)
    linked = create(hub, robot_id, "回复消息", message_id=message_id)
    create(hub, robot_id, "另一条")
    wait_status(hub, linked["id"], "succeeded")
    with hub.api() as api:
        by_message = api.get("/api/commands", params={"message_id": message_id}).json()["data"]
        assert [c["id"] for c in by_message["items"]] == [linked["id"]] and by_message["total"] == 1
        by_robot = api.get("/api/commands", params={"robot_id": robot_id, "page_size": 1}).json()["data"]
        assert by_robot["total"] == 2 and len(by_robot["items"]) == 1 and by_robot["page_size"] == 1
        by_status = api.get("/api/commands", params={"robot_id": robot_id, "status": "succeeded"}).json()
        assert {c["status"] for c in by_status["data"]["items"]} == {"succeeded"}
        future = api.get("/api/commands", params={"robot_id": robot_id, "since": "2999-01-01T00:00"}).json()
        assert future["data"]["total"] == 0
        bad = api.get("/api/commands", params={"status": "done"})
        assert bad.status_code == 400 and "status" in bad.json()["message"]
        missing = api.post("/api/commands", json={"robot_id": robot_id, "targets": [], "text": "x"})
        assert missing.status_code == 400 and "目标会话" in missing.json()["message"]
        nobody = api.post("/api/commands", json={"robot_id": "nobody", "targets": ["群"], "text": "x"})
        assert nobody.status_code == 404
        assert api.get("/api/commands/999999/status").status_code == 404
    anonymous = httpx.get(f"{hub.base_url}/api/commands")
    assert anonymous.status_code == 401


def test_commands_page_lists_and_highlights_manual(hub: HubProcess, stub: WorkToolStub, unique: str) -> None:
    robot_id = robot(hub, stub, unique, send_error_code=501011)
    created = create(hub, robot_id, f"页面展示{unique}")
    wait_status(hub, created["id"], "manual")
    with hub.api() as api:
        html = api.get("/commands", params={"robot": robot_id}).text
    assert 'id="manual-queue"' in html and f'id="manual-{created["id"]}"' in html
    assert "cmd-manual" in html and f"页面展示{unique}" in html


# ── interrupted sends, in-process against the stub (SQLite) ──────────────────


class RecordingQueue:
    """Stands in for the job queue: the test drives the jobs itself."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, float | None, dict[str, Any]]] = []

    async def enqueue(self, name: str, defer_by: float | None, kwargs: dict[str, Any]) -> None:
        self.jobs.append((name, defer_by, kwargs))

    async def close(self) -> None:
        return None


@pytest.fixture
async def local(tmp_path: Any, stub: WorkToolStub, unique: str) -> Any:
    import app.commands.tasks  # noqa: F401  (registers the jobs)
    from app import clock
    from app.commands.worktool_client import WorkToolClient
    from app.config import load_settings
    from app.db import Database
    from app.jobs import set_queue
    from app.robots.models import Robot

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrate(url)
    db = Database(load_settings({"DATABASE_URL": url, "SECRET_KEY": "x" * 32}))
    queue = RecordingQueue()
    set_queue(queue)  # type: ignore[arg-type]
    robot_id = f"wt-local-{unique}"
    stub.configure(robot_id, callback=False)
    async with db.transaction() as session:
        now = clock.now()
        session.add(
            Robot(
                robot_id=robot_id,
                name="恢复测试",
                role="day_reply",
                shift="day",
                token_hash="0" * 64,
                active=True,
                created_at=now,
                updated_at=now,
                message_count=0,
            )
        )
    client = WorkToolClient(stub.base_url, 5.0)
    yield db, client, robot_id, queue
    set_queue(None)
    await client.close()
    await db.dispose()


async def stale_claim(db: Any, robot_id: str, text: str) -> int:
    """A command claimed for sending a minute ago by a process that then died."""
    from datetime import timedelta

    from sqlalchemy import select

    from app import clock
    from app.commands.aftercommit import settle_pending
    from app.commands.service import claim, enqueue_command, load_for_update
    from app.robots.models import Robot

    async with db.transaction() as session:
        robot = (await session.execute(select(Robot).where(Robot.robot_id == robot_id))).scalar_one()
        command = await enqueue_command(session, robot, ["恢复测试群"], text)
    async with db.transaction() as session:
        claimed = await load_for_update(session, command.id)
        claim(claimed, clock.now() - timedelta(minutes=1))
    await settle_pending()
    return int(command.id)


async def test_send_interrupted_after_worktool_took_it_is_adopted_not_resent(
    local: Any, stub: WorkToolStub
) -> None:
    from app.commands import dispatch
    from app.commands.models import Command
    from app.commands.worktool_client import text_command

    db, client, robot_id, _queue = local
    command_id = await stale_claim(db, robot_id, "崩溃前已经发出")
    # The dead process's request had reached WorkTool, and the phone ran it.
    message_id = await client.send_raw_message(robot_id, [text_command(["恢复测试群"], "崩溃前已经发出")])
    await stub.wait_executed(message_id)
    assert await dispatch.send_command(db, client, command_id) == "succeeded"
    async with db.session() as session:
        command = await session.get(Command, command_id)
    assert command.status == "succeeded" and command.worktool_message_id == message_id
    assert command.attempts == 1 and command.result["source"] == "recovery"
    assert len(sends(stub, robot_id)) == 1


async def test_send_interrupted_before_worktool_took_it_is_sent_once(local: Any, stub: WorkToolStub) -> None:
    from app.commands import dispatch
    from app.commands.aftercommit import settle_pending
    from app.commands.models import Command

    db, client, robot_id, queue = local
    command_id = await stale_claim(db, robot_id, "崩溃前没有发出")
    assert await dispatch.send_command(db, client, command_id) == "sent"
    assert await dispatch.send_command(db, client, command_id) == "skip"  # a duplicate job: nothing
    await settle_pending()
    async with db.session() as session:
        command = await session.get(Command, command_id)
    assert command.status == "sent" and command.attempts == 1
    (sent,) = sends(stub, robot_id)
    assert command.worktool_message_id == sent.message_id
    assert ("check_command", pytest.approx(60.0, abs=1.0)) in [(n, d) for n, d, _ in queue.jobs]


async def test_recovery_never_resends_while_the_robot_is_offline(local: Any, stub: WorkToolStub) -> None:
    from app.commands import dispatch
    from app.commands.models import Command

    db, client, robot_id, _queue = local
    stub.configure(robot_id, online=False)
    command_id = await stale_claim(db, robot_id, "离线时中断")
    assert await dispatch.send_command(db, client, command_id) == "unconfirmed"
    async with db.session() as session:
        command = await session.get(Command, command_id)
    assert command.status == "timeout" and "暂不重发" in command.error
    assert not sends(stub, robot_id)
