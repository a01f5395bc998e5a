"""WorkTool client wire shapes against a mock transport (no network)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from app.commands.worktool_client import WorkToolClient, WorkToolError, text_command

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler) -> tuple[WorkToolClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return WorkToolClient("http://worktool.test/", 10.0, transport=httpx.MockTransport(record)), seen


def answer(body: object, status: int = 200) -> Handler:
    return lambda _request: httpx.Response(status, json=body)


async def test_send_raw_message_posts_the_documented_body() -> None:
    wt, seen = client(answer({"code": 200, "message": "操作成功", "data": "msg-123"}))
    command = text_command(["测试群1"], "你好", ["张三"])
    assert await wt.send_raw_message("robot-1", [command]) == "msg-123"
    request = seen[0]
    assert request.method == "POST"
    assert request.url.path == "/wework/sendRawMessage"
    assert dict(request.url.params) == {"robotId": "robot-1"}
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "socketType": 2,
        "list": [{"type": 203, "titleList": ["测试群1"], "receivedContent": "你好", "atList": ["张三"]}],
    }


def test_text_command_without_mentions_has_no_at_list() -> None:
    assert text_command(["A群", "B群"], "hi") == {
        "type": 203,
        "titleList": ["A群", "B群"],
        "receivedContent": "hi",
    }


async def test_error_code_raises_with_code_and_chinese_message() -> None:
    wt, _ = client(answer({"code": 201102, "message": "发送失败"}))
    with pytest.raises(WorkToolError) as caught:
        await wt.send_raw_message("robot-1", [text_command(["群"], "x")])
    assert caught.value.code == 201102
    assert caught.value.definite  # WorkTool answered: it did not take the command
    assert caught.value.message == "消息发送失败（错误码 201102）"


async def test_missing_message_id_is_an_unknown_outcome() -> None:
    wt, _ = client(answer({"code": 200, "message": "操作成功", "data": None}))
    with pytest.raises(WorkToolError) as caught:
        await wt.send_raw_message("robot-1", [text_command(["群"], "x")])
    assert not caught.value.definite


async def test_http_error_status() -> None:
    wt, _ = client(answer({"oops": 1}, status=502))
    with pytest.raises(WorkToolError, match="HTTP 502") as caught:
        await wt.robot_online("robot-1")
    assert not caught.value.definite


async def test_read_timeout_is_unknown_and_connect_error_is_definite() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(WorkToolError, match="应答超时") as slow:
        await client(timeout)[0].send_raw_message("r", [text_command(["群"], "x")])
    assert not slow.value.definite and slow.value.code is None
    with pytest.raises(WorkToolError, match="无法连接 WorkTool") as down:
        await client(refused)[0].send_raw_message("r", [text_command(["群"], "x")])
    assert down.value.definite


async def test_raw_msg_list_parses_json_string_lists() -> None:
    row = {
        "messageId": "msg-1",
        "type": 203,
        "rawMsg": json.dumps({"type": 203, "titleList": ["测试群1"], "receivedContent": "你好"}),
        "rawSuccess": 0,
        "errorReason": "",
        "runTime": "2024-04-28T11:00:00",
        "timeCost": 1.5,
        "successList": '["测试群1"]',
        "failList": "[]",
        "apiSend": 1,
        "robotId": "robot-1",
    }
    wt, seen = client(answer({"code": 200, "message": "操作成功", "data": [row]}))
    (result,) = await wt.raw_msg_list("robot-1", "msg-1")
    assert result.ok and result.message_id == "msg-1" and result.success_list == ["测试群1"]
    assert result.fail_list == [] and result.time_cost == 1.5 and result.run_time == "2024-04-28T11:00:00"
    assert seen[0].url.path == "/robot/rawMsg/list"
    assert dict(seen[0].url.params) == {"robotId": "robot-1", "page": "1", "size": "10", "messageId": "msg-1"}


async def test_raw_msg_list_empty_means_not_run_and_failure_rows() -> None:
    wt, _ = client(answer({"code": 200, "message": "操作成功", "data": []}))
    assert await wt.raw_msg_list("robot-1", "msg-1") == []
    failed = {"messageId": "m", "rawSuccess": 201101, "errorReason": "找不到", "failList": '["群"]'}
    wt, _ = client(answer({"code": 200, "message": "操作成功", "data": [failed]}))
    (result,) = await wt.raw_msg_list("robot-1", "m")
    assert not result.ok and result.raw_success == 201101 and result.fail_list == ["群"]


async def test_robot_online() -> None:
    wt, seen = client(answer({"code": 200, "message": "操作成功", "data": False}))
    assert await wt.robot_online("robot-1") is False
    assert seen[0].url.path == "/robot/robotInfo/online" and seen[0].url.params["robotId"] == "robot-1"
