"""Message understanding through the real pipeline and the identify-type API contract."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import HubProcess, register_robot, wait_for

pytestmark = pytest.mark.integration

TYPE_FIELDS = {"type", "type_name", "category", "confidence", "reason", "sentiment", "after_sales_response"}


@pytest.fixture(params=["production", "embedded"])
def hub(request: pytest.FixtureRequest) -> HubProcess:
    return request.getfixturevalue(f"{request.param}_hub")


def post(robot: dict[str, str], group: str, sender: str, text: str) -> str:
    answer = httpx.post(
        robot["message_url"],
        json={
            "spoken": text,
            "rawSpoken": text,
            "receivedName": sender,
            "groupName": group,
            "roomType": 1,
            "atMe": False,
            "textType": 1,
        },
    )
    assert answer.status_code == 200
    return answer.headers["X-Hub-Message-Id"]


def processed(hub: HubProcess, message_id: str) -> dict[str, object] | None:
    with hub.api() as api:
        data = api.get(f"/api/messages/{message_id}").json()["data"]
    return data if data["processing_status"] == "processed" else None


def test_worker_stores_type_sentiment_response_and_intervention(hub: HubProcess, unique: str) -> None:
    robot = register_robot(hub)
    group = f"理解群{unique}"
    with hub.api() as api:
        api.post("/api/people", json={"display_name": f"售后{unique}", "role": "after_sales", "group": group})
    complaint = post(robot, group, "老王", "你们就是骗子！！钱到现在都没结，我要投诉😡")
    staff = post(robot, group, f"售后{unique}", "@老王 您好，结算的事我马上帮您查")
    data = wait_for(lambda: processed(hub, complaint))
    assert set(data) >= TYPE_FIELDS
    assert data["category"] == "user" and data["type"] == "chat_complaint"
    assert data["type_name"] == "用户投诉" and 0 < data["confidence"] <= 1 and data["reason"]
    assert data["sentiment"]["label"] == "negative" and data["sentiment"]["score"] < 0
    assert data["after_sales_response"] == "none"
    assert data["intervention_needed"] is True and data["intervention_kind"] == "complaint"
    reply = wait_for(lambda: processed(hub, staff))
    assert reply["sender_role"] == "staff" and reply["category"] == "staff"
    assert reply["is_staff_intervention"] is True and "老王" in reply["intervention_reason"]
    with hub.api() as api:
        runs = api.get(f"/api/messages/{complaint}/trace").json()["data"]["runs"]
    classify = next(s for s in runs[-1]["steps"] if s["node"] == "classify")
    assert classify["output"]["type"] == "chat_complaint" and classify["output"]["tier"] in ("model", "rules")


def test_name_patterns_mark_unregistered_staff(hub: HubProcess, unique: str) -> None:
    robot = register_robot(hub)
    message = post(robot, f"名称群{unique}", f"售后-小{unique}", "大家有问题随时找我")
    assert wait_for(lambda: processed(hub, message))["sender_role"] == "staff"


def test_types_catalogue(hub: HubProcess) -> None:
    with hub.api() as api:
        types = api.get("/api/messages/types").json()["data"]
    assert len(types) == 15
    assert {t["category"] for t in types} == {"user", "staff", "operator"}
    first = next(t for t in types if t["code"] == "chat_after_sales")
    assert first == {
        "code": "chat_after_sales",
        "name": "售后任务",
        "category": "user",
        "priority": 1,
        "description": first["description"],
    }


def test_identify_type_contract(hub: HubProcess) -> None:
    with hub.api() as api:
        answer = api.post(
            "/api/messages/identify-type",
            json={
                "message": "在的",
                "sender_role": "user",
                "open_task": True,
                "context": [{"role": "staff", "content": "@老王 麻烦扫一下码登录"}],
            },
        )
        assert answer.status_code == 200
        data = answer.json()["data"]
        assert set(data) >= TYPE_FIELDS
        assert data["after_sales_response"] == "response"
        assert set(data["sentiment"]) == {"label", "score"}
        assert data["category"] == "user"
        staff = api.post(
            "/api/messages/identify-type",
            json={"message": "@老王 明天记得把视频发了", "sender_role": "staff"},
        ).json()["data"]
        assert staff["category"] == "staff"
        answers = [
            api.post(
                "/api/messages/identify-type",
                json={"message": "弄好了", "open_task": True, "open_task_type": task_type},
            ).json()["data"]["type"]
            for task_type in ("发作品", "扫码登录")
        ]
        assert answers == ["chat_cooperation", "chat_after_sales"]
        for bad, needle in [
            ({"message": "好", "open_task": True, "open_task_type": "搬砖"}, "open_task_type"),
            ({"message": ""}, "不能为空"),
            ({"message": "长" * 2001}, "过长"),
            ({"message": "好", "sender_role": "boss"}, "sender_role"),
            ({}, "message"),
        ]:
            refused = api.post("/api/messages/identify-type", json=bad)
            assert refused.status_code == 400, bad
            assert refused.json()["code"] == -1 and needle in refused.json()["message"]
    assert httpx.post(f"{hub.base_url}/api/messages/identify-type", json={"message": "x"}).status_code == 401
