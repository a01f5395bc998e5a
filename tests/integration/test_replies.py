"""Replies end to end: a user message through the WorkTool webhook → reply decision → a reply command
through the group's reply robot → sent to the loopback WorkTool stub → settled by its result callback.
Web + arq worker on PostgreSQL and Redis, HUB_TIME_SCALE=0.01. The hub's TZ is chosen so that its
local time is midday (day shift, not late night) whenever the test runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
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

REPLIES_REDIS_URL = REDIS_TEST_URL.rsplit("/", 1)[0] + "/7"


def midday_tz() -> str:
    """An Etc/GMT zone whose local time is about 12:00 now (Etc/GMT-N is UTC+N)."""
    offset = 12 - datetime.now(UTC).hour
    return "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


@pytest.fixture(scope="module")
def stub() -> Iterator[WorkToolStub]:
    with WorkToolStub() as running:
        yield running


@pytest.fixture(scope="module")
def hub(stub: WorkToolStub, redis_url: str) -> Iterator[HubProcess]:
    client = redis.Redis.from_url(REPLIES_REDIS_URL)
    client.flushdb()
    client.close()
    database = create_database()
    migrate(database)
    env = hub_env(
        database, REPLIES_REDIS_URL, WORKTOOL_API_BASE=stub.base_url, HUB_TIME_SCALE="0.01", TZ=midday_tz()
    )
    process = HubProcess(env)
    try:
        process.start_web()
        process.start_worker()
        yield process
    finally:
        process.stop()
        drop_database(database)


@pytest.fixture(scope="module")
def embedded(stub: WorkToolStub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """The embedded set-up (SQLite, in-process jobs) against the same stub."""
    url = f"sqlite:///{tmp_path_factory.mktemp('replies') / 'hub.db'}"
    migrate(url)
    process = HubProcess(
        hub_env(url, None, WORKTOOL_API_BASE=stub.base_url, HUB_TIME_SCALE="0.01", TZ=midday_tz())
    )
    process.start_web()
    yield process
    process.stop()


def logs(hub: HubProcess) -> str:
    return "\n".join(log.read_text(errors="replace")[-2500:] for log in hub.logs if log.exists())


class Group:
    """A group with a monitor robot (reports messages) and day / night reply robots."""

    def __init__(self, hub: HubProcess, stub: WorkToolStub, unique: str) -> None:
        self.hub, self.stub, self.name = hub, stub, f"号主服务群{unique}"
        self.monitor = register_robot(hub, "monitor", f"mon-{unique}", [self.name])
        self.day = register_robot(hub, "day_reply", f"day-{unique}", [self.name])
        self.night = register_robot(hub, "night_reply", f"night-{unique}", [self.name])
        for robot in (self.day, self.night):
            stub.configure(robot["robot_id"], callback_url=robot["result_url"], online=True)

    def say(self, sender: str, text: str, **extra: Any) -> int:
        body = {
            "spoken": text,
            "rawSpoken": text,
            "receivedName": sender,
            "groupName": self.name,
            "groupRemark": "",
            "roomType": 1,
            "atMe": False,
            "textType": 1,
            **extra,
        }
        answer = httpx.post(self.monitor["message_url"], json=body, timeout=5)
        assert answer.status_code == 200, answer.text
        return int(answer.headers["X-Hub-Message-Id"])

    def processed(self, message_id: int) -> dict[str, Any]:
        return processed(self.hub, message_id)


def processed(hub: HubProcess, message_id: int) -> dict[str, Any]:
    """The message once processed, with its flow trace."""

    def done() -> dict[str, Any] | None:
        with hub.api() as api:
            data = api.get(f"/api/messages/{message_id}", params={"trace": "true"}).json()["data"]
        return data if data and data["processing_status"] == "processed" else None

    try:
        return wait_for(done, timeout=20)  # type: ignore[no-any-return]
    except AssertionError:
        raise AssertionError(f"message {message_id} not processed\n{logs(hub)}") from None


def reply_step(message: dict[str, Any]) -> dict[str, Any]:
    steps = [s for run in message["trace"] for s in run["steps"] if s["node_type"] == "decide_reply"]
    assert steps, message["trace"]
    return steps[-1]["output"]  # type: ignore[no-any-return]


def commands_for(hub: HubProcess, message_id: int) -> list[dict[str, Any]]:
    with hub.api() as api:
        return api.get("/api/commands", params={"message_id": message_id}).json()["data"]["items"]  # type: ignore[no-any-return]


def wait_command(hub: HubProcess, command_id: int, wanted: str, timeout: float = 20) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        with hub.api() as api:
            data = api.get(f"/api/commands/{command_id}/status").json()["data"]
        return data if data["status"] == wanted else None

    try:
        return wait_for(reached, timeout=timeout)  # type: ignore[no-any-return]
    except AssertionError:
        raise AssertionError(f"command {command_id} never {wanted}\n{logs(hub)}") from None


def put_delays(hub: HubProcess, **values: Any) -> dict[str, Any]:
    with hub.api() as api:
        answer = api.put("/api/settings/delays", json=values)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]  # type: ignore[no-any-return]


def refresh_health(hub: HubProcess, robot_id: str) -> dict[str, Any]:
    with hub.api() as api:
        answer = api.get(f"/api/robots/{robot_id}/health", params={"refresh": "true"})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]  # type: ignore[no-any-return]


# ── the happy path ──────────────────────────────────────────────────────────


@pytest.mark.parametrize("setup", ["hub", "embedded"])
def test_user_greeting_is_answered_through_the_day_robot_and_settled(
    setup: str, request: pytest.FixtureRequest, stub: WorkToolStub, unique: str
) -> None:
    hub: HubProcess = request.getfixturevalue(setup)
    group = Group(hub, stub, unique)
    message_id = group.say("张三", "你好")
    decision = reply_step(group.processed(message_id))
    assert decision["reply"] is True and decision["robot"]["robot"] == group.day["robot_id"], decision
    assert decision["robot"]["shift"] == "day" and decision["robot"]["fallback"] is False
    assert decision["delay"]["case"] == "daily" and 2 <= decision["delay"]["delay_seconds"] <= 8
    (command,) = commands_for(hub, message_id)
    assert command["kind"] == "reply" and command["robot_id"] == group.day["robot_id"]
    assert command["targets"] == [group.name] and command["at_list"] == ["张三"]
    done = wait_command(hub, command["id"], "succeeded")
    assert done["result"]["source"] == "callback" and done["attempts"] == 1
    (sent,) = [s for s in stub.sent if s.robot_id == group.day["robot_id"]]
    item = sent.body["list"][0]
    assert item["type"] == 203 and item["titleList"] == [group.name] and item["atList"] == ["张三"]
    assert item["receivedContent"] == command["text"] and "张三" in command["text"]


def test_faq_question_gets_the_matching_answer(hub: HubProcess, stub: WorkToolStub, unique: str) -> None:
    group = Group(hub, stub, unique)
    message_id = group.say("李四", "请问收益什么时候结算？")
    decision = reply_step(group.processed(message_id))
    assert decision["reply"] is True and decision["template"] == "faq_settlement", decision
    assert "结算" in decision["text"] and decision["text"].startswith("李四")
    (command,) = commands_for(hub, message_id)
    wait_command(hub, command["id"], "succeeded")


def test_no_reply_to_small_talk_staff_or_robot_traffic(
    hub: HubProcess, stub: WorkToolStub, unique: str
) -> None:
    group = Group(hub, stub, unique)
    chat = group.say("王五", "今天下午去打球了，累死")
    robot_said = group.say(f"机器人day-{unique}", "好的")
    assert reply_step(group.processed(chat))["reply"] is False
    assert reply_step(group.processed(robot_said))["reply"] is False
    assert not commands_for(hub, chat) and not commands_for(hub, robot_said)


def test_no_reply_robot_in_the_group_means_no_reply(hub: HubProcess, unique: str) -> None:
    lonely = register_robot(hub, "monitor", f"lonely-{unique}", [f"无回复机器人群{unique}"])
    answer = httpx.post(
        lonely["message_url"],
        json={
            "spoken": "你好",
            "receivedName": "赵六",
            "groupName": f"无回复机器人群{unique}",
            "roomType": 1,
            "textType": 1,
        },
    )
    message_id = int(answer.headers["X-Hub-Message-Id"])
    decision = reply_step(processed(hub, message_id))
    assert decision["reply"] is False and "没有登记回复机器人" in decision["reason"]
    assert not commands_for(hub, message_id)


# ── fallback, staff handling, restarts ──────────────────────────────────────


def test_offline_day_robot_falls_back_to_the_night_robot_recorded_in_the_trace(
    hub: HubProcess, stub: WorkToolStub, unique: str
) -> None:
    group = Group(hub, stub, unique)
    stub.configure(group.day["robot_id"], online=False)
    health = refresh_health(hub, group.day["robot_id"])
    assert health["online"] is False and health["health_status"] == "critical"
    assert any("离线" in r for r in health["recommendations"])
    message_id = group.say("孙七", "在吗")
    decision = reply_step(group.processed(message_id))
    robot = decision["robot"]
    assert robot["robot"] == group.night["robot_id"] and robot["preferred"] == group.day["robot_id"]
    assert robot["fallback"] is True and "离线" in robot["fallback_reason"]
    (command,) = commands_for(hub, message_id)
    assert command["robot_id"] == group.night["robot_id"]
    wait_command(hub, command["id"], "succeeded")
    stub.configure(group.day["robot_id"], online=True)
    assert refresh_health(hub, group.day["robot_id"])["online"] is True


def test_staff_answer_cancels_the_waiting_reply(hub: HubProcess, stub: WorkToolStub, unique: str) -> None:
    group = Group(hub, stub, unique)
    staff = f"客服小王{unique}"
    with hub.api() as api:
        assert api.post("/api/people", json={"display_name": staff, "role": "assistant"}).status_code == 201
    put_delays(hub, day_shift_complex_delay=[3000, 3000], night_shift_complex_delay=[3000, 3000])
    try:
        question = group.say("周八", "请问我的账号怎么绑定手机号？")
        decision = reply_step(group.processed(question))
        assert decision["reply"] is True and decision["delay"]["case"] == "complex"
        (command,) = commands_for(hub, question)
        assert command["status"] == "queued"
        answer = group.say(staff, "@周八 在设置里绑定就可以了，我来帮你")
        staff_step = reply_step(group.processed(answer))
        assert staff_step["reply"] is False and staff_step["cancelled_replies"] == [command["id"]]
        assert wait_command(hub, command["id"], "cancelled")["status"] == "cancelled"
    finally:
        put_delays(hub, day_shift_complex_delay=[5, 15], night_shift_complex_delay=[10, 30])
    assert not [s for s in stub.sent if s.robot_id in (group.day["robot_id"], group.night["robot_id"])]


def test_a_faster_reply_replaces_a_slower_waiting_one_and_greetings_are_not_repeated(
    hub: HubProcess, stub: WorkToolStub, unique: str
) -> None:
    group = Group(hub, stub, unique)
    put_delays(hub, day_shift_operation_delay=[3000, 3000])
    try:
        hello = group.say("郑十", "你好")
        assert reply_step(group.processed(hello))["reply"] is True
        (slow,) = commands_for(hub, hello)
        again = group.say("郑十", "在吗")
        repeat = reply_step(group.processed(again))
        assert repeat["reply"] is False and "不重复问候" in repeat["reason"]
        urgent = group.say("郑十", "我扫了码还是登录不了")
        decision = reply_step(group.processed(urgent))
        assert decision["reply"] is True and decision["delay"]["case"] == "after_sales", decision
        assert decision["replaced_command"] == slow["id"]
        (fast,) = commands_for(hub, urgent)
        wait_command(hub, fast["id"], "succeeded")
        assert wait_command(hub, slow["id"], "cancelled")["status"] == "cancelled"
    finally:
        put_delays(hub, day_shift_operation_delay=[2, 8])


def test_worker_restart_during_a_delayed_reply_still_sends_it_once(
    hub: HubProcess, stub: WorkToolStub, unique: str
) -> None:
    group = Group(hub, stub, unique)
    put_delays(hub, day_shift_operation_delay=[200, 200], night_shift_operation_delay=[200, 200])
    try:
        message_id = group.say("吴九", "你好")
        group.processed(message_id)
        (command,) = commands_for(hub, message_id)
        due = datetime.fromisoformat(command["due_at"]).timestamp()
        hub.stop_worker()
        try:
            wait_for(lambda: time.time() > due + 0.5, timeout=15)
            assert not [s for s in stub.sent if s.robot_id == group.day["robot_id"]]
        finally:
            hub.start_worker()
        wait_command(hub, command["id"], "succeeded", timeout=40)
    finally:
        put_delays(hub, day_shift_operation_delay=[2, 8], night_shift_operation_delay=[5, 30])
    assert len([s for s in stub.sent if s.robot_id == group.day["robot_id"]]) == 1


# ── settings, templates, health API ─────────────────────────────────────────


def test_settings_api_validates_and_saves(hub: HubProcess) -> None:
    with hub.api() as api:
        shifts = api.get("/api/settings/shifts").json()["data"]
        assert shifts["day_shift_time_range"] == "09:00-21:00" and shifts["p0_alert_notify_robot"] == "notify"
        saved = api.put("/api/settings/shifts", json={"day_shift_time_range": "08:00-20:00"})
        assert saved.status_code == 200 and saved.json()["data"]["night_shift_time_range"] == "20:00-08:00"
        bad = api.put("/api/settings/shifts", json={"night_shift_time_range": "22:00-06:00"})
        assert bad.status_code == 400 and "晚班" in bad.json()["message"]
        api.put("/api/settings/shifts", json={"day_shift_time_range": "09:00-21:00"})
        negative = api.put("/api/settings/delays", json={"urgent_message_delay": [-1, 2]})
        assert negative.status_code == 400 and "不能为负" in negative.json()["message"]
        delays = api.get("/api/settings/delays").json()["data"]
        assert delays["day_shift_operation_delay"] == [2, 8] and delays["late_night_low_send_at"] == "09:00"
        zero = api.put("/api/settings/delays", json={"urgent_message_delay": [0, 0]})
        assert zero.status_code == 200 and zero.json()["data"]["urgent_message_delay"] == [0, 0]
        api.put("/api/settings/delays", json={"urgent_message_delay": [1, 2]})
    anonymous = httpx.put(f"{hub.base_url}/api/settings/delays", json={})
    assert anonymous.status_code == 401


def test_template_library_api_and_render(hub: HubProcess, unique: str) -> None:
    key = f"faq_t{unique}"
    with hub.api() as api:
        listing = api.get("/api/reply-templates", params={"category": "comfort"}).json()["data"]
        assert {t["key"] for t in listing["items"]} >= {"comfort_staff_online", "comfort_staff_busy"}
        rendered = api.post(
            "/api/reply-templates/render", json={"key": "after_sales_ack", "variables": {"user_name": "张三"}}
        ).json()["data"]["text"]
        assert rendered.startswith("收到～张三的相关操作问题")
        created = api.post(
            "/api/reply-templates",
            json={"key": key, "category": "faq", "text": "{user_name}，退款 3 天到账", "keywords": ["退款"]},
        )
        assert created.status_code == 201 and created.json()["data"]["variables"] == ["user_name"]
        unknown = api.post(
            "/api/reply-templates", json={"key": f"x{unique}", "category": "faq", "text": "{nick}"}
        )
        assert unknown.status_code == 400 and "未知的变量" in unknown.json()["message"]
        updated = api.put(
            f"/api/reply-templates/{key}", json={"text": "{user_name}，退款 1 天到账", "active": False}
        )
        assert updated.status_code == 200 and updated.json()["data"]["active"] is False
        gone = api.post("/api/reply-templates/render", json={"key": key})
        assert gone.status_code == 404


def test_robot_health_endpoint_and_history(hub: HubProcess, stub: WorkToolStub, unique: str) -> None:
    group = Group(hub, stub, unique)
    first = refresh_health(hub, group.day["robot_id"])
    fields = {
        "robot_id",
        "robot_name",
        "health_score",
        "health_status",
        "last_health_check",
        "message_count",
        "error_count",
        "success_rate",
        "average_response_time",
        "recommendations",
    }
    assert fields <= set(first) and first["online"] is True
    assert first["health_status"] in ("excellent", "good") and 0 <= first["health_score"] <= 100
    with hub.api() as api:
        stored = api.get(f"/api/robots/{group.day['robot_id']}/health").json()["data"]
        assert stored["health_score"] == first["health_score"]
        history = api.get(f"/api/robots/{group.day['robot_id']}/health/history").json()["data"]["items"]
        assert history and history[0]["health_score"] == first["health_score"]
        assert api.get("/api/robots/nobody/health").status_code == 404


def test_pages_render_and_forms_need_csrf(hub: HubProcess, stub: WorkToolStub, unique: str) -> None:
    group = Group(hub, stub, unique)
    refresh_health(hub, group.day["robot_id"])
    with hub.api() as api:
        robots = api.get("/robots").text
        assert 'sse-swap="robot-health-' in robots and "今日发送" in robots and "健康" in robots
        settings = api.get("/settings/replies").text
        assert "白班开始" in settings and "深夜低优先级排到" in settings
        templates = api.get("/settings/replies/templates", params={"category": "comfort"}).text
        assert "comfort_staff_online" in templates and "greeting_hello" not in templates
    form = httpx.post(f"{hub.base_url}/settings/replies/delays", data={}, follow_redirects=False)
    assert form.status_code in (302, 303, 401, 403)
