"""Loopback stub of WorkTool's cloud API (see /work/shared/spec/WORKTOOL.md), for tests and demos.

WorkTool endpoints (the wire shapes of the real cloud API):

- ``POST /wework/sendRawMessage?robotId=R`` with ``{"socketType":2,"list":[{...command...}]}`` answers
  ``{"code":200,"message":"操作成功","data":"<messageId>"}``. Failures answer
  ``{"code":<code>,"message":...}`` (no ``data``): 501011 when ``robotId`` is missing, 101011 when the
  body has no command list, or the configured ``send_error_code``.
- ``GET /robot/rawMsg/list?robotId=R&messageId=M&page=1&size=10`` answers ``{"code":200,"message":"操作成功",
  "data":[{messageId,type,rawMsg,rawSuccess,errorReason,runTime,timeCost,successList,failList,apiSend,
  robotId}]}`` with one row per executed command (``runTime`` like ``"2024-04-28T11:00:00"``, local time;
  ``successList``/``failList`` JSON strings; ``apiSend`` 1). ``data`` is ``[]`` until the commands ran.
  ``messageId`` is optional (all of the robot's rows).
- ``GET /robot/robotInfo/online?robotId=R`` answers ``{"code":200,"message":"操作成功","data":true|false}``.
- ``GET /robot/robotInfo/get?robotId=R`` answers ``{"code":200,"message":"操作成功","data":{"robotId":R,
  "name":"stub-R","online":true|false,"openCallback":1|0,"callbackUrl":<result callback url or null>}}``
  (the shape of ``data`` is this stub's choice).

After a successful send, each command of the list "runs" in order on a per-robot queue, ``exec_delay``
seconds after the send was answered, and (when ``callback`` is on and a ``callback_url`` is set) is
called back once, not retried: ``POST callback_url`` with ``{"messageId","type","rawMsg" (the command as a
JSON string),"errorCode" (0 success),"errorReason","runTime" (epoch ms),"timeCost" (float seconds),
"successList","failList"}`` (the command's ``titleList``; a failure puts all names in ``failList``).
Commands of an offline or held robot wait until it is online / released. ``timeCost`` is simulated.

Behaviour is configured per robot (overriding the global scope, overriding :data:`DEFAULTS`), from Python
(:meth:`WorkToolStub.configure`) or over HTTP (``POST /_stub/config`` with the same field names and an
optional ``robot_id``). Fields: ``callback_url``; ``callback`` (bool); ``exec_delay`` and ``answer_delay``
(seconds; the latter delays every WorkTool answer); ``online``; ``hold`` (commands wait for
:meth:`WorkToolStub.release` / ``POST /_stub/release``); ``send_error_code``/``send_error_message``/
``send_error_times`` (None = always, N = next N sends); ``exec_error_code``/``exec_error_reason``/
``exec_error_times`` (counted per command).

Control endpoints: ``POST /_stub/config``, ``POST /_stub/release`` (``{"robot_id":...}`` optional),
``POST /_stub/reset``, ``GET /_stub/sent`` (``[{"robot_id","body","time","message_id","response"}]``),
``GET /_stub/callbacks`` (``[{"url","body","status","error"}]``).

In-process: ``async with WorkToolStub() as stub: ...`` (or ``start()``/``stop()``, or ``with``) runs uvicorn
in a background thread on 127.0.0.1; ``stub.base_url`` is the ``api_base``. Standalone:
``python -m tests.stubs.worktool_stub --port 9100 [--callback-url URL] [--exec-delay S]``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import uvicorn

OK_MESSAGE = "操作成功"
ERROR_TEXTS: dict[int, str] = {
    101011: "数据格式错误",
    101012: "非法操作",
    101013: "无权限",
    201101: "未找到聊天窗口",
    201102: "发送失败",
    201103: "未找到按钮",
    201104: "未找到目标",
    201105: "转发失败",
    201106: "重复操作",
    201107: "文件下载失败",
    201108: "文件存储失败",
    501000: "机器人其他错误",
    501011: "robotId错误",
    501012: "robotKey错误",
    501013: "机器人重复登录",
}
DEFAULTS: dict[str, Any] = {
    "callback_url": None,
    "callback": True,
    "exec_delay": 0.0,
    "answer_delay": 0.0,
    "online": True,
    "hold": False,
    "send_error_code": None,
    "send_error_message": None,
    "send_error_times": None,
    "exec_error_code": None,
    "exec_error_reason": None,
    "exec_error_times": None,
}

Json = dict[str, Any]


@dataclass
class SentRequest:
    """One received ``sendRawMessage`` request; ``time`` is epoch seconds, ``message_id`` None on error."""

    robot_id: str
    body: Any
    time: float
    message_id: str | None
    response: Json


@dataclass
class _Request:
    query: dict[str, str]
    body: bytes
    after: list[Callable[[], None]] = field(default_factory=list)  # run once the answer is sent


@dataclass
class _Job:
    robot_id: str
    message_id: str
    commands: list[Any]
    due: float
    released: bool = False


@dataclass
class _Robot:
    queue: asyncio.Queue[_Job] = field(default_factory=asyncio.Queue)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    worker: asyncio.Task[None] | None = None


class WorkToolStub:
    """WorkTool cloud API on loopback; see the module docstring for the protocol and config fields."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", **config: Any) -> None:
        self.host, self.port = host, port
        self._config: dict[str | None, Json] = {None: {}}
        self._sent: list[SentRequest] = []
        self._callbacks: list[Json] = []
        self._results: list[Json] = []  # rawMsg/list rows, in run order
        self._pending: list[_Job] = []
        self._robots: dict[str, _Robot] = {}
        self._waiters: list[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._client: httpx.AsyncClient | None = None
        self._on_started: Callable[[], None] | None = None
        self.configure(**config)

    # ----- public Python API -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def sent(self) -> list[SentRequest]:
        return list(self._sent)

    @property
    def callbacks(self) -> list[Json]:
        return list(self._callbacks)

    def results(self, message_id: str | None = None) -> list[Json]:
        """rawMsg/list rows of executed commands (all, or those of one messageId)."""
        return [r for r in self._results if message_id in (None, r["messageId"])]

    def configure(self, robot_id: str | None = None, **fields: Any) -> None:
        """Set behaviour fields for one robot, or globally when ``robot_id`` is None."""
        unknown = set(fields) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown stub config fields: {sorted(unknown)}")
        self._on_loop(self._configure, robot_id, fields)

    def set_callback_url(self, robot_id: str, url: str | None) -> None:
        self.configure(robot_id, callback_url=url)

    def config(self, robot_id: str | None = None) -> Json:
        """Effective configuration of a robot (or the global one)."""
        return {name: self._get(robot_id, name) for name in DEFAULTS}

    def release(self, robot_id: str | None = None) -> None:
        """Let held commands (of one robot, or all) run; offline robots still wait to come online."""
        self._on_loop(self._release, robot_id)

    def reset(self) -> None:
        """Forget requests, results, callbacks, pending commands and all configuration."""
        self._on_loop(self._reset)

    async def wait_sent(self, count: int = 1, timeout: float = 5.0) -> list[SentRequest]:
        """Wait until at least ``count`` send requests were received."""
        await self._wait(lambda: len(self._sent) >= count, timeout)
        return self.sent

    async def wait_executed(self, message_id: str, commands: int = 1, timeout: float = 5.0) -> list[Json]:
        """Wait until ``commands`` commands of ``message_id`` ran (and their callbacks were attempted)."""
        await self._wait(
            lambda: (
                len(self.results(message_id)) >= commands
                and not any(
                    c["body"]["messageId"] == message_id and c["status"] is None and c["error"] is None
                    for c in self._callbacks
                )
            ),
            timeout,
        )
        return self.results(message_id)

    async def wait_callbacks(self, count: int = 1, timeout: float = 5.0) -> list[Json]:
        """Wait until at least ``count`` result callbacks were answered (or failed)."""
        await self._wait(
            lambda: sum(c["status"] is not None or c["error"] is not None for c in self._callbacks) >= count,
            timeout,
        )
        return self.callbacks

    def start(self) -> WorkToolStub:
        """Run the server in a background thread; returns once it accepts connections."""
        sock = self._bind()
        started = threading.Event()

        def run() -> None:
            try:
                asyncio.run(self.serve(sock, started.set, log_level="warning"))
            finally:
                started.set()

        self._thread = threading.Thread(target=run, name=f"worktool-stub-{self.port}", daemon=True)
        self._thread.start()
        started.wait(10)
        if self._loop is None:
            self.stop()
            raise RuntimeError("WorkTool stub did not start")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    async def __aenter__(self) -> WorkToolStub:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> WorkToolStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def serve(
        self,
        sock: socket.socket | None = None,
        on_started: Callable[[], None] | None = None,
        log_level: str = "info",
    ) -> None:
        """Serve on the current event loop until stopped (used by the thread and by ``__main__``)."""
        sock = sock or self._bind()
        self._on_started = on_started
        self._server = uvicorn.Server(
            uvicorn.Config(
                self._asgi, interface="asgi3", log_level=log_level, lifespan="on", timeout_graceful_shutdown=1
            )
        )
        await self._server.serve(sockets=[sock])

    # ----- plumbing ----------------------------------------------------------------------------------

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Without TCP_NODELAY, Nagle + delayed ACK add 40 ms to each answer (headers and body: two writes).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        return sock

    def _on_loop(self, fn: Callable[..., None], *args: Any) -> None:
        """Run a state change on the server loop (state is owned by it once running)."""
        loop = self._loop
        if loop is None or not loop.is_running() or self._in_loop():
            fn(*args)
            return
        done: concurrent.futures.Future[None] = concurrent.futures.Future()

        def call() -> None:
            try:
                done.set_result(fn(*args))
            except Exception as exc:  # surfaced to the caller
                done.set_exception(exc)

        loop.call_soon_threadsafe(call)
        done.result(5)

    def _in_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    async def _wait(self, predicate: Callable[[], Any], timeout: float) -> None:
        fut: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._waiters.append((predicate, fut))
        self._on_loop(self._notify)
        try:
            await asyncio.wait_for(asyncio.wrap_future(fut), timeout)
        finally:
            self._waiters = [w for w in self._waiters if w[1] is not fut]

    def _notify(self) -> None:
        for predicate, fut in list(self._waiters):
            if not fut.done() and predicate():
                fut.set_result(None)
        for robot in self._robots.values():
            robot.wake.set()

    def _get(self, robot_id: str | None, name: str) -> Any:
        for scope in (self._config.get(robot_id, {}), self._config[None]):
            if name in scope:
                return scope[name]
        return DEFAULTS[name]

    def _configure(self, robot_id: str | None, fields: Json) -> None:
        self._config.setdefault(robot_id, {}).update(fields)
        self._notify()

    def _release(self, robot_id: str | None) -> None:
        for job in self._pending:
            if robot_id in (None, job.robot_id):
                job.released = True
        self._notify()

    def _reset(self) -> None:
        for robot in self._robots.values():
            if robot.worker is not None:
                robot.worker.cancel()
        self._robots.clear()
        self._sent.clear()
        self._callbacks.clear()
        self._results.clear()
        self._pending.clear()
        self._config = {None: {}}
        self._notify()

    def _take_error(self, robot_id: str, kind: str) -> tuple[int, str] | None:
        """The configured ``<kind>_error_code`` (kind "send" or "exec") if it applies now; counts down."""
        code_key, times_key = f"{kind}_error_code", f"{kind}_error_times"
        text_key = "send_error_message" if kind == "send" else "exec_error_reason"
        scope = next((s for s in (self._config.get(robot_id, {}), self._config[None]) if code_key in s), None)
        if scope is None or not scope[code_key]:
            return None
        code, text, times = scope[code_key], scope.get(text_key), scope.get(times_key)
        if times is not None:
            if times <= 1:
                scope.pop(code_key)
                scope.pop(times_key)
            else:
                scope[times_key] = times - 1
            if times <= 0:
                return None
        return int(code), text or ERROR_TEXTS.get(int(code), "操作失败")

    # ----- ASGI --------------------------------------------------------------------------------------

    async def _asgi(
        self, scope: Json, receive: Callable[[], Awaitable[Json]], send: Callable[[Json], Awaitable[None]]
    ) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        request = _Request(
            {k: v[-1] for k, v in parse_qs(scope["query_string"].decode()).items()}, b"".join(chunks)
        )
        route = self._routes().get((scope["method"], scope["path"]))
        try:
            status, answer = (
                (404, {"code": 404, "message": "not found"}) if route is None else (200, await route(request))
            )
        except ValueError as exc:  # bad JSON / numbers in a request
            status, answer = 400, {"code": 400, "message": str(exc)}
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(answer, ensure_ascii=False).encode()})
        for action in request.after:
            action()

    async def _lifespan(
        self, receive: Callable[[], Awaitable[Json]], send: Callable[[Json], Awaitable[None]]
    ) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._loop = asyncio.get_running_loop()
                self._client = httpx.AsyncClient(timeout=5.0)
                await send({"type": "lifespan.startup.complete"})
                if self._on_started is not None:
                    self._on_started()
            elif message["type"] == "lifespan.shutdown":
                for robot in self._robots.values():
                    if robot.worker is not None:
                        robot.worker.cancel()
                self._robots.clear()
                if self._client is not None:
                    await self._client.aclose()
                self._loop = None
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _routes(self) -> dict[tuple[str, str], Callable[[_Request], Awaitable[Any]]]:
        return {
            ("POST", "/wework/sendRawMessage"): self._send_raw_message,
            ("GET", "/robot/rawMsg/list"): self._raw_msg_list,
            ("GET", "/robot/robotInfo/online"): self._robot_online,
            ("GET", "/robot/robotInfo/get"): self._robot_get,
            ("POST", "/_stub/config"): self._http_config,
            ("POST", "/_stub/release"): self._http_release,
            ("POST", "/_stub/reset"): self._http_reset,
            ("GET", "/_stub/sent"): self._http_sent,
            ("GET", "/_stub/callbacks"): self._http_callbacks,
        }

    # ----- WorkTool endpoints ------------------------------------------------------------------------

    async def _send_raw_message(self, request: _Request) -> Json:
        robot_id = request.query.get("robotId", "")
        try:
            body: Any = json.loads(request.body)
        except ValueError:
            body = request.body.decode(errors="replace")
        commands = body.get("list") if isinstance(body, dict) else None
        error = (501011, ERROR_TEXTS[501011]) if not robot_id else self._take_error(robot_id, "send")
        if error is None and (not isinstance(commands, list) or not commands):
            error = (101011, ERROR_TEXTS[101011])
        message_id = None
        if error is not None:
            answer: Json = {"code": error[0], "message": error[1]}
        else:
            message_id = uuid.uuid4().hex
            answer = {"code": 200, "message": OK_MESSAGE, "data": message_id}
            job = _Job(robot_id, message_id, list(commands or []), 0.0)
            self._pending.append(job)
            request.after.append(lambda: self._enqueue(job))
        self._sent.append(SentRequest(robot_id, body, time.time(), message_id, answer))
        self._notify()
        await asyncio.sleep(float(self._get(robot_id, "answer_delay")))
        return answer

    async def _robot_query(self, request: _Request) -> str | None:
        """Common part of the GET endpoints: the answer delay and the robotId (None if missing)."""
        robot_id = request.query.get("robotId", "")
        await asyncio.sleep(float(self._get(robot_id, "answer_delay")))
        return robot_id or None

    async def _raw_msg_list(self, request: _Request) -> Json:
        robot_id = await self._robot_query(request)
        if robot_id is None:
            return {"code": 501011, "message": ERROR_TEXTS[501011]}
        rows = [r for r in self.results(request.query.get("messageId")) if r["robotId"] == robot_id]
        page = max(int(request.query.get("page", 1)), 1)
        size = max(int(request.query.get("size", 10)), 1)
        return {"code": 200, "message": OK_MESSAGE, "data": rows[(page - 1) * size : page * size]}

    async def _robot_online(self, request: _Request) -> Json:
        robot_id = await self._robot_query(request)
        if robot_id is None:
            return {"code": 501011, "message": ERROR_TEXTS[501011]}
        return {"code": 200, "message": OK_MESSAGE, "data": bool(self._get(robot_id, "online"))}

    async def _robot_get(self, request: _Request) -> Json:
        robot_id = await self._robot_query(request)
        if robot_id is None:
            return {"code": 501011, "message": ERROR_TEXTS[501011]}
        online = bool(self._get(robot_id, "online"))
        data = {
            "robotId": robot_id,
            "name": f"stub-{robot_id}",
            "online": online,
            "openCallback": int(bool(self._get(robot_id, "callback"))),
            "callbackUrl": self._get(robot_id, "callback_url"),
        }
        return {"code": 200, "message": OK_MESSAGE, "data": data}

    # ----- control endpoints -------------------------------------------------------------------------

    async def _http_config(self, request: _Request) -> Json:
        fields = json.loads(request.body or b"{}")
        robot_id = fields.pop("robot_id", None)
        self.configure(robot_id, **fields)
        return {"code": 200, "message": OK_MESSAGE, "data": self.config(robot_id)}

    async def _http_release(self, request: _Request) -> Json:
        self.release(json.loads(request.body or b"{}").get("robot_id"))
        return {"code": 200, "message": OK_MESSAGE}

    async def _http_reset(self, request: _Request) -> Json:
        self.reset()
        return {"code": 200, "message": OK_MESSAGE}

    async def _http_sent(self, request: _Request) -> list[Json]:
        return [asdict(s) for s in self._sent]

    async def _http_callbacks(self, request: _Request) -> list[Json]:
        return self.callbacks

    # ----- execution ---------------------------------------------------------------------------------

    def _enqueue(self, job: _Job) -> None:
        if job not in self._pending:  # reset in the meantime
            return
        job.due = time.monotonic() + float(self._get(job.robot_id, "exec_delay"))
        robot = self._robots.get(job.robot_id)
        if robot is None:
            robot = self._robots[job.robot_id] = _Robot()
            robot.worker = asyncio.get_running_loop().create_task(self._work(job.robot_id, robot))
        robot.queue.put_nowait(job)

    async def _work(self, robot_id: str, robot: _Robot) -> None:
        while True:
            job = await robot.queue.get()
            await asyncio.sleep(max(job.due - time.monotonic(), 0.0))
            while not (self._get(robot_id, "online") and (job.released or not self._get(robot_id, "hold"))):
                robot.wake.clear()
                await robot.wake.wait()
            self._pending.remove(job)
            for command in job.commands:
                await self._run(job, command)

    async def _run(self, job: _Job, command: Any) -> None:
        names = _names(command)
        valid = isinstance(command, dict) and isinstance(command.get("type"), int)
        error = self._take_error(job.robot_id, "exec") if valid else (101011, ERROR_TEXTS[101011])
        code, reason = error or (0, "")
        ok, failed = (names, []) if code == 0 else ([], names)
        run_time, time_cost = time.time(), round(0.3 + 0.2 * len(names), 3)  # simulated phone time
        raw_msg = json.dumps(command, ensure_ascii=False)
        kind = command.get("type") if isinstance(command, dict) else None
        self._results.append(
            {
                "messageId": job.message_id,
                "type": kind,
                "rawMsg": raw_msg,
                "rawSuccess": code,
                "errorReason": reason,
                "runTime": datetime.fromtimestamp(run_time).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeCost": time_cost,
                "successList": json.dumps(ok, ensure_ascii=False),
                "failList": json.dumps(failed, ensure_ascii=False),
                "apiSend": 1,
                "robotId": job.robot_id,
            }
        )
        url = self._get(job.robot_id, "callback_url")
        if not (url and self._get(job.robot_id, "callback")):
            self._notify()
            return
        body = {
            "messageId": job.message_id,
            "type": kind,
            "rawMsg": raw_msg,
            "errorCode": code,
            "errorReason": reason,
            "runTime": int(run_time * 1000),
            "timeCost": time_cost,
            "successList": ok,
            "failList": failed,
        }
        record: Json = {"url": url, "body": body, "status": None, "error": None}
        self._callbacks.append(record)
        self._notify()
        assert self._client is not None
        try:
            record["status"] = (await self._client.post(url, json=body)).status_code
        except httpx.HTTPError as exc:
            record["error"] = repr(exc)
        self._notify()


def _names(command: Any) -> list[str]:
    if not isinstance(command, dict):
        return []
    names = command.get("titleList")
    return [str(n) for n in names] if isinstance(names, list) else []


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Loopback stub of the WorkTool cloud API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--callback-url", default=None, help="default result callback URL for all robots")
    parser.add_argument("--exec-delay", type=float, default=0.5, help="seconds before commands run")
    args = parser.parse_args(argv)
    stub = WorkToolStub(args.port, args.host, callback_url=args.callback_url, exec_delay=args.exec_delay)
    sock = stub._bind()
    asyncio.run(stub.serve(sock, lambda: print(f"WorkTool stub on {stub.base_url}", flush=True)))


if __name__ == "__main__":
    main()
