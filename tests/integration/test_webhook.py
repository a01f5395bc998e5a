"""Webhook → stored → processed, on both set-ups (PostgreSQL + Redis + arq worker; embedded SQLite)."""

from __future__ import annotations

import json
import secrets

import httpx
import pytest

from app.flows.definition import default_flow_order
from tests.conftest import HubProcess, register_robot, wait_for

pytestmark = pytest.mark.integration

ACCEPTED = {"code": 0, "message": "success", "data": {"type": 5000, "info": {"text": ""}}}


@pytest.fixture(params=["production", "embedded"])
def hub(request: pytest.FixtureRequest) -> HubProcess:
    return request.getfixturevalue(f"{request.param}_hub")


def body(group: str, sender: str = "仑哥", text: str = "你好", **extra: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "spoken": text,
        "rawSpoken": f"@me {text}",
        "receivedName": sender,
        "groupName": group,
        "groupRemark": f"{group}备注",
        "roomType": 1,
        "atMe": True,
        "textType": 1,
    }
    payload.update(extra)
    return payload


def processed(hub: HubProcess, message_id: str) -> dict[str, object] | None:
    with hub.api() as api:
        data = api.get(f"/api/messages/{message_id}").json()["data"]
    return data if data["processing_status"] == "processed" else None


def count(hub: HubProcess, group: str) -> int:
    with hub.api() as api:
        return int(api.get("/api/messages", params={"group": group, "page_size": 1}).json()["data"]["total"])


def test_message_is_stored_answered_exactly_and_processed(hub: HubProcess, unique: str) -> None:
    robot = register_robot(hub)
    group = f"测试群{unique}"
    answer = httpx.post(robot["message_url"], json=body(group))
    assert answer.status_code == 200
    assert answer.json() == ACCEPTED
    message_id = answer.headers["X-Hub-Message-Id"]
    data = wait_for(lambda: processed(hub, message_id))
    assert data["group"] == group
    assert data["sender"] == "仑哥"
    assert data["text"] == "你好"
    assert data["raw_text"] == "@me 你好"
    assert data["at_me"] is True
    assert data["sender_role"] == "user"
    assert data["processed_at"] is not None
    assert data["session_id"] is not None
    with hub.api() as api:
        trace = api.get(f"/api/messages/{message_id}/trace").json()["data"]["runs"]
    assert [s["node"] for s in trace[0]["steps"]] == default_flow_order()
    assert all(s["duration_ms"] >= 0 and s["error"] is None for s in trace[0]["steps"])


def test_form_data_is_accepted(hub: HubProcess, unique: str) -> None:
    robot = register_robot(hub)
    group = f"表单群{unique}"
    form = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in body(group, text="表单").items()}
    urlencoded = httpx.post(robot["message_url"], data=form)
    assert urlencoded.status_code == 200, urlencoded.text
    multipart = httpx.post(
        robot["message_url"],
        files={k: (None, v) for k, v in {**form, "spoken": "多部分", "rawSpoken": "多部分"}.items()},
    )
    assert multipart.status_code == 200, multipart.text
    data = wait_for(lambda: processed(hub, multipart.headers["X-Hub-Message-Id"]))
    assert data["text"] == "多部分" and data["room_type"] == 1 and data["at_me"] is True


def test_emoji_media_and_private_chat_are_stored_correctly(hub: HubProcess, unique: str) -> None:
    robot = register_robot(hub)
    group = f"表情群{unique}"
    emoji = httpx.post(robot["message_url"], json=body(group, sender="🌸花开富贵", text="好的👍😄"))
    media = httpx.post(robot["message_url"], json=body(group, text="", rawSpoken="", textType=2))
    private = httpx.post(robot["message_url"], json=body("", sender=f"私聊客户{unique}", roomType=2))
    assert {emoji.status_code, media.status_code, private.status_code} == {200}
    e = wait_for(lambda: processed(hub, emoji.headers["X-Hub-Message-Id"]))
    m = wait_for(lambda: processed(hub, media.headers["X-Hub-Message-Id"]))
    p = wait_for(lambda: processed(hub, private.headers["X-Hub-Message-Id"]))
    assert e["sender"] == "🌸花开富贵" and e["text"] == "好的👍😄"
    assert m["media_kind"] == "image" and m["text"] == ""
    assert p["is_private"] is True and p["group"] is None and p["session_id"] is not None


def test_wrong_token_or_unknown_robot_is_refused_and_nothing_stored(hub: HubProcess, unique: str) -> None:
    robot = register_robot(hub)
    group = f"拒绝群{unique}"
    wrong = httpx.post(robot["message_url"].replace(robot["token"], "wrong-token"), json=body(group))
    missing = httpx.post(robot["message_url"].split("?")[0], json=body(group))
    unknown = httpx.post(f"{hub.base_url}/webhooks/worktool/nobody/message?token=x", json=body(group))
    for answer in (wrong, missing, unknown):
        assert answer.status_code == 401
        assert answer.json()["code"] == -1 and answer.json()["message"]
        assert "X-Hub-Message-Id" not in answer.headers
    assert count(hub, group) == 0


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"{not json", "JSON"),
        (b"[1, 2]", "JSON 对象"),
        (b"", "为空"),
        (
            json.dumps(
                {"spoken": "x", "receivedName": "a", "groupName": "g", "roomType": "1", "textType": 1}
            ).encode(),
            "roomType",
        ),
        (
            json.dumps({"spoken": "x", "groupName": "g", "roomType": 1, "textType": 1}).encode(),
            "receivedName",
        ),
        (
            json.dumps({"spoken": "x", "receivedName": "a", "roomType": 1, "textType": 1}).encode(),
            "groupName",
        ),
        (
            json.dumps(
                {"spoken": "x", "receivedName": "a", "groupName": "g", "roomType": 9, "textType": 1}
            ).encode(),
            "roomType",
        ),
    ],
)
def test_bad_input_is_400_naming_the_problem(hub: HubProcess, content: bytes, fragment: str) -> None:
    robot = register_robot(hub)
    before = _total(hub)
    answer = httpx.post(robot["message_url"], content=content, headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["code"] == -1
    assert fragment in answer.json()["message"]
    assert _total(hub) == before


def test_body_over_64_kb_is_413_and_not_stored(hub: HubProcess, unique: str) -> None:
    robot = register_robot(hub)
    group = f"大包群{unique}"
    answer = httpx.post(robot["message_url"], json=body(group, text="长" * 30_000))
    assert answer.status_code == 413
    assert answer.json()["code"] == -1
    assert count(hub, group) == 0


def _total(hub: HubProcess) -> int:
    with hub.api() as api:
        return int(api.get("/api/messages", params={"page_size": 1}).json()["data"]["total"])


def test_same_message_from_several_robots_is_stored_once(hub: HubProcess, unique: str) -> None:
    group = f"去重群{unique}"
    first, second, third = (register_robot(hub, role) for role in ("monitor", "day_reply", "notify"))
    payload = body(group, text=f"同一句话{unique}")
    answers = [httpx.post(r["message_url"], json=payload) for r in (first, second, third)]
    ids = {a.headers["X-Hub-Message-Id"] for a in answers}
    assert all(a.status_code == 200 for a in answers)
    assert len(ids) == 1
    assert count(hub, group) == 1
    with hub.api() as api:
        data = api.get(f"/api/messages/{ids.pop()}").json()["data"]
    assert sorted(data["reported_by"]) == sorted(r["robot_id"] for r in (first, second, third))


def test_same_robot_repeating_words_means_two_messages(hub: HubProcess, unique: str) -> None:
    robot = register_robot(hub)
    group = f"重复群{unique}"
    a = httpx.post(robot["message_url"], json=body(group, text="在"))
    b = httpx.post(robot["message_url"], json=body(group, text="在"))
    assert a.headers["X-Hub-Message-Id"] != b.headers["X-Hub-Message-Id"]
    assert count(hub, group) == 2


def test_concurrent_reports_from_two_robots_are_stored_once(hub: HubProcess, unique: str) -> None:
    import concurrent.futures

    group = f"并发群{unique}"
    robots = [register_robot(hub), register_robot(hub, "day_reply")]
    payloads = [body(group, sender=f"用户{i}", text=f"并发消息{i}") for i in range(20)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda job: httpx.post(job[0]["message_url"], json=job[1]),
                [(r, p) for p in payloads for r in robots],
            )
        )
    assert all(a.status_code == 200 for a in answers)
    assert len({a.headers["X-Hub-Message-Id"] for a in answers}) == 20
    assert count(hub, group) == 20


def test_result_callback_is_stored(hub: HubProcess) -> None:
    robot = register_robot(hub)
    answer = httpx.post(
        robot["result_url"],
        json={
            "messageId": f"wt-{secrets.token_hex(4)}",
            "type": 203,
            "rawMsg": "{}",
            "errorCode": 0,
            "errorReason": "",
            "runTime": 1714273200000,
            "timeCost": 1.5,
            "successList": ["测试群1"],
            "failList": [],
        },
    )
    assert answer.status_code == 200
    assert answer.json()["code"] == 0
    assert answer.headers["X-Hub-Result-Id"].isdigit()
    bad = httpx.post(robot["result_url"], json={"errorCode": 0})
    assert bad.status_code == 400 and "messageId" in bad.json()["message"]


def test_registry_role_applies_to_later_messages(hub: HubProcess, unique: str) -> None:
    robot = register_robot(hub)
    group = f"角色群{unique}"
    before = httpx.post(robot["message_url"], json=body(group, sender="王总", text="先说一句"))
    wait_for(lambda: processed(hub, before.headers["X-Hub-Message-Id"]))
    with hub.api() as api:
        created = api.post(
            "/api/people",
            json={
                "display_name": "王总",
                "aliases": ["王老板"],
                "role": "operator",
                "group": group,
                "skills": [],
            },
        )
        assert created.status_code == 201, created.text
    after = httpx.post(robot["message_url"], json=body(group, sender="王老板", text="今天大家发作品"))
    data = wait_for(lambda: processed(hub, after.headers["X-Hub-Message-Id"]))
    assert data["sender_role"] == "operator"
    first = processed(hub, before.headers["X-Hub-Message-Id"])
    assert first is not None and first["sender_role"] == "user"
