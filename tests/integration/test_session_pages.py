"""User and group session pages over HTTP: lists, detail analytics, CSV export, corrections, live rows."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.understanding.training.corrections import load_corrections
from tests.conftest import ROOT, HubProcess, register_robot, wait_for

pytestmark = pytest.mark.integration

CSRF = re.compile(r'name="_csrf" value="([^"]+)"')
NEEDS_REPLY = {"chat_inquiry", "chat_after_sales", "chat_complaint", "chat_private_operation"}
SESSION_CSV_HEADER = [
    "时间", "发送者", "角色", "内容", "类型编码", "类型名称", "置信度", "情绪", "情绪分",
    "售后响应", "需介入", "介入类型", "工作人员已介入", "介入原因",
]  # fmt: skip
EXPORT_FIELDS = [
    "text",
    "sender_role",
    "field",
    "label",
    "old_value",
    "corrected_by",
    "corrected_at",
    "message_id",
    "open_task",
    "open_task_type",
    "context",
]


@pytest.fixture(scope="module", params=["embedded_hub", "production_hub"])
def hub(request: pytest.FixtureRequest) -> HubProcess:
    process: HubProcess = request.getfixturevalue(request.param)
    for args in (
        ["create-admin", "--password", "admin-pass-123"],
        ["create-user", "--username", "viewer1", "--password", "viewer-pass-123", "--role", "viewer"],
    ):
        subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            cwd=ROOT,
            env=process.env,
            capture_output=True,
            timeout=60,
        )
    return process


def login(
    hub: HubProcess, username: str = "admin", password: str = "admin-pass-123"
) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=hub.base_url, follow_redirects=False, timeout=15)
    token = CSRF.search(client.get("/login").text)
    assert token is not None
    answer = client.post("/login", data={"username": username, "password": password, "_csrf": token.group(1)})
    assert answer.status_code == 303, answer.text
    csrf = CSRF.search(client.get("/").text)
    assert csrf is not None
    return client, csrf.group(1)


def post(robot: dict[str, str], sender: str, text: str, group: str) -> int:
    body = {"spoken": text, "rawSpoken": text, "receivedName": sender, "groupName": group, "groupRemark": "",
            "roomType": 1, "atMe": False, "textType": 1}  # fmt: skip
    answer = httpx.post(robot["message_url"], json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    return int(answer.headers["X-Hub-Message-Id"])


def processed(hub: HubProcess, ids: list[int]) -> dict[int, dict[str, Any]]:
    with hub.api() as api:

        def done() -> dict[int, dict[str, Any]] | None:
            found = {i: api.get(f"/api/messages/{i}").json()["data"] for i in ids}
            return found if all(m["processing_status"] == "processed" for m in found.values()) else None

        return wait_for(done, timeout=30)


@dataclass
class World:
    group: str
    group_id: int
    user: str
    other: str
    staff: str
    robot: dict[str, str]
    messages: dict[int, dict[str, Any]]
    user_ids: list[int]
    reply_id: int

    @property
    def session_id(self) -> int:
        return int(self.messages[self.user_ids[0]]["session_id"])


@pytest.fixture(scope="module")
def world(hub: HubProcess) -> World:
    tag = re.sub(r"\W", "", hub.base_url)[-5:]
    group, user, other, staff = f"号主服务{tag}群", f"晴天{tag}", f"阿杰{tag}", f"客服小美{tag}"
    robot = register_robot(hub, "monitor", None, [group])
    with hub.api() as api:
        answer = api.post("/api/people", json={"display_name": staff, "role": "assistant", "group": group})
        assert answer.status_code == 201, answer.text
    first = post(robot, user, "请问收益一般什么时候结算？我的号还没到账", group)
    processed(hub, [first])
    reply = post(robot, staff, f"@{user} 每周一统一结算哦，请耐心等待", group)
    second = post(robot, user, "你们这平台太坑了，骗子吧，我要投诉！", group)
    third = post(robot, other, "大家早上好呀", group)
    messages = processed(hub, [first, reply, second, third])
    client, _ = login(hub)
    page = client.get("/groups", params={"q": group}).text
    found = re.search(r'data-group-id="(\d+)"', page)
    assert found, page
    return World(group, int(found.group(1)), user, other, staff, robot, messages, [first, second], reply)


def expected_stats(w: World) -> dict[str, Any]:
    mine = [w.messages[i] for i in w.user_ids]
    labelled = [m for m in mine if m["sentiment"]]
    content = [m for m in labelled if m["sentiment"]["label"] != "negative"]
    waiting = [m for m in mine if m["type"] in NEEDS_REPLY or m["intervention_needed"]]
    reply = w.messages[w.reply_id]
    # The staff reply (@-mentioning the user) came after the first message and within 30 minutes.
    answered = [m for m in waiting if m["id"] < reply["id"]]
    flagged = sum(1 for m in mine if m["intervention_needed"])
    return {
        "satisfaction": round(len(content) * 100 / len(labelled)) if labelled else None,
        "collaboration": round(len(answered) * 100 / len(waiting)) if waiting else None,
        "interventions": flagged + int(reply["is_staff_intervention"]),
    }


def tile(html: str, name: str) -> str:
    block = re.search(rf'id="stat-{name}".*?class="tile-value"[^>]*>([^<]*)<', html, re.S)
    assert block, html
    return block.group(1).strip()


def test_session_list_filters_and_pagination(hub: HubProcess, world: World) -> None:
    client, _ = login(hub)
    page = client.get("/sessions").text
    assert "用户会话" in page and world.user in page and world.other in page
    assert world.staff not in page  # staff sessions are not user sessions
    only = client.get("/sessions", params={"q": world.user}).text
    assert world.user in only and world.other not in only
    in_group = client.get("/sessions", params={"group": world.group_id}).text
    assert world.user in in_group and world.other in in_group
    assert f'href="/sessions/{world.session_id}"' in in_group
    flagged = any(world.messages[i]["intervention_needed"] for i in world.user_ids)
    needs = client.get("/sessions", params={"group": world.group_id, "has_intervention": "1"}).text
    assert (world.user in needs) is flagged and world.other not in needs
    last = world.messages[world.user_ids[-1]]["sentiment"]
    by_sentiment = client.get(
        "/sessions", params={"q": world.user, "sentiment": last["label"] if last else "none"}
    ).text
    assert world.user in by_sentiment
    empty = client.get("/sessions", params={"q": "不存在的用户名xyz"}).text
    assert "没有符合条件的会话" in empty
    bad = client.get("/sessions", params={"sentiment": "angry"})
    assert bad.status_code == 200 and "情绪筛选无效" in bad.text
    assert client.get("/sessions", params={"page_no": 2}).status_code == 200


def test_session_detail_info_analytics_and_timeline(hub: HubProcess, world: World) -> None:
    client, _ = login(hub)
    html = client.get(f"/sessions/{world.session_id}").text
    assert "用户会话详情" in html and world.user in html and world.group in html
    for message_id in (*world.user_ids, world.reply_id):
        assert f'id="sm-{message_id}"' in html  # the staff reply to this user is in the timeline
    other_id = next(i for i, m in world.messages.items() if m["sender"] == world.other)
    assert f'id="sm-{other_id}"' not in html
    stats = expected_stats(world)
    for name in ("satisfaction", "collaboration"):
        value = stats[name]
        assert tile(html, name) == (f"{value}%" if value is not None else "—"), name
    assert tile(html, "interventions") == str(stats["interventions"])
    assert "协同率 = 30 分钟内得到" in html  # the formula is on the page
    assert 'sse-connect="/events?topics=messages' in html and "sse:message.processed" in html
    for m in (world.messages[i] for i in world.user_ids):
        assert ("未识别" in html) if not m["type"] else (f'data-type="{m["type"]}"' in html)
    older = client.get(f"/sessions/{world.session_id}", params={"before": world.reply_id}).text
    assert f'id="sm-{world.user_ids[0]}"' in older and f'id="sm-{world.user_ids[1]}"' not in older
    assert "sse-connect" not in older and "回到最新消息" in older  # an older page is not live
    assert client.get("/sessions/999999").status_code == 404


def test_live_timeline_endpoint_returns_only_this_sessions_new_rows(hub: HubProcess, world: World) -> None:
    client, _ = login(hub)
    newest = max(world.messages)
    fresh = post(world.robot, world.user, "好的收到，谢谢", world.group)
    noise = post(world.robot, world.other, "今天天气不错", world.group)
    processed(hub, [fresh, noise])
    rows = client.get(f"/sessions/{world.session_id}/timeline", params={"after": newest}).text
    assert f'id="sm-{fresh}"' in rows and f'id="sm-{noise}"' not in rows
    assert "<html" not in rows
    group_rows = client.get(f"/groups/{world.group_id}/messages", params={"after": newest}).text
    assert f'id="sm-{fresh}"' in group_rows and f'id="sm-{noise}"' in group_rows


def test_session_csv_export(hub: HubProcess, world: World) -> None:
    client, _ = login(hub)
    answer = client.get(f"/sessions/{world.session_id}/export.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0] == SESSION_CSV_HEADER
    by_text = {r[3]: r for r in rows[1:]}
    first = world.messages[world.user_ids[0]]
    row = by_text[first["text"]]
    assert row[1] == world.user and row[2] == "user"
    assert row[4] == (first["type"] or "") and row[10] == ("是" if first["intervention_needed"] else "否")
    reply = world.messages[world.reply_id]
    assert by_text["'" + reply["text"]][2] == "staff"  # "@…" is kept from running as a formula
    assert world.other not in {r[1] for r in rows[1:]}


def test_corrections_update_message_record_label_and_validate(hub: HubProcess, world: World) -> None:
    client, csrf = login(hub)
    target = world.user_ids[0]
    current = world.messages[target]["type"]
    new_type = "chat_after_sales" if current != "chat_after_sales" else "chat_inquiry"
    headers = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    answer = client.post(
        f"/messages/{target}/correct", data={"field": "message_type", "value": new_type}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert (
        f'id="sm-{target}"' in answer.text
        and "已更正" in answer.text
        and f'data-type="{new_type}"' in answer.text
    )
    new_label = (
        "positive" if (world.messages[target]["sentiment"] or {}).get("label") != "positive" else "neutral"
    )
    answer = client.post(
        f"/messages/{target}/correct", data={"field": "sentiment", "value": new_label}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    with hub.api() as api:
        message = api.get(f"/api/messages/{target}").json()["data"]
        assert message["type"] == new_type and message["confidence"] == 1.0
        assert message["sentiment"]["label"] == new_label
        listed = api.get("/api/corrections", params={"by": "admin", "page_size": 200}).json()
        assert listed["code"] == 0 and listed["message"] == "ok"
        data = listed["data"]
        assert {"items", "total", "page", "page_size"} <= set(data)
        mine = [c for c in data["items"] if c["message_id"] == target]
        fields = {c["field"]: c for c in mine}
        assert fields["message_type"]["label"] == new_type and fields["message_type"]["old_value"] == current
        assert fields["message_type"]["sender_role"] == "user" and fields["message_type"]["text"]
        assert fields["sentiment"]["label"] == new_label
        only_types = api.get("/api/corrections", params={"field": "message_type"}).json()["data"]["items"]
        assert all(c["field"] == "message_type" for c in only_types)
        assert api.get("/api/corrections", params={"field": "nope"}).status_code == 400

    def refused(field: str, value: str, message_id: int = target) -> str:
        bad = client.post(
            f"/messages/{message_id}/correct", data={"field": field, "value": value}, headers=headers
        )
        assert bad.status_code == 400, bad.text
        return bad.text

    assert "未知的消息类型编码" in refused("message_type", "no_such_type")
    assert "不适用于用户发送的消息" in refused("message_type", "staff_reply_user")
    assert "不适用于工作人员发送的消息" in refused("message_type", "chat_daily", world.reply_id)
    assert "未知的情绪标签" in refused("sentiment", "angry")
    assert "field 只能是" in refused("category", "user")
    assert "无需更正" in refused("message_type", new_type)
    missing = client.post(
        "/messages/999999/correct", data={"field": "sentiment", "value": "neutral"}, headers=headers
    )
    assert missing.status_code == 404
    no_csrf = client.post(f"/messages/{target}/correct", data={"field": "sentiment", "value": "negative"})
    assert no_csrf.status_code == 403
    viewer, viewer_csrf = login(hub, "viewer1", "viewer-pass-123")
    forbidden = viewer.post(
        f"/messages/{target}/correct",
        data={"field": "sentiment", "value": "negative"},
        headers={"X-CSRF-Token": viewer_csrf, "HX-Request": "true"},
    )
    assert forbidden.status_code == 403
    assert '/correct"' not in viewer.get(f"/sessions/{world.session_id}").text  # no correction forms

    page = client.get("/corrections", params={"field": "message_type"}).text
    assert "消息更正" in page and f"#{target}" in page
    audit = client.get("/audit").text
    assert "message.correct" in audit


def test_corrections_export_labelled_data(hub: HubProcess, world: World, tmp_path: Path) -> None:
    client, csrf = login(hub)
    target = world.user_ids[1]
    headers = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    for value in ("chat_daily", "chat_complaint"):  # two corrections: the export keeps the latest
        client.post(
            f"/messages/{target}/correct", data={"field": "message_type", "value": value}, headers=headers
        )
    lines = client.get("/corrections/export.jsonl").text.splitlines()
    records = [json.loads(line) for line in lines]
    assert records and all(list(r) == EXPORT_FIELDS for r in records)
    latest = [r for r in records if r["message_id"] == target and r["field"] == "message_type"]
    assert len(latest) == 1 and latest[0]["label"] == "chat_complaint" and latest[0]["text"]
    # With what the classifier saw: the group's lines before the message, and the open task (none here).
    assert [(line["role"], line["content"][:6]) for line in latest[0]["context"]] == [
        ("user", "请问收益一般"),
        ("staff", f"@{world.user}"[:6]),
    ]
    assert latest[0]["open_task"] is False and latest[0]["open_task_type"] is None
    history = [json.loads(x) for x in client.get("/corrections/export.jsonl?history=true").text.splitlines()]
    assert len([r for r in history if r["message_id"] == target and r["field"] == "message_type"]) >= 2
    answer = client.get("/corrections/export.csv", params={"field": "message_type"})
    assert answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0] == EXPORT_FIELDS and all(r[2] == "message_type" for r in rows[1:])
    assert "attachment" in answer.headers["content-disposition"]

    # The exports are what retraining reads (make train CORRECTIONS=…).
    exported = tmp_path / "corrections.jsonl"
    exported.write_bytes(client.get("/corrections/export.jsonl?history=true").content)
    as_csv = tmp_path / "corrections.csv"
    as_csv.write_bytes(answer.content)
    for path in (exported, as_csv):
        row = next(r for r in load_corrections([path]).types if r["id"] == f"k{target}")
        assert row["type"] == "chat_complaint" and row["context"] == latest[0]["context"]


def classified_with(hub: HubProcess, message_id: int) -> str:
    processed(hub, [message_id])
    with hub.api() as api:
        runs = api.get(f"/api/messages/{message_id}/trace").json()["data"]["runs"]
    return str(next(s for s in runs[-1]["steps"] if s["node"] == "classify")["output"]["model"])


def test_retraining_from_corrections_in_the_console(hub: HubProcess, world: World) -> None:
    viewer, viewer_csrf = login(hub, "viewer1", "viewer-pass-123")
    answer = viewer.post("/corrections/retrain", headers={"X-CSRF-Token": viewer_csrf, "HX-Request": "true"})
    assert answer.status_code == 403
    client, csrf = login(hub)
    headers = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    client.post(
        f"/messages/{world.user_ids[0]}/correct",
        data={"field": "message_type", "value": "chat_complaint"},
        headers=headers,
    )
    started = client.post("/corrections/retrain", headers=headers)
    assert started.status_code == 200, started.text
    found = re.search(r"已开始训练 #(\d+)", started.text)
    assert found, started.text
    model_id = int(found.group(1))

    def finished() -> str | None:
        fragment = client.get("/corrections/models").text
        row = re.search(rf'data-model="{model_id}" data-status="(\w+)".*?</tr>', fragment, re.S)
        assert row, fragment
        return row.group(0) if row.group(1) != "training" else None

    row = wait_for(finished, timeout=120)
    assert 'data-status="ready"' in row, row
    assert re.search(r"\d+\.\d% / \d+\.\d%", row), row  # held-out accuracy, new and shipped
    assert classified_with(hub, post(world.robot, world.other, "今天天气不错", world.group)) == "shipped"

    missing = client.post("/corrections/models/999999/activate", headers=headers).text
    assert "模型 #999999 不存在" in missing
    switched = client.post(f"/corrections/models/{model_id}/activate", headers=headers).text
    assert f"重新训练的模型 #{model_id}" in switched and "使用中" in switched
    message = post(world.robot, world.other, "周末大家去哪玩", world.group)
    assert classified_with(hub, message) == f"retrained:{model_id}"
    with hub.api() as api:
        data = api.post("/api/messages/identify-type", json={"message": "请问什么时候结算"}).json()["data"]
    assert data["model"] == f"retrained:{model_id}" and data["type"] == "chat_inquiry"

    back = client.post("/corrections/models/shipped/activate", headers=headers).text
    assert "已改用内置模型" in back
    assert classified_with(hub, post(world.robot, world.other, "晚安各位", world.group)) == "shipped"
    audit = client.get("/audit").text
    assert "model.retrain" in audit and "model.activate" in audit


def test_group_pages(hub: HubProcess, world: World) -> None:
    client, _ = login(hub)
    listing = client.get("/groups", params={"q": world.group}).text
    row = re.search(rf'data-group-id="{world.group_id}".*?</tr>', listing, re.S)
    assert row, listing
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)
    total_today = re.sub(r"<[^>]+>", "", cells[1]).split("/")
    assert int(total_today[0]) >= 4 and int(total_today[1]) >= 4
    assert re.sub(r"<[^>]+>", "", cells[2]).strip() == "2"  # two users active today
    assert "没有名称包含" in client.get("/groups", params={"q": "不存在的群xyz"}).text
    detail = client.get(f"/groups/{world.group_id}").text
    assert "群会话详情" in detail and world.group in detail
    for name in (world.user, world.other, world.staff):
        assert name in detail
    assert detail.count('class="bar"') == 24 + 14
    hour_counts = [int(n) for n in re.findall(r'class="bar" title="[^"]*? · (\d+) 条"', detail)]
    assert sum(hour_counts[:24]) >= 4 and sum(hour_counts[24:]) >= 4
    assert 'hx-trigger="sse:message.processed"' in detail and "/groups/" in detail
    assert client.get("/groups/999999").status_code == 404
