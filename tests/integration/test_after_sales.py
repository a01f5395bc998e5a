"""After-sales end to end on PostgreSQL + Redis (web + arq worker) against the WorkTool stub, with
HUB_TIME_SCALE=0.01: a staff @ creates a task, the user's 在的 marks it responded and the reply
robot's comfort message @-mentions the user and is settled; refusal, silence → time-out, operator
conflict, the task API contract, auto-assign, and the daily report downloads."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

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

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# A Redis db of this module's own: its worker must never take another hub's jobs.
AS_REDIS_URL = os.environ.get("TEST_AFTER_SALES_REDIS_URL") or REDIS_TEST_URL.rsplit("/", 1)[0] + "/13"
CONTRACT = {
    "id",
    "task_type",
    "target_user",
    "group",
    "status",
    "assigned_staff",
    "assignment_reason",
    "user_response_status",
    "user_cooperation_level",
    "created_at",
}


@pytest.fixture(scope="module")
def stub() -> Iterator[WorkToolStub]:
    with WorkToolStub() as running:
        yield running


@pytest.fixture(scope="module")
def hub(stub: WorkToolStub) -> Iterator[HubProcess]:
    client = redis.Redis.from_url(AS_REDIS_URL)
    client.flushdb()
    client.close()
    database = create_database()
    migrate(database)
    process = HubProcess(
        hub_env(database, AS_REDIS_URL, WORKTOOL_API_BASE=stub.base_url, HUB_TIME_SCALE="0.01")
    )
    try:
        process.start_web()
        process.start_worker()
        yield process
    finally:
        process.stop()
        drop_database(database)


@pytest.fixture(scope="module")
def world(hub: HubProcess, stub: WorkToolStub) -> dict[str, Any]:
    """One group with monitor, day and night reply robots, a notify robot and two after-sales agents."""
    group, other = "售后测试群", "冲突测试群"
    robots = {
        role: register_robot(hub, role, f"as-{role}", [group, other])
        for role in ("monitor", "day_reply", "night_reply")
    }
    robots["notify"] = register_robot(hub, "notify", "as-notify", [])
    for role in ("day_reply", "night_reply", "notify"):
        stub.configure(robots[role]["robot_id"], callback_url=robots[role]["result_url"])
    with hub.api() as api:
        for name, skills in (("售后小王", ["扫码登录", "实名认证"]), ("售后小李", ["绑定手机"])):
            answer = api.post(
                "/api/people", json={"display_name": name, "role": "after_sales", "skills": skills}
            )
            assert answer.status_code == 201, answer.text
        # Round-the-clock hours (start == end): the default 09:00–21:00 would make the agents
        # offline whenever the suite runs in the evening or at night.
        for staff in api.get("/api/after-sales/staff").json()["data"]["items"]:
            answer = api.put(
                f"/api/after-sales/staff/{staff['id']}", json={"work_start": "00:00", "work_end": "00:00"}
            )
            assert answer.status_code == 200, answer.text
        api.post("/api/people", json={"display_name": "运营老板", "role": "operator"})
        answer = api.put(
            "/api/after-sales/settings",
            json={"response_wait_seconds": 150, "reminder_interval_seconds": 100, "max_reminders": 1},
        )
        assert answer.status_code == 200, answer.text
    return {"group": group, "other": other, "robots": robots}


def post(world: dict[str, Any], sender: str, text: str, group: str | None = None) -> str:
    answer = httpx.post(
        world["robots"]["monitor"]["message_url"],
        json={
            "spoken": text,
            "rawSpoken": text,
            "receivedName": sender,
            "groupName": group or world["group"],
            "roomType": 1,
            "atMe": False,
            "textType": 1,
        },
    )
    assert answer.status_code == 200, answer.text
    return answer.headers["X-Hub-Message-Id"]


def tasks(hub: HubProcess, **filters: str) -> list[dict[str, Any]]:
    with hub.api() as api:
        answer = api.get("/api/after-sales/tasks", params=filters)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["data"]["items"]
    return items


def task_of(hub: HubProcess, user: str, **want: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        items = tasks(hub, user=user)
        if items and all(items[0].get(k) == v for k, v in want.items()):
            return items[0]
        return None

    try:
        return wait_for(found, timeout=20)  # type: ignore[no-any-return]
    except AssertionError:
        raise AssertionError(f"{user}: {tasks(hub, user=user)}\n{logs(hub)}") from None


def logs(hub: HubProcess) -> str:
    return "\n".join(log.read_text(errors="replace")[-3000:] for log in hub.logs if log.exists())


def commands(hub: HubProcess, kind: str, message_id: str | None = None) -> list[dict[str, Any]]:
    params = {"message_id": message_id} if message_id else {}
    with hub.api() as api:
        items: list[dict[str, Any]] = api.get("/api/commands", params={**params, "page_size": 200}).json()[
            "data"
        ]["items"]
    return [c for c in items if c["kind"] == kind]


def test_staff_at_then_user_responds_gets_a_settled_comfort_reply(
    hub: HubProcess, stub: WorkToolStub, world: dict[str, Any]
) -> None:
    post(world, "售后小王", "辛苦大家")  # 小王 is active (online) from now
    post(world, "售后小王", "@张三 麻烦扫一下码登录")
    task = task_of(hub, "张三", status="waiting_user_response")
    assert set(task) >= CONTRACT
    assert task["task_type"] == "扫码登录" and task["group"] == world["group"]
    assert task["assigned_staff"] == "售后小王" and task["assignment_reason"].startswith(
        "技能匹配（扫码登录）"
    )
    assert task["user_response_status"] == "pending" and task["user_cooperation_level"] == "unknown"

    reply = post(world, "张三", "在的")
    task = task_of(hub, "张三", user_response_status="responded")
    assert task["status"] == "in_progress" and task["user_cooperation_level"] == "high"
    comfort = wait_for(lambda: commands(hub, "comfort", reply))
    assert comfort[0]["at_list"] == ["张三"] and comfort[0]["targets"] == [world["group"]]
    assert comfort[0]["text"] == "好的，请稍等，售后人员马上就来处理 👍"  # 小王 is online
    assert comfort[0]["robot_id"] in (
        world["robots"]["day_reply"]["robot_id"],
        world["robots"]["night_reply"]["robot_id"],
    )
    wait_for(lambda: commands(hub, "comfort", reply)[0]["status"] == "succeeded", timeout=20)
    sent = [s for s in stub.sent if s.robot_id == comfort[0]["robot_id"]]
    assert any(s.body["list"][0].get("atList") == ["张三"] for s in sent)
    notices = wait_for(lambda: commands(hub, "staff_notice", reply))
    assert "张三" in notices[0]["text"] and notices[0]["at_list"] == ["售后小王"]

    with hub.api() as api:
        response = api.get(f"/api/after-sales/{task['id']}/user-response").json()["data"]
    assert response["user_response_status"] == "responded" and response["response_text"] == "在的"
    assert response["response_delay_seconds"] is not None and response["response_delay_seconds"] >= 0

    post(world, "售后小王", "@张三 已经弄好了，谢谢配合")
    done = task_of(hub, "张三", status="completed")
    assert done["staff_follow_up_time"] and done["completed_at"]


def test_a_short_answer_takes_the_topic_of_the_open_task(hub: HubProcess, world: dict[str, Any]) -> None:
    post(world, "售后小王", "@钱多多 麻烦扫一下码登录")
    task_of(hub, "钱多多", status="waiting_user_response")
    post(world, "路人甲", "今天群里好热闹啊")  # the staff request is no longer the line just before
    reply = post(world, "钱多多", "好哒 立马安排👌")  # alone, reads like an answer to a shooting task

    def processed() -> dict[str, Any] | None:
        with hub.api() as api:
            data: dict[str, Any] = api.get(f"/api/messages/{reply}").json()["data"]
        return data if data["processing_status"] == "processed" else None

    message = wait_for(processed)
    assert message["type"] == "chat_after_sales" and "扫码登录" in message["reason"]
    task_of(hub, "钱多多", user_response_status="responded")


def test_refusal_lowers_cooperation_and_silence_times_out(hub: HubProcess, world: dict[str, Any]) -> None:
    post(world, "售后小王", "@李四 请完成一下实名认证")
    task_of(hub, "李四", status="waiting_user_response")
    post(world, "李四", "不弄了，别烦我")
    refused = task_of(hub, "李四", user_response_status="refused")
    assert refused["user_cooperation_level"] == "low" and refused["status"] == "waiting_user_response"
    post(world, "售后小王", "@李四 只要两分钟，配合一下实名认证好吗")  # persuasion: the wait starts again
    task_of(hub, "李四", user_response_status="pending")
    post(world, "李四", "好吧，来了")
    persuaded = task_of(hub, "李四", user_response_status="responded")
    assert persuaded["id"] == refused["id"] and persuaded["status"] == "in_progress"

    post(world, "售后小王", "@王五 手机号绑定一下")
    task = task_of(hub, "王五", status="waiting_user_response")
    assert task["assigned_staff"] == "售后小李" and task["task_type"] == "绑定手机"
    timed_out = task_of(hub, "王五", status="timeout")  # 1.5 s wait, 1 reminder, 1 s later time-out
    assert timed_out["user_response_status"] == "timeout" and timed_out["reminders_sent"] == 1
    with hub.api() as api:
        history = api.get(f"/api/after-sales/tasks/{task['id']}").json()["data"]["history"]
    events = [h["event"] for h in history]
    assert "reminder" in events and events.count("alert") == 1


def test_user_after_sales_message_creates_task_and_auto_assign_contract(
    hub: HubProcess, world: dict[str, Any]
) -> None:
    post(world, "赵六", "我的视频号认证不了，需要扫码吗？怎么弄")
    task = task_of(hub, "赵六", status="pending")
    assert task["source"] == "user_message" and task["task_type"] == "视频号认证"
    with hub.api() as api:
        answer = api.post(
            "/api/after-sales/auto-assign",
            json={"task_id": task["id"], "task_type": "扫码登录", "priority": "high"},
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["code"] == 0 and body["message"] == "自动分配成功"
        data = body["data"]
        assert data["task_id"] == task["id"] and data["assigned_staff"]["staff_name"] == "售后小王"
        assert {"staff_user_id", "staff_name", "current_tasks"} <= set(data["assigned_staff"])
        assert data["assignment_reason"].startswith("技能匹配（扫码登录）") and data["assigned_at"]
        bad = api.get("/api/after-sales/tasks", params={"status": "nope"})
        assert bad.status_code == 400 and bad.json()["code"] == -1
        only = api.get(
            "/api/after-sales/tasks", params={"task_type": "扫码登录", "group": world["group"]}
        ).json()
    assert all(t["task_type"] == "扫码登录" for t in only["data"]["items"])
    # Nobody picked the user's request up: the assigned agent is reminded once (3 s at this scale).

    def reminded() -> bool:
        with hub.api() as api:
            history = api.get(f"/api/after-sales/tasks/{task['id']}").json()["data"]["history"]
        return any(h["event"] == "pickup_reminder" for h in history)

    wait_for(reminded, timeout=15)


def test_operator_conflict_sends_conciliation_and_marks_group(hub: HubProcess, world: dict[str, Any]) -> None:
    post(world, "运营老板", "@孙七 你到底做不做？赶紧去扫码，别磨蹭！", world["other"])
    tracking = task_of(hub, "孙七")
    assert tracking["kind"] == "tracking" and tracking["status"] == "waiting_user_response"
    message = post(world, "孙七", "凭什么这么凶，你们这什么态度，我不干了😡", world["other"])
    conciliation = wait_for(lambda: commands(hub, "conciliation", message), timeout=20)
    assert "我们马上配合他" in conciliation[0]["text"] and conciliation[0]["at_list"] == ["孙七"]
    with hub.api() as api:
        conflicts = api.get("/api/after-sales/conflicts", params={"status": "open"}).json()["data"]["items"]
        assert conflicts and conflicts[0]["state"] == "冲突调和中" and conflicts[0]["group"] == world["other"]
        groups = api.get("/groups")
        assert groups.status_code == 200 and "冲突 · 冲突调和中" in groups.text
        resolved = api.post(
            f"/api/after-sales/conflicts/{conflicts[0]['id']}/resolve", json={"resolution": "已安抚"}
        )
        assert resolved.status_code == 200 and resolved.json()["data"]["status"] == "resolved"


def test_daily_report_json_csv_xlsx(hub: HubProcess, world: dict[str, Any]) -> None:
    task_of(hub, "张三", status="completed")
    with hub.api() as api:
        report = api.get("/api/reports/daily-after-sales").json()["data"]
        assert report["created"] >= 4 and report["completed"] >= 1 and report["refused"] >= 1
        assert 0 < report["response_rate"] <= 1 and report["staff"]
        day = report["date"]
        csv_answer = api.get("/api/reports/daily-after-sales", params={"date": day, "format": "csv"})
        assert csv_answer.status_code == 200 and "text/csv" in csv_answer.headers["content-type"]
        assert "# 汇总" in csv_answer.text and "张三" in csv_answer.text
        xlsx = api.get("/api/reports/daily-after-sales", params={"date": day, "format": "xlsx"})
        assert xlsx.status_code == 200
        bad = api.get("/api/reports/daily-after-sales", params={"date": "2026-13-01"})
        assert bad.status_code == 400
        sent = api.post("/api/reports/daily-after-sales/send", params={"date": day})
        assert sent.status_code == 200 and sent.json()["data"]["sent"] is True
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["汇总", "售后人员", "任务明细", "重要事件"]
    assert wait_for(lambda: commands(hub, "report"))[0]["text"].startswith("📊 售后日报")


def test_screen_token_is_required_and_revocable(hub: HubProcess) -> None:
    refused = (401, 302, 303)  # pages answer an anonymous caller with the login redirect
    assert httpx.get(f"{hub.base_url}/after-sales/screen/data").status_code in refused
    assert (
        httpx.get(f"{hub.base_url}/after-sales/screen/data", params={"token": "scr_nope"}).status_code
        in refused
    )
    with hub.api() as api:
        assert api.get("/after-sales/screen/data").status_code == 200  # signed-in preview, no token
        created = api.post("/api/after-sales/screen-tokens", json={"name": "大厅"}).json()["data"]
    token = created["token"]
    data = httpx.get(f"{hub.base_url}/after-sales/screen/data", params={"token": token}).json()["data"]
    assert {"pending", "in_progress", "done_today", "satisfaction"} <= set(data["kpi"])
    page = httpx.get(f"{hub.base_url}/after-sales/screen", params={"token": token})
    assert page.status_code == 200 and "售后实时监控大屏" in page.text
    # The viewer token opens nothing else.
    assert httpx.get(f"{hub.base_url}/after-sales/", params={"token": token}).status_code in refused
    assert httpx.get(f"{hub.base_url}/api/after-sales/tasks", params={"token": token}).status_code == 401
    with hub.api() as api:
        api.post(f"/api/after-sales/screen-tokens/{created['id']}/revoke")
    assert (
        httpx.get(f"{hub.base_url}/after-sales/screen/data", params={"token": token}).status_code in refused
    )


def test_console_pages_render(hub: HubProcess, world: dict[str, Any]) -> None:
    task = task_of(hub, "张三", status="completed")
    with hub.api() as api:
        board = api.get("/after-sales/")
        assert board.status_code == 200, board.text
        assert all(label in board.text for label in ("待处理", "处理中", "已完成", "售后小王"))
        assert 'sse-connect="/events?topics=after_sales' in board.text
        filtered = api.get(
            "/after-sales/",
            params={"task_type": "绑定手机"},
            headers={"HX-Request": "true", "HX-Target": "board"},
        )
        assert filtered.status_code == 200 and "王五" in filtered.text and "张三" not in filtered.text
        detail = api.get(f"/after-sales/tasks/{task['id']}")
        assert detail.status_code == 200 and "状态历史" in detail.text and "user_responded" in detail.text
        staff = api.get("/after-sales/staff")
        assert staff.status_code == 200 and "售后小李" in staff.text
        staff_id = next(
            s["id"]
            for s in api.get("/api/after-sales/staff").json()["data"]["items"]
            if s["name"] == "售后小李"
        )
        form = [
            ("staff_id", str(staff_id)),
            ("skills", "绑定手机"),
            ("skills", "发作品"),
            ("status_override", "busy"),
            ("work_start", "08:00"),
            ("work_end", "20:00"),
            ("active", "on"),
        ]
        saved = api.post("/after-sales/staff", content=urlencode(form), headers=FORM)
        assert saved.status_code == 200 and "已保存" in saved.text, saved.text
        li = next(s for s in api.get("/api/after-sales/staff").json()["data"]["items"] if s["id"] == staff_id)
        assert (
            li["skills"] == ["绑定手机", "发作品"] and li["status"] == "busy" and li["work_start"] == "08:00"
        )
        api.put(f"/api/after-sales/staff/{staff_id}", json={"status_override": "", "skills": ["绑定手机"]})
        bad = api.post("/after-sales/settings", content=urlencode({"report_time": "25:99"}), headers=FORM)
        assert "report_time" in bad.text
        settings = api.get("/after-sales/settings")
        assert settings.status_code == 200 and "大屏链接" in settings.text
        report = api.get("/reports/daily-after-sales")
        assert report.status_code == 200 and report.text.count("<svg") == 4 and "下载 Excel" in report.text


def test_embedded_sqlite_response_monitor(embedded_hub: HubProcess) -> None:
    group = "嵌入售后群"
    monitor = register_robot(embedded_hub, "monitor", "emb-as-monitor", [group])
    register_robot(embedded_hub, "day_reply", "emb-as-day", [group])
    register_robot(embedded_hub, "night_reply", "emb-as-night", [group])
    with embedded_hub.api() as api:
        api.post(
            "/api/people", json={"display_name": "售后阿强", "role": "after_sales", "skills": ["实名认证"]}
        )
    world = {"group": group, "robots": {"monitor": monitor}}
    post(world, "售后阿强", "@周八 麻烦做一下实名认证")
    task_of(embedded_hub, "周八", status="waiting_user_response")
    message = post(world, "周八", "好的马上")
    task = task_of(embedded_hub, "周八", user_response_status="responded")
    assert task["assigned_staff"] == "售后阿强"
    comfort = wait_for(lambda: commands(embedded_hub, "comfort", message))
    assert comfort[0]["at_list"] == ["周八"]


def test_signed_in_preview_of_the_screen_carries_no_token(hub: HubProcess) -> None:
    """Without a kiosk token the page must not hand its scripts the text "None" as one."""
    with hub.api() as api:
        page = api.get("/after-sales/screen")
        assert page.status_code == 200 and 'data-token=""' in page.text
        assert api.get("/after-sales/screen/data", params={"token": ""}).status_code == 200
