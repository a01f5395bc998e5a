"""Command queue benchmark: how close to their due time delayed commands are sent, and how fast.

    .venv/bin/python bench/commands_bench.py [--setup production|embedded|both] [--count 1000]
        [--spread 20] [--poll 0.05]

For each set-up (fresh database, Redis db 9, the loopback WorkTool stub as api_base, result callbacks on):
1. accuracy: `count` commands queued through POST /api/commands with due times spread evenly over
   `spread` seconds, starting once all are queued; lateness = the stub's receive time − due_at.
2. throughput: `count` more commands all due at the same moment; sends per second from the first
   to the last request the stub received, and until every command was settled by its callback.
Every command must reach the stub exactly once. Figures are printed and written to
var/bench-commands.json. Only loopback addresses are used; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.common import ROBOT_ID, percentile
from bench.servers import ROOT, Hub, flush_redis, postgres_database, workdir
from tests.stubs.worktool_stub import WorkToolStub

# A Redis db of its own: another benchmark's worker on db 13 must never pick up these jobs.
REDIS_URL = "redis://127.0.0.1:6379/9"
GROUP = "压测群00"
CREATE_CONCURRENCY = 16
LEAD_SECONDS = 3.0  # after the last command is queued, before the first is due
QUEUE_RATE = 40.0  # commands per second POST /api/commands is assumed to take, at least


@dataclass
class CommandsHub(Hub):
    """A benchmark hub pointed at the stub; optionally a worker with a shorter arq poll delay."""

    api_base: str = ""
    poll_delay: float | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = Hub.env.fget(self)  # type: ignore[attr-defined]
        env.update(WORKTOOL_API_BASE=self.api_base, PYTHONPATH=str(ROOT), **self.extra)
        if self.poll_delay is not None:
            env["BENCH_ARQ_POLL_DELAY"] = str(self.poll_delay)
        return env

    def _spawn(self, name: str, args: list[str]) -> Any:
        if name == "worker" and self.poll_delay is not None:
            args = [
                a.replace("jobs.worker.WorkerSettings", "bench.commands_worker.FastPollWorkerSettings")
                for a in args
            ]
        return super()._spawn(name, args)

    @property
    def result_url(self) -> str:
        return f"{self.base_url}/webhooks/worktool/{ROBOT_ID}/result?token={self.robot_token}"


@contextlib.contextmanager
def started(setup: str, api_base: str, poll_delay: float | None) -> Iterator[CommandsHub]:
    with workdir(keep=bool(os.environ.get("BENCH_KEEP"))) as tmp, contextlib.ExitStack() as stack:
        if setup == "production":
            database, redis_url = stack.enter_context(postgres_database()), REDIS_URL
            flush_redis(redis_url)
        else:
            database, redis_url = f"sqlite:///{tmp / 'hub.db'}", None
        hub = CommandsHub(setup, database, redis_url, tmp, api_base=api_base, poll_delay=poll_delay)
        try:
            hub.prepare()
            hub.start()
            yield hub
        finally:
            hub.stop()
            if redis_url:
                flush_redis(redis_url)


async def queue_commands(
    hub: CommandsHub, tag: str, dues: list[datetime]
) -> tuple[dict[int, datetime], float]:
    """POST one command per due time (16 at a time); returns {index: due} and the seconds it took."""
    headers = {"Authorization": f"Bearer {hub.api_token}"}
    limit = asyncio.Semaphore(CREATE_CONCURRENCY)
    begin = time.monotonic()
    async with httpx.AsyncClient(base_url=hub.base_url, headers=headers, timeout=30) as api:

        async def one(index: int, due: datetime) -> None:
            body = {
                "robot_id": ROBOT_ID,
                "targets": [GROUP],
                "text": f"[{tag}#{index}] 定时消息",
                "due_at": due.isoformat(),
            }
            async with limit:
                answer = await api.post("/api/commands", json=body)
            if answer.status_code != 201:
                raise RuntimeError(f"queueing failed: {answer.status_code} {answer.text[:300]}")

        await asyncio.gather(*(one(i, due) for i, due in enumerate(dues)))
    return dict(enumerate(dues)), time.monotonic() - begin


def sends_of(stub: WorkToolStub, tag: str) -> dict[int, list[float]]:
    found: dict[int, list[float]] = {}
    for sent in stub.sent:
        text = sent.body["list"][0]["receivedContent"]
        if text.startswith(f"[{tag}#") and sent.message_id:
            found.setdefault(int(text[len(tag) + 2 : text.index("]")]), []).append(sent.time)
    return found


async def settled_count(hub: CommandsHub) -> int:
    headers = {"Authorization": f"Bearer {hub.api_token}"}
    async with httpx.AsyncClient(base_url=hub.base_url, headers=headers, timeout=30) as api:
        answer = await api.get("/api/commands", params={"status": "succeeded", "page_size": 1})
    return int(answer.json()["data"]["total"])


async def wait_until(check: Any, limit: float, interval: float = 0.2) -> float:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await check():
            return time.time()
        await asyncio.sleep(interval)
    raise TimeoutError("benchmark phase did not finish in time")


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "min": ordered[0],
        "p50": percentile(ordered, 50),
        "p95": percentile(ordered, 95),
        "p99": percentile(ordered, 99),
        "max": ordered[-1],
        "within_1s": sum(abs(v) <= 1.0 for v in ordered) / len(ordered),
    }


async def accuracy(hub: CommandsHub, stub: WorkToolStub, count: int, spread: float) -> dict[str, Any]:
    created_estimate = count / QUEUE_RATE + LEAD_SECONDS
    start = datetime.now(UTC).timestamp() + created_estimate
    dues = [datetime.fromtimestamp(start + spread * i / count, UTC) for i in range(count)]
    due_map, queue_seconds = await queue_commands(hub, "acc", dues)
    if time.time() > start:
        print(f"  warning: queueing took {queue_seconds:.1f} s, past the first due time", file=sys.stderr)
    await wait_until(lambda: _sent_all(stub, "acc", count), limit=spread + created_estimate + 60)
    sent = sends_of(stub, "acc")
    lateness = [times[0] - due_map[i].timestamp() for i, times in sent.items()]
    return {
        "count": count,
        "spread_seconds": spread,
        "queue_seconds": round(queue_seconds, 2),
        "duplicates": sum(len(t) - 1 for t in sent.values()),
        "lateness": stats(lateness),
    }


async def _sent_all(stub: WorkToolStub, tag: str, count: int) -> bool:
    return len(sends_of(stub, tag)) >= count


async def throughput(hub: CommandsHub, stub: WorkToolStub, count: int) -> dict[str, Any]:
    before = await settled_count(hub)
    due = datetime.fromtimestamp(time.time() + count / QUEUE_RATE + LEAD_SECONDS, UTC)
    await queue_commands(hub, "tp", [due] * count)
    await wait_until(lambda: _sent_all(stub, "tp", count), limit=count / 5 + 60)
    times = sorted(t[0] for t in sends_of(stub, "tp").values())
    settled_at = await wait_until(lambda: _settled(hub, before + count), limit=count / 5 + 60, interval=0.1)
    duration = times[-1] - times[0]
    return {
        "count": count,
        "first_send_after_due": round(times[0] - due.timestamp(), 3),
        "send_seconds": round(duration, 2),
        "sends_per_second": round((count - 1) / duration, 1) if duration > 0 else None,
        "settled_per_second": round(count / (settled_at - due.timestamp()), 1),
        "duplicates": sum(len(t) - 1 for t in sends_of(stub, "tp").values()),
    }


async def _settled(hub: CommandsHub, total: int) -> bool:
    return await settled_count(hub) >= total


async def run_setup(
    setup: str, args: argparse.Namespace, stub: WorkToolStub, poll: float | None
) -> dict[str, Any]:
    label = setup if poll is None else f"{setup} (arq poll_delay {poll:g} s)"
    result: dict[str, Any] = {"setup": label, "load_average_1m": []}
    # A fresh set-up per phase: the first phase's confirmation checks (60 s later) stay out of the second.
    for phase in ("accuracy", "throughput"):
        stub.reset()
        with started(setup, stub.base_url, poll) as hub:
            stub.configure(ROBOT_ID, callback_url=hub.result_url)
            result["load_average_1m"].append(round(os.getloadavg()[0], 2))
            if phase == "accuracy":
                print(f"{label}: {args.count} commands over {args.spread:g} s …", flush=True)
                result["accuracy"] = await accuracy(hub, stub, args.count, args.spread)
            else:
                print(f"{label}: {args.count} commands due at once …", flush=True)
                result["throughput"] = await throughput(hub, stub, args.count)
    print(json.dumps(result, ensure_ascii=False, indent=2), flush=True)
    return result


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    setups = ["production", "embedded"] if args.setup == "both" else [args.setup]
    results = []
    async with WorkToolStub() as stub:
        for setup in setups:
            results.append(await run_setup(setup, args, stub, None))
            if setup == "production" and args.poll:
                results.append(await run_setup(setup, args, stub, args.poll))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--setup", choices=["production", "embedded", "both"], default="both")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=20.0)
    parser.add_argument(
        "--poll", type=float, default=0.05, help="also run production with this arq poll_delay (0: skip)"
    )
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    out = ROOT / "var" / "bench-commands.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2))
    print(f"written to {out.relative_to(ROOT)}")
    return (
        0
        if all(r["accuracy"]["duplicates"] == 0 and r["throughput"]["duplicates"] == 0 for r in results)
        else 1
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
