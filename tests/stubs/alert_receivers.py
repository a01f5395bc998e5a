"""Loopback stand-ins for the alert notification providers: WeCom group bot, Feishu bot, SMS and
phone-call HTTP APIs. Each path records the requests it receives; a path can be told to fail its
first N calls (HTTP 500, or the provider's own error code) to prove retries with back-off."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    body: Any
    at: float


@dataclass
class AlertReceivers:
    """`fail[path] = n`: the first n calls to `path` fail. `wecom` failures answer errcode 93000."""

    received: list[Received] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> AlertReceivers:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                return

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    body = raw.decode(errors="replace")
                with stub.lock:
                    stub.received.append(Received(parts.path, parse_qs(parts.query), body, time.monotonic()))
                    failing = stub.fail.get(parts.path, 0)
                    if failing:
                        stub.fail[parts.path] = failing - 1
                if failing and parts.path.startswith("/wecom"):
                    self._answer(200, {"errcode": 93000, "errmsg": "invalid webhook url"})
                elif failing:
                    self._answer(500, {"error": "provider unavailable"})
                elif parts.path.startswith("/wecom"):
                    self._answer(200, {"errcode": 0, "errmsg": "ok"})
                elif parts.path.startswith("/feishu"):
                    self._answer(200, {"code": 0, "msg": "success", "data": {}})
                else:
                    self._answer(200, {"ok": True})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def calls(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def settings(self) -> dict[str, str]:
        """The alert settings that point every channel at this stub."""
        return {
            "wecom_webhook_url": f"{self.base_url}/wecom",
            "feishu_webhook_url": f"{self.base_url}/feishu",
            "sms_url_template": f"{self.base_url}/sms?to={{phone}}&text={{text}}",
            "phone_url_template": f"{self.base_url}/phone?to={{phone}}&level={{level}}",
        }
