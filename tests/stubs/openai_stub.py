"""Loopback stub of an OpenAI-compatible chat API (DeepSeek, Qwen, Kimi, OpenAI …), for tests and demos.

``POST /v1/chat/completions`` (and ``/chat/completions``) answers in the real response shape::

    {"id": "chatcmpl-…", "object": "chat.completion", "created": <epoch s>, "model": <request model>,
     "choices": [{"index": 0, "message": {"role": "assistant", "content": "<reply>"},
                  "finish_reason": "stop"}],
     "usage": {"prompt_tokens": n, "completion_tokens": n, "total_tokens": n}}

Errors answer ``{"error": {"message", "type", "code"}}`` like OpenAI does.

Behaviour (:meth:`OpenAIStub.configure` or ``POST /_stub/config`` with the same field names, overriding
:data:`DEFAULTS`):

- ``reply``: the assistant content; a dict/list is JSON-encoded, a string is sent verbatim (so invalid JSON
  or fenced JSON can be simulated).
- ``delay``: seconds before answering (a client that gives up earlier disconnects; the stub notices).
- ``status`` / ``status_times``: answer this HTTP status (500, 429, 400 …) instead, always (None) or for
  the next N requests only, then succeed.
- ``reject_response_format``: answer 400 to requests that carry ``response_format``.
- ``require_key``: answer 401 unless ``Authorization: Bearer <require_key>``.
- ``raw_body``: send this text as the whole HTTP body (status 200) instead of a chat.completion.

Requests are recorded (:attr:`OpenAIStub.requests`, ``GET /_stub/requests``); :meth:`OpenAIStub.wait_requests`
waits for them. ``POST /_stub/reset`` (or :meth:`reset`) forgets requests and configuration.

In-process: ``with OpenAIStub() as stub:`` (or ``async with``, or ``start()``/``stop()``) runs uvicorn in a
background thread on 127.0.0.1; ``stub.base_url`` ends in ``/v1``. Standalone:
``python -m tests.stubs.openai_stub --port 9200 [--reply JSON] [--delay S]``.
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
from dataclasses import asdict, dataclass
from typing import Any

import uvicorn

DEFAULT_REPLY: dict[str, Any] = {"type": "chat_inquiry", "confidence": 0.9, "reason": "用户在咨询服务问题"}
DEFAULTS: dict[str, Any] = {
    "reply": DEFAULT_REPLY,
    "delay": 0.0,
    "status": None,
    "status_times": None,
    "reject_response_format": False,
    "require_key": None,
    "raw_body": None,
}
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
}

Json = dict[str, Any]
Receive = Callable[[], Awaitable[Json]]
Send = Callable[[Json], Awaitable[None]]


@dataclass
class ChatRequest:
    """One received request; ``body`` is the decoded JSON (or the raw text when it is not JSON)."""

    path: str
    headers: dict[str, str]
    body: Any
    time: float
    status: int | None = None  # answered status; None while pending or when the client went away
    disconnected: bool = False

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


class OpenAIStub:
    """OpenAI-compatible chat API on loopback; see the module docstring for the config fields."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", **config: Any) -> None:
        self.host, self.port = host, port
        self._config: Json = {}
        self._requests: list[ChatRequest] = []
        self._waiters: list[tuple[Callable[[], bool], concurrent.futures.Future[None]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._on_started: Callable[[], None] | None = None
        self.configure(**config)

    # ----- public Python API -------------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI ``base_url`` (``…/v1``); the client appends ``/chat/completions``."""
        return f"{self.root_url}/v1"

    @property
    def requests(self) -> list[ChatRequest]:
        return list(self._requests)

    @property
    def request_count(self) -> int:
        return len(self._requests)

    def configure(self, **fields: Any) -> None:
        unknown = set(fields) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown stub config fields: {sorted(unknown)}")
        self._on_loop(self._configure, fields)

    def config(self) -> Json:
        return {name: self._config.get(name, DEFAULTS[name]) for name in DEFAULTS}

    def reset(self) -> None:
        """Forget requests and configuration."""
        self._on_loop(self._reset)

    async def wait_requests(self, count: int = 1, timeout: float = 5.0) -> list[ChatRequest]:
        """Wait until at least ``count`` chat requests were received."""
        await self._wait(lambda: len(self._requests) >= count, timeout)
        return self.requests

    async def wait_finished(self, count: int = 1, timeout: float = 5.0) -> list[ChatRequest]:
        """Wait until ``count`` requests were answered or abandoned by the client."""
        await self._wait(
            lambda: sum(r.status is not None or r.disconnected for r in self._requests) >= count, timeout
        )
        return self.requests

    def start(self) -> OpenAIStub:
        """Run the server in a background thread; returns once it accepts connections."""
        sock = self._bind()
        started = threading.Event()

        def run() -> None:
            try:
                asyncio.run(self.serve(sock, started.set, log_level="warning"))
            finally:
                started.set()

        self._thread = threading.Thread(target=run, name=f"openai-stub-{self.port}", daemon=True)
        self._thread.start()
        started.wait(10)
        if self._loop is None:
            self.stop()
            raise RuntimeError("OpenAI stub did not start")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    async def __aenter__(self) -> OpenAIStub:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> OpenAIStub:
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
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle + delayed-ACK 40 ms
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

    async def _wait(self, predicate: Callable[[], bool], timeout: float) -> None:
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

    def _get(self, name: str) -> Any:
        return self._config.get(name, DEFAULTS[name])

    def _configure(self, fields: Json) -> None:
        self._config.update(fields)
        self._notify()

    def _reset(self) -> None:
        self._requests.clear()
        self._config = {}
        self._notify()

    def _take_status(self) -> int | None:
        """The configured error status if it applies to this request; counts ``status_times`` down."""
        status = self._config.get("status")
        if not status:
            return None
        times = self._config.get("status_times")
        if times is not None:
            if times <= 1:
                self._config.pop("status")
                self._config.pop("status_times")
            else:
                self._config["status_times"] = times - 1
            if times <= 0:
                return None
        return int(status)

    # ----- ASGI --------------------------------------------------------------------------------------

    async def _asgi(self, scope: Json, receive: Receive, send: Send) -> None:
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
        raw = b"".join(chunks)
        method, path = scope["method"], scope["path"]
        if method == "POST" and path in ("/v1/chat/completions", "/chat/completions"):
            await self._chat(scope, raw, receive, send)
        elif method == "POST" and path == "/_stub/config":
            self.configure(**json.loads(raw or b"{}"))
            await _respond(send, 200, self.config())
        elif method == "POST" and path == "/_stub/reset":
            self.reset()
            await _respond(send, 200, {"ok": True})
        elif method == "GET" and path == "/_stub/requests":
            await _respond(send, 200, [asdict(r) for r in self._requests])
        else:
            await _respond(send, 404, _error(404, f"Unknown path {path}"))

    async def _chat(self, scope: Json, raw: bytes, receive: Receive, send: Send) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        record = ChatRequest(scope["path"], headers, body, time.time())
        self._requests.append(record)
        self._notify()
        delay = float(self._get("delay"))
        if delay > 0 and await _client_left_within(receive, delay):
            record.disconnected = True
            self._notify()
            return
        status, answer = self._answer(headers, body)
        if status == 200 and self._get("raw_body") is not None:
            await _respond_raw(send, 200, str(self._get("raw_body")).encode())
        else:
            await _respond(send, status, answer)
        record.status = status
        self._notify()

    def _answer(self, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        required = self._get("require_key")
        if required is not None and headers.get("authorization") != f"Bearer {required}":
            return 401, _error(401, "Incorrect API key provided")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return 400, _error(400, "'messages' is a required property")
        if self._get("reject_response_format") and "response_format" in body:
            return 400, _error(400, "response_format is not supported by this model")
        status = self._take_status()
        if status is not None:
            return status, _error(status, f"stub error {status}")
        reply = self._get("reply")
        content = reply if isinstance(reply, str) else json.dumps(reply, ensure_ascii=False)
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in body["messages"] if isinstance(m, dict))
        completion_tokens = len(content)
        return 200, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "stub-model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._loop = asyncio.get_running_loop()
                await send({"type": "lifespan.startup.complete"})
                if self._on_started is not None:
                    self._on_started()
            elif message["type"] == "lifespan.shutdown":
                self._loop = None
                await send({"type": "lifespan.shutdown.complete"})
                return


def _error(status: int, message: str) -> Json:
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "code": status}}


async def _client_left_within(receive: Receive, delay: float) -> bool:
    """Sleep ``delay`` seconds; True (early) when the client disconnects meanwhile."""
    deadline = time.monotonic() + delay
    while (left := deadline - time.monotonic()) > 0:
        waiter = asyncio.ensure_future(receive())
        try:
            done, _ = await asyncio.wait({waiter}, timeout=left)
            if done and waiter.result().get("type") == "http.disconnect":
                return True
        finally:
            if not waiter.done():
                waiter.cancel()
    return False


async def _respond(send: Send, status: int, answer: Any) -> None:
    await _respond_raw(send, status, json.dumps(answer, ensure_ascii=False).encode())


async def _respond_raw(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Loopback stub of an OpenAI-compatible chat API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument("--reply", default=None, help="assistant content (JSON object or plain text)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before answering")
    args = parser.parse_args(argv)
    config: Json = {"delay": args.delay}
    if args.reply is not None:
        try:
            config["reply"] = json.loads(args.reply)
        except ValueError:
            config["reply"] = args.reply
    stub = OpenAIStub(args.port, args.host, **config)
    sock = stub._bind()
    asyncio.run(stub.serve(sock, lambda: print(f"OpenAI stub on {stub.base_url}", flush=True)))


if __name__ == "__main__":
    main()
