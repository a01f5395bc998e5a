"""Demo WorkTool sandbox: answers the hub's WorkTool calls on the hub itself, for `make run` only.

Mounted at ``/sandbox/worktool`` only when ``HUB_DEMO_SANDBOX=1`` (``make run`` sets it, together with
``WORKTOOL_API_BASE=http://127.0.0.1:$PORT/sandbox/worktool``, unless you set ``WORKTOOL_API_BASE``
yourself). It speaks WorkTool's cloud API as the hub's client expects (WORKTOOL.md §2–§3, the same
shapes as ``tests/stubs/worktool_stub.py``), so a fresh machine sees commands sent and confirmed
instead of failing against the unreachable real cloud with the demo's made-up robot ids:

- ``POST /wework/sendRawMessage?robotId=R`` → ``{"code":200,"message":"操作成功","data":"<messageId>"}``;
  501011 without ``robotId``, 101011 without a command list.
- ``GET /robot/rawMsg/list?robotId=R[&messageId=M]&page=1&size=10`` → one row per executed command
  (``successList``/``failList`` JSON strings, ``runTime`` local time), ``[]`` until it ran.
- ``GET /robot/robotInfo/online?robotId=R`` → ``data: true``; ``GET /robot/robotInfo/get`` → details.

About a second after a send (less when HUB_TIME_SCALE shortens the hub's confirmation wait), each
command "runs" successfully and is called back once to the hub's own
``/webhooks/worktool/{robot}/result?token=…``, with the robot's token from the credentials file the
demo seeder writes (``var/demo_robots.json``). A robot whose token is not there gets no callback:
the hub confirms its commands through rawMsg/list instead. Nothing reaches WeCom; every send is
logged as ``sandbox: …``. Never enable it in production.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from litestar import Controller, Request, get, post
from litestar.params import Parameter

from app import clock
from app.admin_tasks import DEMO_CREDENTIALS
from app.commands.config import command_settings
from app.config import Settings, get_settings

log = logging.getLogger(__name__)

PATH = "/sandbox/worktool"
PUBLIC_PATH = "^/sandbox/"  # like the webhooks: WorkTool (here the hub's own client) has no session
CREDENTIALS = DEMO_CREDENTIALS  # written by `python -m app.cli seed-demo`
EXEC_DELAY_SECONDS = 1.0
MAX_ROWS_PER_ROBOT = 500
OK_MESSAGE = "操作成功"

Json = dict[str, Any]


def exec_delay() -> float:
    """≈1 s, but well inside the hub's (scaled) wait for a result callback, so drills stay clean."""
    confirm = clock.scaled_seconds(command_settings().confirm_seconds)
    return min(EXEC_DELAY_SECONDS, confirm / 3) if confirm > 0 else 0.0


def robot_token(robot_id: str) -> str | None:
    """The robot's webhook token from the demo seeder's credentials file (re-read every time)."""
    try:
        data = json.loads(CREDENTIALS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    robots = data.get("robots") if isinstance(data, dict) else None
    for robot in robots if isinstance(robots, list) else []:
        if isinstance(robot, dict) and robot.get("robot_id") == robot_id and robot.get("token"):
            return str(robot["token"])
    return None


def _ok(data: Any) -> Json:
    return {"code": 200, "message": OK_MESSAGE, "data": data}


def _error(code: int, message: str) -> Json:
    return {"code": code, "message": message}


def _names(command: Any) -> list[str]:
    names = command.get("titleList") if isinstance(command, dict) else None
    return [str(n) for n in names] if isinstance(names, list) else []


class Sandbox:
    """Executed-command rows per robot and the pending executions (one process, in memory)."""

    def __init__(self) -> None:
        self.rows: dict[str, deque[Json]] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def accept(self, robot_id: str, commands: list[Any], hub_base: str) -> str:
        message_id = uuid.uuid4().hex
        for command in commands:
            text = str(command.get("receivedContent", "")) if isinstance(command, dict) else ""
            log.info(
                "sandbox: %s → %s: %s (messageId %s; not sent to WeCom)",
                robot_id,
                "、".join(_names(command)) or "?",
                " ".join(text.split())[:60],
                message_id,
            )
        task = asyncio.get_running_loop().create_task(self.execute(robot_id, message_id, commands, hub_base))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return message_id

    async def execute(self, robot_id: str, message_id: str, commands: list[Any], hub_base: str) -> None:
        await asyncio.sleep(exec_delay())
        lock = self.locks.setdefault(robot_id, asyncio.Lock())
        async with lock:  # a robot runs its commands one after another, like the phone does
            for command in commands:
                try:
                    await self.run(robot_id, message_id, command, hub_base)
                except Exception:
                    log.exception("sandbox: command of %s failed to run", robot_id)

    async def run(self, robot_id: str, message_id: str, command: Any, hub_base: str) -> None:
        names = _names(command)
        valid = isinstance(command, dict) and isinstance(command.get("type"), int)
        code, reason = (0, "") if valid else (101011, "数据格式错误")
        ok, failed = (names, []) if code == 0 else ([], names)
        run_time, time_cost = time.time(), round(0.3 + 0.2 * len(names), 3)
        raw_msg = json.dumps(command, ensure_ascii=False)
        kind = command.get("type") if isinstance(command, dict) else None
        rows = self.rows.setdefault(robot_id, deque(maxlen=MAX_ROWS_PER_ROBOT))
        rows.append(
            {
                "messageId": message_id,
                "type": kind,
                "rawMsg": raw_msg,
                "rawSuccess": code,
                "errorReason": reason,
                "runTime": datetime.fromtimestamp(run_time, get_settings().tz).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeCost": time_cost,
                "successList": json.dumps(ok, ensure_ascii=False),
                "failList": json.dumps(failed, ensure_ascii=False),
                "apiSend": 1,
                "robotId": robot_id,
            }
        )
        token = robot_token(robot_id)
        if token is None:
            log.info(
                "sandbox: %s ran messageId %s; no token for it in %s, so no result callback "
                "(the hub confirms it through rawMsg/list)",
                robot_id,
                message_id,
                CREDENTIALS,
            )
            return
        url = f"{hub_base}/webhooks/worktool/{quote(robot_id, safe='')}/result?token={quote(token, safe='')}"
        body = {
            "messageId": message_id,
            "type": kind,
            "rawMsg": raw_msg,
            "errorCode": code,
            "errorReason": reason,
            "runTime": int(run_time * 1000),
            "timeCost": time_cost,
            "successList": ok,
            "failList": failed,
        }
        try:
            async with httpx.AsyncClient(timeout=10.0) as client:
                answer = await client.post(url, json=body)
        except httpx.HTTPError as exc:
            log.warning("sandbox: result callback for %s failed: %r", message_id, exc)
            return
        if answer.status_code == 200:
            log.info("sandbox: %s confirmed messageId %s (result callback)", robot_id, message_id)
        else:
            log.warning(
                "sandbox: hub refused the result callback of %s (HTTP %s: %s); it will query rawMsg/list",
                robot_id,
                answer.status_code,
                answer.text[:200],
            )


SANDBOX = Sandbox()


class SandboxController(Controller):
    """WorkTool's cloud API, simulated on the hub itself (demo only; see the module docstring)."""

    path = PATH
    opt = {"public": True}
    tags = ["演示沙箱（WorkTool 模拟）"]
    include_in_schema = False

    @post("/wework/sendRawMessage", status_code=200)
    async def send_raw_message(
        self, request: Request[Any, Any, Any], robot_id: str = Parameter(query="robotId", default="")
    ) -> Json:
        try:
            body: Any = json.loads(await request.body())
        except ValueError:
            body = None
        commands = body.get("list") if isinstance(body, dict) else None
        if not robot_id:
            return _error(501011, "robotId错误")
        if not isinstance(commands, list) or not commands:
            return _error(101011, "数据格式错误")
        hub_base = str(request.base_url).rstrip("/")
        return _ok(SANDBOX.accept(robot_id, commands, hub_base))

    @get("/robot/rawMsg/list")
    async def raw_msg_list(
        self,
        robot_id: str = Parameter(query="robotId", default=""),
        message_id: str = Parameter(query="messageId", default=""),
        page: int = 1,
        size: int = 10,
    ) -> Json:
        if not robot_id:
            return _error(501011, "robotId错误")
        rows = [r for r in SANDBOX.rows.get(robot_id, ()) if message_id in ("", r["messageId"])]
        rows.reverse()  # newest first
        page, size = max(page, 1), max(size, 1)
        return _ok(rows[(page - 1) * size : page * size])

    @get("/robot/robotInfo/online")
    async def robot_online(self, robot_id: str = Parameter(query="robotId", default="")) -> Json:
        return _ok(True) if robot_id else _error(501011, "robotId错误")

    @get("/robot/robotInfo/get")
    async def robot_get(self, robot_id: str = Parameter(query="robotId", default="")) -> Json:
        if not robot_id:
            return _error(501011, "robotId错误")
        return _ok({"robotId": robot_id, "name": f"sandbox-{robot_id}", "online": True, "openCallback": 1})


def sandbox_routes(settings: Settings) -> list[type[Controller]]:
    """[SandboxController] when HUB_DEMO_SANDBOX is on, else nothing (the paths answer 404)."""
    if not settings.demo_sandbox:
        return []
    if not settings.worktool_api_base.endswith(PATH):
        log.warning(
            "sandbox: HUB_DEMO_SANDBOX=1 but WORKTOOL_API_BASE=%s does not point at %s; the hub's "
            "commands will not reach the sandbox",
            settings.worktool_api_base,
            PATH,
        )
    else:
        log.warning("sandbox: demo WorkTool sandbox on at %s; commands never reach WeCom", PATH)
    return [SandboxController]
