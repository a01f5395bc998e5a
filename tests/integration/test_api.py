"""JSON API contract: envelope, auth, filters and pagination, robots and people CRUD, probes."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import HubProcess, register_robot, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def hub(production_hub: HubProcess) -> HubProcess:
    return production_hub


def post_message(robot: dict[str, str], group: str, sender: str, text: str) -> str:
    answer = httpx.post(
        robot["message_url"],
        json={
            "spoken": text,
            "rawSpoken": text,
            "receivedName": sender,
            "groupName": group,
            "groupRemark": "",
            "roomType": 1,
            "atMe": False,
            "textType": 1,
        },
    )
    assert answer.status_code == 200
    return answer.headers["X-Hub-Message-Id"]


def test_api_requires_authentication(hub: HubProcess) -> None:
    for path in (
        "/api/messages",
        "/api/robots",
        "/api/people",
        "/api/messages/1",
        "/api/schema/openapi.json",
    ):
        answer = httpx.get(hub.base_url + path)
        assert answer.status_code == 401, path
        assert answer.json()["code"] == -1
    bad = httpx.get(hub.base_url + "/api/messages", headers={"Authorization": "Bearer nope-nope-nope-nope"})
    assert bad.status_code == 401


def test_console_pages_redirect_to_login(hub: HubProcess) -> None:
    for path in ("/", "/messages", "/robots", "/people", "/audit"):
        answer = httpx.get(hub.base_url + path)
        assert answer.status_code in (302, 303, 307), path
        assert answer.headers["location"].startswith("/login?next=")


def test_probes(hub: HubProcess) -> None:
    assert httpx.get(hub.base_url + "/health").json() == {"status": "ok"}
    ready = httpx.get(hub.base_url + "/ready").json()
    assert ready["status"] == "ok" and ready["checks"] == {"database": "ok", "redis": "ok"}


def test_openapi_lists_the_contract(hub: HubProcess) -> None:
    with hub.api() as api:
        schema = api.get("/api/schema/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/messages",
        "/api/messages/{message_id}",
        "/api/robots",
        "/api/people",
        "/webhooks/worktool/{robot_id}/message",
        "/webhooks/worktool/{robot_id}/result",
    ):
        assert path in paths, path


def test_message_filters_and_pagination(hub: HubProcess, unique: str) -> None:
    robot = register_robot(hub)
    group = f"筛选群{unique}"
    ids = [post_message(robot, group, "张三" if i % 2 else "李四", f"第{i}条 {unique}") for i in range(5)]
    with hub.api() as api:
        wait_for(
            lambda: (
                api.get("/api/messages", params={"group": group, "status": "processed"}).json()["data"][
                    "total"
                ]
                == 5
            )
        )
        page = api.get("/api/messages", params={"group": group, "page": 2, "page_size": 2}).json()["data"]
        assert page["total"] == 5 and page["page"] == 2 and page["page_size"] == 2
        assert [item["id"] for item in page["items"]] == [int(ids[2]), int(ids[1])]
        by_sender = api.get("/api/messages", params={"group": group, "sender": "张三"}).json()["data"]
        assert by_sender["total"] == 2
        by_text = api.get("/api/messages", params={"q": f"第3条 {unique}"}).json()["data"]
        assert [i["id"] for i in by_text["items"]] == [int(ids[3])]
        by_robot = api.get("/api/messages", params={"robot": robot["robot_id"]}).json()["data"]
        assert by_robot["total"] == 5
        future = api.get("/api/messages", params={"group": group, "since": "2999-01-01T00:00"}).json()["data"]
        assert future["total"] == 0
        bad = api.get("/api/messages", params={"status": "weird"})
        assert bad.status_code == 400 and "status" in bad.json()["message"]
        bad_time = api.get("/api/messages", params={"since": "yesterday"})
        assert bad_time.status_code == 400
        assert api.get("/api/messages/999999999").status_code == 404


def test_robot_crud_returns_token_once(hub: HubProcess, unique: str) -> None:
    with hub.api() as api:
        created = api.post(
            "/api/robots", json={"robot_id": f"crud-{unique}", "name": "测试", "role": "night_reply"}
        )
        assert created.status_code == 201
        data = created.json()["data"]
        assert data["shift"] == "night" and len(data["token"]) >= 24
        assert data["callback_urls"]["message"].endswith(
            f"/webhooks/worktool/crud-{unique}/message?token=" + data["token"]
        )
        assert data["callback_urls"]["result"].endswith(f"/result?token={data['token']}")
        fetched = api.get(f"/api/robots/crud-{unique}").json()["data"]
        assert "token" not in fetched and "token_hash" not in fetched
        dup = api.post("/api/robots", json={"robot_id": f"crud-{unique}", "name": "x", "role": "monitor"})
        assert dup.status_code == 409
        bad = api.post("/api/robots", json={"robot_id": "x y", "name": "x", "role": "boss"})
        assert bad.status_code == 400
        changed = api.patch(
            f"/api/robots/crud-{unique}", json={"role": "day_reply", "groups": ["甲群", "乙群"]}
        )
        assert changed.json()["data"]["role"] == "day_reply" and changed.json()["data"]["groups"] == [
            "乙群",
            "甲群",
        ]
        rotated = api.post(f"/api/robots/crud-{unique}/rotate-token").json()["data"]
        assert rotated["token"] != data["token"]
        old = httpx.post(
            data["callback_urls"]["message"],
            json={
                "spoken": "a",
                "rawSpoken": "a",
                "receivedName": "b",
                "groupName": "甲群",
                "roomType": 1,
                "textType": 1,
            },
        )
        assert old.status_code == 401
        removed = api.delete(f"/api/robots/crud-{unique}")
        assert removed.json()["data"]["result"] == "deleted"
        assert api.get(f"/api/robots/crud-{unique}").status_code == 404


def test_robot_with_messages_is_deactivated_not_deleted(hub: HubProcess, unique: str) -> None:
    robot = register_robot(hub)
    post_message(robot, f"停用群{unique}", "甲", "一句话")
    with hub.api() as api:
        assert api.delete(f"/api/robots/{robot['robot_id']}").json()["data"]["result"] == "deactivated"
    refused = httpx.post(
        robot["message_url"],
        json={
            "spoken": "a",
            "rawSpoken": "a",
            "receivedName": "b",
            "groupName": "g",
            "roomType": 1,
            "textType": 1,
        },
    )
    assert refused.status_code == 401


def test_people_crud_and_validation(hub: HubProcess, unique: str) -> None:
    with hub.api() as api:
        created = api.post(
            "/api/people",
            json={
                "display_name": f"售后{unique}",
                "aliases": ["小雨", "小雨"],
                "role": "after_sales",
                "group": None,
                "skills": ["扫码登录"],
            },
        )
        assert created.status_code == 201
        person = created.json()["data"]
        assert person["aliases"] == ["小雨"] and person["group"] is None and person["skills"] == ["扫码登录"]
        dup = api.post("/api/people", json={"display_name": f"售后{unique}", "role": "user"})
        assert dup.status_code == 409
        assert api.post("/api/people", json={"display_name": "", "role": "user"}).status_code == 400
        assert api.post("/api/people", json={"display_name": "x", "role": "boss"}).status_code == 400
        assert api.post("/api/people", json={"display_name": "x"}).status_code == 400
        patched = api.patch(f"/api/people/{person['id']}", json={"role": "assistant"}).json()["data"]
        assert patched["role"] == "assistant"
        listed = api.get("/api/people", params={"q": unique}).json()["data"]
        assert listed["total"] == 1
        assert api.delete(f"/api/people/{person['id']}").status_code == 200
        assert api.get(f"/api/people/{person['id']}").status_code == 404


def test_changes_are_audited(hub: HubProcess, unique: str) -> None:
    register_robot(hub, robot_id=f"audit-{unique}")
    from sqlalchemy import create_engine, text

    engine = create_engine(hub.env["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT actor, action FROM audit_log WHERE target = :t"), {"t": f"audit-{unique}"}
        ).all()
    engine.dispose()
    assert ("api", "robot.create") in [tuple(r) for r in rows]


def test_api_docs_load_nothing_from_the_internet(hub: HubProcess) -> None:
    with hub.api() as api:
        page = api.get("/api/schema/swagger")
    assert page.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page.text
    assert "http://" not in page.text and "https://" not in page.text
