"""Async client for WorkTool's cloud API (WORKTOOL.md §2–§3): send, result query, online status.

No retries here: the command queue decides what happens after a failure. Every failure raises
WorkToolError with WorkTool's code (None for transport problems) and a Chinese message; `definite`
tells whether WorkTool certainly did not take the command (False: it may have, e.g. a read time-out).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.commands.config import command_settings
from app.commands.states import error_text
from app.config import get_settings
from app.errors import HubError

log = logging.getLogger(__name__)

OK_CODE = 200
TEXT_COMMAND = 203
SOCKET_TYPE = 2


class WorkToolError(HubError):
    status_code = 502
    default_message = "WorkTool 接口调用失败"

    def __init__(self, message: str, code: int | None = None, definite: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.definite = definite


@dataclass(frozen=True)
class RawMsgResult:
    """One row of rawMsg/list: the outcome of one executed command."""

    message_id: str
    raw_success: int
    error_reason: str = ""
    run_time: str | None = None
    time_cost: float | None = None
    success_list: list[str] = field(default_factory=list)
    fail_list: list[str] = field(default_factory=list)
    raw_msg: str = ""

    @property
    def ok(self) -> bool:
        return self.raw_success == 0


def text_command(targets: list[str], text: str, at_list: list[str] | None = None) -> dict[str, Any]:
    """A type 203 command: send `text` into each chat named in `targets`, @-mentioning `at_list`."""
    command: dict[str, Any] = {"type": TEXT_COMMAND, "titleList": list(targets), "receivedContent": text}
    if at_list:
        command["atList"] = list(at_list)
    return command


def send_body(commands: list[dict[str, Any]]) -> dict[str, Any]:
    return {"socketType": SOCKET_TYPE, "list": commands}


def _names(value: Any) -> list[str]:
    """successList/failList: a list in callbacks, a JSON string in rawMsg/list."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError:
            return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def parse_raw_msg_row(row: dict[str, Any]) -> RawMsgResult:
    cost = row.get("timeCost")
    return RawMsgResult(
        message_id=str(row.get("messageId") or ""),
        raw_success=int(row.get("rawSuccess") or 0),
        error_reason=str(row.get("errorReason") or ""),
        run_time=str(row["runTime"]) if row.get("runTime") else None,
        time_cost=float(cost) if isinstance(cost, int | float) else None,
        success_list=_names(row.get("successList")),
        fail_list=_names(row.get("failList")),
        raw_msg=str(row.get("rawMsg") or ""),
    )


class WorkToolClient:
    def __init__(self, api_base: str, timeout: float, transport: httpx.AsyncBaseTransport | None = None):
        self.api_base = api_base.rstrip("/")
        self.http = httpx.AsyncClient(
            base_url=self.api_base,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"Content-Type": "application/json"},
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def send_raw_message(self, robot_id: str, commands: list[dict[str, Any]]) -> str:
        """POST sendRawMessage; returns WorkTool's messageId for the command list."""
        data = await self._call("POST", "/wework/sendRawMessage", robot_id, json=send_body(commands))
        if not isinstance(data, str) or not data:
            raise WorkToolError("WorkTool 发送接口未返回 messageId", definite=False)
        return data

    async def raw_msg_list(
        self, robot_id: str, message_id: str | None = None, page: int = 1, size: int = 10
    ) -> list[RawMsgResult]:
        """GET rawMsg/list: results of executed commands; empty while not run yet."""
        params: dict[str, Any] = {"page": page, "size": size}
        if message_id:
            params["messageId"] = message_id
        data = await self._call("GET", "/robot/rawMsg/list", robot_id, params=params)
        rows = data if isinstance(data, list) else []
        return [parse_raw_msg_row(r) for r in rows if isinstance(r, dict)]

    async def robot_online(self, robot_id: str) -> bool:
        return bool(await self._call("GET", "/robot/robotInfo/online", robot_id))

    async def _call(self, method: str, path: str, robot_id: str, **kwargs: Any) -> Any:
        params = {"robotId": robot_id, **kwargs.pop("params", {})}
        try:
            response = await self.http.request(method, path, params=params, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise WorkToolError(f"无法连接 WorkTool（{self.api_base}）：{type(exc).__name__}") from exc
        except httpx.TimeoutException as exc:
            raise WorkToolError("WorkTool 应答超时，结果未知", definite=False) from exc
        except httpx.HTTPError as exc:
            raise WorkToolError(f"WorkTool 连接中断，结果未知：{type(exc).__name__}", definite=False) from exc
        if response.status_code != 200:
            raise WorkToolError(
                f"WorkTool 接口返回 HTTP {response.status_code}", definite=response.status_code < 500
            )
        try:
            answer = response.json()
        except ValueError as exc:
            raise WorkToolError("WorkTool 应答不是 JSON", definite=False) from exc
        code = answer.get("code") if isinstance(answer, dict) else None
        if code != OK_CODE:
            number = code if isinstance(code, int) else None
            message = str(answer.get("message") or "") if isinstance(answer, dict) else ""
            raise WorkToolError(error_text(number, message), code=number)
        return answer.get("data")


_clients: dict[int, WorkToolClient] = {}


def get_client() -> WorkToolClient:
    """The process's client for the running event loop (one connection pool per loop)."""
    loop_id = id(asyncio.get_running_loop())
    client = _clients.get(loop_id)
    if client is None:
        client = WorkToolClient(get_settings().worktool_api_base, command_settings().worktool_timeout)
        _clients.clear()  # a new loop (tests, restarts): the old pool belongs to a closed loop
        _clients[loop_id] = client
    return client


def set_client(client: WorkToolClient | None) -> None:
    """Use another client (tests with a mock transport)."""
    _clients.clear()
    if client is not None:
        _clients[id(asyncio.get_running_loop())] = client
