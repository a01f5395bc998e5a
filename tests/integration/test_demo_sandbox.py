"""The demo WorkTool sandbox (app/demo/sandbox.py): an embedded hub started like `make run` starts it
(HUB_DEMO_SANDBOX=1, WORKTOOL_API_BASE pointing at its own /sandbox/worktool), seeded with
`python -m app.cli seed-demo`, answers a user in a demo group and sees the reply confirmed.

seed-demo writes its credentials to var/demo_robots.json; the module keeps whatever file was there
and puts it back afterwards. HUB_TIME_SCALE=0.1 keeps the reply delay short; the hub's TZ is chosen
so that its local time is midday (the day reply robot answers)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.admin_tasks import DEMO_CREDENTIALS
from app.demo.data import GROUP_1
from app.demo.simulator import webhook_url
from tests.conftest import ROOT, HubProcess, free_port, hub_env, migrate, register_robot, wait_for
from tests.integration.test_replies import commands_for, logs, midday_tz, wait_command

pytestmark = pytest.mark.integration

SANDBOX = "/sandbox/worktool"


@pytest.fixture(scope="module")
def sandbox_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HubProcess, dict[str, str]]]:
    """(hub, robot_id → webhook token) for a seeded embedded hub with the sandbox on."""
    url = f"sqlite:///{tmp_path_factory.mktemp('sandbox') / 'hub.db'}"
    migrate(url)
    port = free_port()
    env = hub_env(
        url,
        None,
        PORT=str(port),
        HUB_DEMO_SANDBOX="1",
        WORKTOOL_API_BASE=f"http://127.0.0.1:{port}{SANDBOX}",
        HUB_TIME_SCALE="0.1",
        HUB_COMMAND_CONFIRM_SECONDS="30",  # 3 s: the rawMsg/list fallback test stays short
        TZ=midday_tz(),
    )
    saved = DEMO_CREDENTIALS.read_bytes() if DEMO_CREDENTIALS.exists() else None
    hub = HubProcess(env, port=port)
    try:
        seeded = subprocess.run(
            [sys.executable, "-m", "app.cli", "seed-demo"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert seeded.returncode == 0, seeded.stdout + seeded.stderr
        robots = json.loads(DEMO_CREDENTIALS.read_text(encoding="utf-8"))["robots"]
        hub.start_web()
        yield hub, {r["robot_id"]: r["token"] for r in robots}
    finally:
        hub.stop()
        if saved is None:
            DEMO_CREDENTIALS.unlink(missing_ok=True)
        else:
            DEMO_CREDENTIALS.write_bytes(saved)


def say(hub: HubProcess, tokens: dict[str, str], sender: str, text: str) -> int:
    """A user line in demo group 1, reported by the demo monitor robot."""
    body = {
        "spoken": text,
        "rawSpoken": text,
        "receivedName": sender,
        "groupName": GROUP_1,
        "groupRemark": "",
        "roomType": 1,
        "atMe": False,
        "textType": 1,
    }
    answer = httpx.post(
        webhook_url(hub.base_url, "demo-monitor", tokens["demo-monitor"]), json=body, timeout=5
    )
    assert answer.status_code == 200, answer.text
    return int(answer.headers["X-Hub-Message-Id"])


def sandbox_get(hub: HubProcess, path: str, **params: Any) -> dict[str, Any]:
    answer = httpx.get(f"{hub.base_url}{SANDBOX}{path}", params=params, timeout=5)  # no credentials
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_user_question_in_a_demo_group_is_answered_and_confirmed_by_callback(
    sandbox_hub: tuple[HubProcess, dict[str, str]],
) -> None:
    hub, tokens = sandbox_hub
    message_id = say(hub, tokens, "阿杰🏀", "请问收益什么时候结算？")
    try:
        (command,) = wait_for(lambda: commands_for(hub, message_id), timeout=20)
    except AssertionError:
        raise AssertionError(f"no reply command for message {message_id}\n{logs(hub)}") from None
    assert command["kind"] == "reply" and command["robot_id"] == "demo-day", command
    assert command["targets"] == [GROUP_1] and command["at_list"] == ["阿杰🏀"]
    done = wait_command(hub, command["id"], "succeeded")
    assert done["result"]["source"] == "callback" and done["attempts"] == 1, done
    assert done["result"]["success_list"] == [GROUP_1], done
    rows = sandbox_get(hub, "/robot/rawMsg/list", robotId="demo-day", messageId=done["worktool_message_id"])
    assert rows["code"] == 200, rows
    (row,) = rows["data"]
    assert row["rawSuccess"] == 0 and json.loads(row["successList"]) == [GROUP_1]
    sent = json.loads(row["rawMsg"])
    assert sent["type"] == 203 and sent["receivedContent"] == command["text"]
    assert "sandbox: demo-day" in logs(hub)


def test_robot_without_a_known_token_is_confirmed_through_raw_msg_list(
    sandbox_hub: tuple[HubProcess, dict[str, str]], unique: str
) -> None:
    hub, _ = sandbox_hub
    robot = register_robot(hub, "notify", f"extra-{unique}", [f"沙箱群{unique}"])
    with hub.api() as api:
        answer = api.post(
            "/api/commands",
            json={"robot_id": robot["robot_id"], "targets": [f"沙箱群{unique}"], "text": "测试"},
        )
    assert answer.status_code == 201, answer.text
    done = wait_command(hub, answer.json()["data"]["id"], "succeeded")
    assert done["result"]["source"] == "query", done
    assert sandbox_get(hub, "/robot/robotInfo/online", robotId=robot["robot_id"]) == {
        "code": 200,
        "message": "操作成功",
        "data": True,
    }


def test_sandbox_answers_worktool_errors_like_worktool(
    sandbox_hub: tuple[HubProcess, dict[str, str]],
) -> None:
    hub, _ = sandbox_hub
    send = f"{hub.base_url}{SANDBOX}/wework/sendRawMessage"
    no_robot = httpx.post(send, json={"socketType": 2, "list": [{"type": 203}]}, timeout=5)
    assert no_robot.status_code == 200 and no_robot.json()["code"] == 501011
    no_list = httpx.post(send, params={"robotId": "demo-day"}, json={"socketType": 2}, timeout=5)
    assert no_list.status_code == 200 and no_list.json()["code"] == 101011
    assert sandbox_get(hub, "/robot/rawMsg/list", robotId="nobody")["data"] == []


def test_without_the_flag_the_sandbox_is_not_mounted(embedded_hub: HubProcess) -> None:
    for client in (httpx.Client(base_url=embedded_hub.base_url, timeout=5), embedded_hub.api()):
        with client:
            assert client.get(f"{SANDBOX}/robot/robotInfo/online", params={"robotId": "x"}).status_code == 404
            answer = client.post(
                f"{SANDBOX}/wework/sendRawMessage",
                params={"robotId": "x"},
                json={"socketType": 2, "list": []},
            )
            assert answer.status_code == 404


def test_seeding_again_keeps_the_demo_robots_and_their_tokens(
    sandbox_hub: tuple[HubProcess, dict[str, str]],
) -> None:
    """`make run` seeds on every start: a second seed must not fail nor change the tokens."""
    hub, tokens = sandbox_hub
    again = subprocess.run(
        [sys.executable, "-m", "app.cli", "seed-demo"],
        cwd=ROOT,
        env=hub.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    robots = json.loads(DEMO_CREDENTIALS.read_text(encoding="utf-8"))["robots"]
    assert {r["robot_id"]: r["token"] for r in robots} == tokens
    assert all(r["message_url"].endswith(f"/message?token={r['token']}") for r in robots)
