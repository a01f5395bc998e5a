"""SSE: processed messages reach subscribers live; a reconnecting client catches up."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import API_TOKEN, HubProcess, register_robot

pytestmark = pytest.mark.integration


@pytest.fixture(params=["production", "embedded"])
def hub(request: pytest.FixtureRequest) -> HubProcess:
    return request.getfixturevalue(f"{request.param}_hub")


def events(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    event: dict[str, str] = {}
    for line in lines:
        if not line:
            if "data" in event:
                yield event
            event = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            event[key] = event.get(key, "") + value.lstrip(" ")


def post(robot: dict[str, str], group: str, text: str) -> str:
    answer = httpx.post(
        robot["message_url"],
        json={
            "spoken": text,
            "rawSpoken": text,
            "receivedName": "观察者",
            "groupName": group,
            "roomType": 1,
            "atMe": False,
            "textType": 1,
        },
    )
    return answer.headers["X-Hub-Message-Id"]


def stream(hub: HubProcess, **headers: str) -> httpx.Client:
    return httpx.Client(
        base_url=hub.base_url,
        timeout=httpx.Timeout(10.0),
        headers={"Authorization": f"Bearer {API_TOKEN}", **headers},
    )


def wait_for_message(lines: Iterator[str], message_id: str, kind: str = "message.new") -> dict[str, str]:
    for event in events(lines):
        if event.get("event") == kind and f'data-message-id="{message_id}"' in event["data"]:
            return event
    raise AssertionError("stream ended")


def test_processed_message_is_pushed_and_missed_ones_are_replayed(hub: HubProcess, unique: str) -> None:
    robot = register_robot(hub)
    group = f"实时群{unique}"
    with stream(hub) as client, client.stream("GET", "/events", params={"topics": "messages"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines).startswith(":")  # connected
        first_id = post(robot, group, "第一条")
        first = wait_for_message(lines, first_id)  # shown as soon as it is stored
        assert group in first["data"] and "第一条" in first["data"] and "role-" not in first["data"]
        processed = wait_for_message(lines, first_id, "message.processed")  # labels fill in
        assert 'hx-swap-oob="true"' in processed["data"] and "role-user" in processed["data"]
        resume_from = processed["id"]

    missed = [post(robot, group, f"断线期间{i}") for i in range(2)]
    after = post(robot, group, "重连之后")
    with (
        stream(hub, **{"Last-Event-ID": resume_from}) as client,
        client.stream("GET", "/events", params={"topics": "messages"}) as response,
    ):
        seen: set[str] = set()
        for event in events(response.iter_lines()):
            for message_id in [*missed, after]:
                if event.get("event") == "message.new" and f'data-message-id="{message_id}"' in event["data"]:
                    seen.add(message_id)
            assert f'data-message-id="{first_id}"' not in event["data"]
            if seen == {*missed, after}:
                break
    assert seen == {*missed, after}


def test_events_need_login_and_known_topics(hub: HubProcess) -> None:
    assert httpx.get(f"{hub.base_url}/events?topics=messages").status_code == 401
    with stream(hub) as client:
        bad = client.get("/events", params={"topics": "secrets"})
    assert bad.status_code == 400 and "topics" in bad.json()["message"]
