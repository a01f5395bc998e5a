"""Message-to-dashboard latency (run as its own process: python -m bench.sse_latency).

One SSE client subscribes to GET /events?topics=messages like the live console does; then
messages are posted at a steady, paced rate. For every accepted message the time from writing
the webhook request to receiving the `message.new` event that carries a row with that
data-message-id is recorded (one event may carry the rows of a whole stored batch).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import re
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import latency_summary, message_body
from bench.httpraw import CRLF2, HttpConnection, ProtocolError, header_value
from bench.loadgen import ACCEPTED_PREFIX, install_uvloop

ROW_ID = re.compile(rb'data-message-id="(\d+)"')


class SseClient:
    """Reads the event stream and notes when each message id first appears."""

    def __init__(self, host: str, port: int, api_token: str) -> None:
        self.host = host
        self.port = port
        self.api_token = api_token
        self.arrivals: dict[int, float] = {}
        self.waiting: set[int] = set()
        self.all_arrived = asyncio.Event()
        self.events = 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connected = asyncio.Event()

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(
            (
                f"GET /events?topics=messages HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Authorization: Bearer {self.api_token}\r\nAccept: text/event-stream\r\n"
                "Cache-Control: no-cache\r\nUser-Agent: hub-bench-sse\r\n\r\n"
            ).encode()
        )
        head = await self.reader.readuntil(CRLF2)
        if not head.startswith(b"HTTP/1.1 200"):
            raise ProtocolError(f"SSE subscription refused: {head[:200]!r}")
        content_type = header_value(head.lower(), b"content-type") or b""
        if not content_type.startswith(b"text/event-stream"):
            raise ProtocolError(f"not an event stream: {content_type!r}")

    async def pump(self) -> None:
        """Read until cancelled. Chunk-size lines never split an event line, so lines suffice."""
        assert self.reader is not None
        pending = b""
        event = b""
        while True:
            data = await self.reader.read(65536)
            now = time.perf_counter()
            if not data:
                return
            lines = (pending + data).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if line.startswith(b":") and b"connected" in line:
                    self.connected.set()
                elif line.startswith(b"event:"):
                    event = line[6:].strip()
                elif line.startswith(b"data:") and event == b"message.new":
                    self.events += 1
                    for match in ROW_ID.finditer(line):
                        message_id = int(match.group(1))
                        self.arrivals.setdefault(message_id, now)
                        self.waiting.discard(message_id)
                    if not self.waiting:
                        self.all_arrived.set()

    def expect(self, ids: set[int]) -> None:
        """Set all_arrived once every id in `ids` has been seen."""
        self.waiting = ids - self.arrivals.keys()
        if self.waiting:
            self.all_arrived.clear()  # events before this call may have set it with nothing awaited
        else:
            self.all_arrived.set()

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()
            self.writer = None


@dataclass
class PacedRun:
    sent_at: dict[int, float] = field(default_factory=dict)  # index → write time
    id_of: dict[int, int] = field(default_factory=dict)  # index → hub message id
    post_latency: list[float] = field(default_factory=list)
    errors: int = 0
    max_lag: float = 0.0


async def post_one(
    pool: asyncio.Queue[HttpConnection], head: bytes, tag: str, index: int, run: PacedRun
) -> None:
    conn = await pool.get()
    try:
        body = message_body(tag, index)
        t0 = time.perf_counter()
        run.sent_at[index] = t0
        async with asyncio.timeout(30):
            reply = await conn.post(head, body)
        run.post_latency.append(time.perf_counter() - t0)
        if reply.status == 200 and reply.body.startswith(ACCEPTED_PREFIX) and reply.message_id is not None:
            run.id_of[index] = reply.message_id
        else:
            run.errors += 1
    except (TimeoutError, ConnectionError, OSError, asyncio.IncompleteReadError, ProtocolError):
        run.errors += 1
        await conn.close()
    finally:
        pool.put_nowait(conn)


async def paced_posts(
    host: str, port: int, path: str, tag: str, rate: float, seconds: float, pool_size: int
) -> tuple[PacedRun, float]:
    conns = [HttpConnection(host, port) for _ in range(pool_size)]
    await asyncio.gather(*(c.open() for c in conns))
    pool: asyncio.Queue[HttpConnection] = asyncio.Queue()
    for conn in conns:
        pool.put_nowait(conn)
    head = conns[0].post_head(path)
    run = PacedRun()
    count = int(rate * seconds)
    tasks: set[asyncio.Task[None]] = set()
    t0 = time.perf_counter()
    for index in range(count):
        delay = t0 + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            run.max_lag = max(run.max_lag, -delay)
        task = asyncio.create_task(post_one(pool, head, tag, index, run))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    sending = time.perf_counter() - t0
    await asyncio.gather(*list(tasks))
    await asyncio.gather(*(c.close() for c in conns))
    return run, sending


async def measure(
    host: str,
    port: int,
    path: str,
    api_token: str,
    tag: str,
    rate: float,
    seconds: float,
    settle: float,
    pool_size: int,
) -> dict[str, Any]:
    sse = SseClient(host, port, api_token)
    await sse.open()
    pumping = asyncio.create_task(sse.pump())
    try:
        async with asyncio.timeout(10):
            await sse.connected.wait()
        started_at = time.time()
        run, sending = await paced_posts(host, port, path, tag, rate, seconds, pool_size)
        ended_at = time.time()
        sse.expect(set(run.id_of.values()))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settle):
                await sse.all_arrived.wait()
    finally:
        pumping.cancel()
        await asyncio.gather(pumping, return_exceptions=True)
        await sse.close()
    # An event that never arrived counts as infinitely late, so percentiles cover every message.
    latencies = [
        sse.arrivals[mid] - run.sent_at[index] if mid in sse.arrivals else math.inf
        for index, mid in run.id_of.items()
    ]
    arrived = sum(1 for value in latencies if value != math.inf)
    return {
        "rate": rate,
        "seconds": seconds,
        "sent": len(run.sent_at),
        "ok": len(run.id_of),
        "errors": run.errors,
        "arrived": arrived,
        "missing": len(latencies) - arrived,
        "missing_ids": sorted(mid for mid in run.id_of.values() if mid not in sse.arrivals),
        "settle_s": settle,
        "achieved_rate": len(run.sent_at) / sending if sending > 0 else 0.0,
        "max_lag_ms": run.max_lag * 1000,
        "latency_ms": latency_summary(latencies),
        "post_latency_ms": latency_summary(run.post_latency),
        "sse_events": sse.events,
        "cpu_s": cpu_seconds(),
        "started_at": started_at,
        "ended_at": ended_at,
        "ids": list(run.id_of.values()),
    }


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sse_latency")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True, help="webhook path including ?token=…")
    parser.add_argument("--api-token", required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--settle", type=float, default=20.0, help="wait this long for late events")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.host not in {"127.0.0.1", "localhost", "::1"}:
        parser.error("the probe only targets the local machine")
    install_uvloop()
    result = asyncio.run(
        measure(
            args.host,
            args.port,
            args.path,
            args.api_token,
            args.tag,
            args.rate,
            args.seconds,
            args.settle,
            args.connections,
        )
    )
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
