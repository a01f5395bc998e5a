"""The WorkTool stub speaks WorkTool's wire protocol over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.stubs.worktool_stub import WorkToolStub

ROBOT = "robot-1"
SEND = f"/wework/sendRawMessage?robotId={ROBOT}"
COMMAND = {"type": 203, "titleList": ["测试群1", "张三"], "receivedContent": "你好", "atList": ["张三"]}


def payload(*commands: dict[str, Any]) -> dict[str, Any]:
    return {"socketType": 2, "list": list(commands) or [COMMAND]}


class Receiver:
    """A minimal HTTP server on loopback that collects result callbacks."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        lines = head.split("\r\n")
        length = next(
            (
                int(v)
                for k, _, v in (line.partition(":") for line in lines[1:])
                if k.lower() == "content-length"
            ),
            0,
        )
        body = await reader.readexactly(length)
        self.received.put_nowait((lines[0].split(" ")[1], json.loads(body)))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        await writer.drain()
        writer.close()

    async def get(self) -> tuple[str, dict[str, Any]]:
        return await asyncio.wait_for(self.received.get(), 5)


@pytest.fixture(scope="module")
def stub() -> Iterator[WorkToolStub]:
    with WorkToolStub() as running:
        yield running


@pytest.fixture
async def api(stub: WorkToolStub) -> AsyncIterator[httpx.AsyncClient]:
    stub.reset()
    async with httpx.AsyncClient(base_url=stub.base_url, timeout=5) as client:
        yield client


@pytest.fixture
async def receiver(stub: WorkToolStub) -> AsyncIterator[Receiver]:
    recv = Receiver()
    server = await asyncio.start_server(recv.handle, "127.0.0.1", 0)
    recv.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/worktool/result?key=secret"
    yield recv
    server.close()
    await server.wait_closed()


async def send(api: httpx.AsyncClient, body: Any = None, url: str = SEND) -> dict[str, Any]:
    response = await api.post(url, json=payload() if body is None else body)
    assert response.status_code == 200
    return response.json()


async def raw_msg_list(api: httpx.AsyncClient, message_id: str) -> list[dict[str, Any]]:
    answer = (
        await api.get(
            "/robot/rawMsg/list", params={"robotId": ROBOT, "messageId": message_id, "page": 1, "size": 10}
        )
    ).json()
    assert answer["code"] == 200 and answer["message"] == "操作成功"
    return answer["data"]


async def test_send_answers_message_id_and_is_recorded(stub: WorkToolStub, api: httpx.AsyncClient) -> None:
    answer = await send(api)
    assert answer["code"] == 200 and answer["message"] == "操作成功"
    assert isinstance(answer["data"], str) and answer["data"]
    [sent] = stub.sent
    assert (sent.robot_id, sent.body, sent.message_id) == (ROBOT, payload(), answer["data"])
    assert abs(sent.time - time.time()) < 5
    [recorded] = (await api.get("/_stub/sent")).json()
    assert recorded["robot_id"] == ROBOT and recorded["body"] == payload()
    assert recorded["response"] == answer


async def test_result_callback_once_per_command(
    stub: WorkToolStub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    stub.set_callback_url(ROBOT, receiver.url)
    second = {"type": 203, "titleList": ["测试群2"], "receivedContent": "再见", "atList": []}
    message_id = (await send(api, payload(COMMAND, second)))["data"]
    (path1, first_cb), (path2, second_cb) = await receiver.get(), await receiver.get()
    assert path1 == path2 == "/worktool/result?key=secret"
    assert set(first_cb) == {
        "messageId",
        "type",
        "rawMsg",
        "errorCode",
        "errorReason",
        "runTime",
        "timeCost",
        "successList",
        "failList",
    }
    assert first_cb["messageId"] == second_cb["messageId"] == message_id
    assert json.loads(first_cb["rawMsg"]) == COMMAND and json.loads(second_cb["rawMsg"]) == second
    assert (first_cb["type"], first_cb["errorCode"], first_cb["errorReason"]) == (203, 0, "")
    assert first_cb["successList"] == ["测试群1", "张三"] and first_cb["failList"] == []
    assert second_cb["successList"] == ["测试群2"]
    assert abs(first_cb["runTime"] - time.time() * 1000) < 5000
    assert isinstance(first_cb["timeCost"], float)
    await stub.wait_callbacks(2)
    assert [c["status"] for c in stub.callbacks] == [200, 200]


async def test_raw_msg_list_empty_until_run(stub: WorkToolStub, api: httpx.AsyncClient) -> None:
    stub.configure(ROBOT, hold=True)
    message_id = (await send(api))["data"]
    assert await raw_msg_list(api, message_id) == []
    stub.release(ROBOT)
    await stub.wait_executed(message_id)
    [row] = await raw_msg_list(api, message_id)
    assert set(row) == {
        "messageId",
        "type",
        "rawMsg",
        "rawSuccess",
        "errorReason",
        "runTime",
        "timeCost",
        "successList",
        "failList",
        "apiSend",
        "robotId",
    }
    assert (row["messageId"], row["type"], row["rawSuccess"], row["robotId"]) == (message_id, 203, 0, ROBOT)
    assert json.loads(row["rawMsg"]) == COMMAND
    assert json.loads(row["successList"]) == ["测试群1", "张三"] and json.loads(row["failList"]) == []
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", row["runTime"])


async def test_execution_failure_fills_fail_list(
    stub: WorkToolStub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    stub.configure(ROBOT, callback_url=receiver.url, exec_error_code=201101, exec_error_times=1)
    failed_id = (await send(api))["data"]
    _, callback = await receiver.get()
    assert (callback["messageId"], callback["errorCode"]) == (failed_id, 201101)
    assert callback["errorReason"] and callback["successList"] == []
    assert callback["failList"] == ["测试群1", "张三"]
    [row] = await raw_msg_list(api, failed_id)
    assert row["rawSuccess"] == 201101 and json.loads(row["failList"]) == ["测试群1", "张三"]
    await send(api)  # the failure was for one command only
    _, callback = await receiver.get()
    assert callback["errorCode"] == 0


async def test_send_error_for_next_n_sends(stub: WorkToolStub, api: httpx.AsyncClient) -> None:
    stub.configure(ROBOT, send_error_code=501011, send_error_times=2)
    assert await send(api) == {"code": 501011, "message": "robotId错误"}
    assert await send(api) == {"code": 501011, "message": "robotId错误"}
    assert (await send(api))["code"] == 200
    assert [s.message_id is None for s in stub.sent] == [True, True, False]


async def test_config_over_http_global_and_per_robot(api: httpx.AsyncClient) -> None:
    answer = (
        await api.post("/_stub/config", json={"send_error_code": 201102, "send_error_message": "发送失败"})
    ).json()
    assert answer["code"] == 200 and answer["data"]["send_error_code"] == 201102
    await api.post("/_stub/config", json={"robot_id": "robot-2", "send_error_code": None})
    for _ in range(2):
        assert await send(api) == {"code": 201102, "message": "发送失败"}
    assert (await send(api, url="/wework/sendRawMessage?robotId=robot-2"))["code"] == 200
    bad = await api.post("/_stub/config", json={"no_such_field": 1})
    assert bad.status_code == 400
    assert (await api.post("/_stub/reset")).json()["code"] == 200
    assert (await send(api))["code"] == 200
    assert len((await api.get("/_stub/sent")).json()) == 1


async def test_no_callback_means_query_only(
    stub: WorkToolStub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    stub.configure(ROBOT, callback_url=receiver.url, callback=False)
    message_id = (await send(api))["data"]
    await stub.wait_executed(message_id)
    assert stub.callbacks == [] and receiver.received.empty()
    [row] = await raw_msg_list(api, message_id)
    assert row["rawSuccess"] == 0


async def test_slow_answer_still_executes(stub: WorkToolStub, api: httpx.AsyncClient) -> None:
    stub.configure(answer_delay=0.2)
    with pytest.raises(httpx.ReadTimeout):
        await api.post(SEND, json=payload(), timeout=0.05)
    [sent] = await stub.wait_sent(1)
    assert sent.message_id is not None
    await stub.wait_executed(sent.message_id)
    started = time.monotonic()
    online = (await api.get("/robot/robotInfo/online", params={"robotId": ROBOT})).json()
    assert online["data"] is True and time.monotonic() - started >= 0.2


async def test_offline_robot(stub: WorkToolStub, api: httpx.AsyncClient, receiver: Receiver) -> None:
    stub.configure(ROBOT, online=False, callback_url=receiver.url)
    online = (await api.get("/robot/robotInfo/online", params={"robotId": ROBOT})).json()
    assert online == {"code": 200, "message": "操作成功", "data": False}
    info = (await api.get("/robot/robotInfo/get", params={"robotId": ROBOT})).json()
    assert info["code"] == 200 and info["data"]["robotId"] == ROBOT and info["data"]["online"] is False
    assert info["data"]["callbackUrl"] == receiver.url
    message_id = (await send(api))["data"]  # accepted, but queued until the robot is back
    assert await raw_msg_list(api, message_id) == []
    stub.configure(ROBOT, online=True)
    _, callback = await receiver.get()
    assert callback["messageId"] == message_id and callback["errorCode"] == 0


async def test_bad_requests(stub: WorkToolStub, api: httpx.AsyncClient) -> None:
    assert await send(api, url="/wework/sendRawMessage") == {"code": 501011, "message": "robotId错误"}
    assert (await send(api, {"socketType": 2}))["code"] == 101011
    assert (await api.get("/robot/robotInfo/online")).json()["code"] == 501011
    assert (await api.get("/nope")).status_code == 404


async def test_unreachable_callback_is_recorded(stub: WorkToolStub, api: httpx.AsyncClient) -> None:
    stub.set_callback_url(ROBOT, "http://127.0.0.1:9/closed")
    await send(api)
    [record] = await stub.wait_callbacks(1)
    assert record["status"] is None and record["error"]


async def test_standalone_process(receiver: Receiver) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.stubs.worktool_stub",
        "--port",
        "0",
        "--exec-delay",
        "0",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
        base_url = line.split(" on ")[1].strip()
        async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
            await client.post("/_stub/config", json={"robot_id": ROBOT, "callback_url": receiver.url})
            message_id = (await send(client))["data"]
            _, callback = await receiver.get()
            assert callback["messageId"] == message_id
            [sent] = (await client.get("/_stub/sent")).json()
            assert sent["message_id"] == message_id
    finally:
        process.terminate()
        await process.wait()
