"""Flow-processing throughput on PostgreSQL, without HTTP: how fast stored messages get processed.

Stores N messages through the real ingest writer (same shape and spread as `make bench`), then
runs the real FlowExecutor from C concurrent jobs, as the arq worker would, and reports msg/s.

    .venv/bin/python bench/processing.py --messages 3000 --concurrency 8 [--profile out.txt]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # bench/profile.py would shadow the standard library's profile module

import argparse  # noqa: E402
import asyncio  # noqa: E402
import collections  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from bench.common import message_body  # noqa: E402
from bench.servers import postgres_database  # noqa: E402


async def run(
    database_url: str, messages: int, concurrency: int, batch: int, profile: str | None
) -> dict[str, float]:
    os.environ["DATABASE_URL"] = database_url
    os.environ.pop("REDIS_URL", None)
    from sqlalchemy import event

    from app.config import get_settings
    from app.db import get_db
    from app.flows.executor import FlowExecutor
    from app.ingest.schemas import decode_json_object, to_message
    from app.ingest.service import IngestWriter, RobotDirectory
    from app.runtime import load_plugins

    load_plugins()
    settings = get_settings()
    db = get_db()
    stored: list[int] = []

    async def on_stored(ids: list[int]) -> None:
        stored.extend(ids)

    writer = IngestWriter(db, on_stored)
    writer.start()
    robot = await RobotDirectory(db).authenticate("bench-1", os.environ["BENCH_TOKEN"])
    tag = f"p{int(time.time())}"
    for start in range(0, messages, 200):
        bodies = [decode_json_object(message_body(tag, i)) for i in range(start, min(messages, start + 200))]
        await asyncio.gather(*(writer.submit(robot, to_message(b), b) for b in bodies))
    await writer.stop()
    stored.sort()
    batches = [stored[i : i + batch] for i in range(0, len(stored), batch)]
    executor = FlowExecutor(db, settings.max_processing_attempts)
    await executor.active_flow()
    queue: asyncio.Queue[list[int]] = asyncio.Queue()
    for b in batches:
        queue.put_nowait(b)
    processed = 0

    async def worker() -> None:
        nonlocal processed
        while not queue.empty():
            ids = queue.get_nowait()
            outcome = await executor.process(ids)
            processed += len(outcome.processed)
            if outcome.deferred:  # as the job does: their group was busy in another job
                await asyncio.sleep(0.2)
                queue.put_nowait(outcome.deferred)

    statements: collections.Counter[str] = collections.Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements[" ".join(statement.split()[:6])[:90]] += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    profiler = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if profiler:
        profiler.enable()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if profiler:
        profiler.disable()
        report = io.StringIO()
        pstats.Stats(profiler, stream=report).sort_stats(
            os.environ.get("BENCH_SORT", "cumulative")
        ).print_stats(60)
        PROFILE_TEXT.append(report.getvalue())
    elapsed = time.perf_counter() - t0
    from sqlalchemy import func, select

    from app.chat.models import Message

    async with db.session() as session:
        done = (
            await session.execute(
                select(func.count()).select_from(Message).where(Message.status == "processed")
            )
        ).scalar_one()
    event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    STATEMENTS.update(statements)
    await db.dispose()
    return {"messages": len(stored), "processed": done, "seconds": elapsed, "msg_per_s": done / elapsed}


PROFILE_TEXT: list[str] = []
STATEMENTS: collections.Counter[str] = collections.Counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch", type=int, default=60, help="ids per job (as one ingest flush)")
    parser.add_argument("--profile", help="write cProfile stats to this file")
    parser.add_argument("--statements", action="store_true", help="print SQL statements per message")
    args = parser.parse_args()
    with postgres_database() as url:
        env = {**os.environ, "DATABASE_URL": url}
        env.pop("REDIS_URL", None)
        subprocess.run([sys.executable, "-m", "app.cli", "migrate"], cwd=ROOT, env=env, check=True)
        os.environ["BENCH_TOKEN"] = token = "bench-processing-token"
        robot = ["--robot-id", "bench-1", "--name", "bench-1", "--role", "monitor", "--token", token]
        subprocess.run(
            [sys.executable, "-m", "app.cli", "create-robot", *robot],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        result = asyncio.run(run(url, args.messages, args.concurrency, args.batch, args.profile))
    if args.profile:
        Path(args.profile).write_text("".join(PROFILE_TEXT))
    if args.statements:
        for statement, n in STATEMENTS.most_common(25):
            print(f"{n / max(1, result['processed']):6.2f}/msg  {statement}")
    print(json.dumps({**vars(args), **result}, ensure_ascii=False))


if __name__ == "__main__":
    main()
