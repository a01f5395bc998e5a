"""Closed-loop webhook load generator (run as its own process: python -m bench.loadgen).

N persistent HTTP/1.1 connections each post the next unique message as soon as the previous
answer arrives, until a fixed total has been sent (or the time limit passes). Per-request
latency is measured from just before the write to the last byte of the answer. The result is
written as JSON (--out) for the orchestrator; the process's own CPU time is included, because
on a 2-core box the generator competes with the server for CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import latency_summary, message_body
from bench.httpraw import HttpConnection, ProtocolError

ACCEPTED_PREFIX = b'{"code":0'


@dataclass
class LoadState:
    total: int
    tag: str
    deadline: float
    next_index: int = 0
    latencies: list[float] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def take(self) -> int | None:
        if self.next_index >= self.total or time.perf_counter() > self.deadline:
            return None
        index = self.next_index
        self.next_index += 1
        return index


async def connection_loop(
    conn: HttpConnection, path: str, state: LoadState, request_timeout: float, start: asyncio.Event
) -> None:
    head = conn.post_head(path)
    await start.wait()
    perf = time.perf_counter
    while (index := state.take()) is not None:
        body = message_body(state.tag, index)
        t0 = perf()
        try:
            async with asyncio.timeout(request_timeout):
                reply = await conn.post(head, body)
        except (TimeoutError, ConnectionError, OSError, asyncio.IncompleteReadError, ProtocolError) as exc:
            state.errors[type(exc).__name__] += 1
            await conn.close()
            continue
        elapsed = perf() - t0
        state.statuses[str(reply.status)] += 1
        if reply.status == 200 and reply.body.startswith(ACCEPTED_PREFIX) and reply.message_id is not None:
            state.latencies.append(elapsed)
            state.ids.append(reply.message_id)
        else:
            state.errors[f"http_{reply.status}"] += 1
    await conn.close()


async def handshake() -> None:
    """Tell the orchestrator the connections are open, then wait for its go (one stdin line).

    This lets it start CPU meters and profilers exactly when the load starts.
    """
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def run_load(
    host: str,
    port: int,
    path: str,
    total: int,
    concurrency: int,
    tag: str,
    max_seconds: float,
    request_timeout: float,
    wait_for_go: bool = False,
) -> dict[str, Any]:
    conns = [HttpConnection(host, port) for _ in range(concurrency)]
    await asyncio.gather(*(c.open() for c in conns))
    if wait_for_go:
        await handshake()
    state = LoadState(total=total, tag=tag, deadline=float("inf"))
    start = asyncio.Event()
    tasks = [asyncio.create_task(connection_loop(c, path, state, request_timeout, start)) for c in conns]
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started_at = time.time()
    t0 = time.perf_counter()
    state.deadline = t0 + max_seconds
    start.set()
    await asyncio.gather(*tasks)
    duration = time.perf_counter() - t0
    ended_at = time.time()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    if wait_for_go:
        print("done", flush=True)
    cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    ok = len(state.latencies)
    return {
        "concurrency": concurrency,
        "requested": total,
        "sent": state.next_index,
        "ok": ok,
        "error_count": sum(state.errors.values()),
        "errors": dict(state.errors),
        "statuses": dict(state.statuses),
        "duration_s": duration,
        "rps": ok / duration if duration > 0 else 0.0,
        "latency_ms": latency_summary(state.latencies),
        "distinct_ids": len(set(state.ids)),
        "ids": state.ids,
        "started_at": started_at,
        "ended_at": ended_at,
        "cpu_s": cpu_s,
        "timed_out": state.next_index < total,
    }


def install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # plain asyncio is slower but works
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True, help="webhook path including ?token=…")
    parser.add_argument("--total", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--tag", required=True, help="unique per run; goes into every message text")
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--request-timeout", type=float, default=30.0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--handshake", action="store_true", help='print "ready", wait for a stdin line')
    args = parser.parse_args(argv)
    if args.host not in {"127.0.0.1", "localhost", "::1"}:
        parser.error("the load generator only targets the local machine")
    install_uvloop()
    result = asyncio.run(
        run_load(
            args.host,
            args.port,
            args.path,
            args.total,
            args.concurrency,
            args.tag,
            args.max_seconds,
            args.request_timeout,
            args.handshake,
        )
    )
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
