"""Orchestrates the benchmark: both set-ups, every measurement, the report.

For each set-up: start the hub fresh, warm up, run the closed-loop load at each concurrency
(waiting for the backlog to drain after each run), run the paced SSE probe, check that every
accepted message was stored once and processed, and stop everything. Profiles the production
web process and worker with py-spy when a target is missed (or on request).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from bench import report
from bench.cpu import CpuMeter
from bench.hubapi import HubApi
from bench.profile import py_spy_binary, start_recording, stop_recording
from bench.servers import HOST, ROOT, Hub, bin_path, embedded_hub, production_hub, stop_process


@dataclass(frozen=True)
class Plan:
    quick: bool
    totals: dict[str, int]
    concurrency: list[int]
    warmup: int
    sse_rate: float
    sse_seconds: float
    profile: str
    max_seconds: float
    drain_timeout: float
    keep_logs: bool
    only: str


@dataclass
class Ledger:
    """Everything the hub accepted during one set-up, for the loss check."""

    accepted: int = 0
    ids: set[int] = field(default_factory=set)
    refused: int = 0

    def add(self, result: dict[str, Any]) -> None:
        self.accepted += int(result["ok"])
        self.ids.update(result["ids"])
        self.refused += int(result["error_count"])


def run_loadgen(
    hub: Hub, total: int, concurrency: int, plan: Plan, out: Path, profile_dir: Path | None = None
) -> dict[str, Any]:
    """One closed-loop run in its own process; CPU meters (and py-spy) cover exactly the load."""
    tag = f"{hub.name[:4]}-c{concurrency}-{secrets.token_hex(3)}"
    args = [
        bin_path("python"),
        "-m",
        "bench.loadgen",
        "--host",
        HOST,
        "--port",
        str(hub.port),
        "--path",
        hub.webhook_path,
        "--total",
        str(total),
        "--concurrency",
        str(concurrency),
        "--tag",
        tag,
        "--max-seconds",
        str(plan.max_seconds),
        "--out",
        str(out),
        "--handshake",
    ]
    proc = subprocess.Popen(
        args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    recordings = []
    try:
        assert proc.stdin is not None and proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("load generator failed to start")
        if profile_dir is not None:
            for label, pid in hub.pids.items():
                rec = start_recording(label, pid, profile_dir / f"{hub.name}-{label}.txt")
                if rec is not None:
                    recordings.append(rec)
            time.sleep(0.5)  # let py-spy attach before the load starts
        meter = CpuMeter(hub.pids).start()
        started = time.monotonic()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        if proc.stdout.readline().strip() != "done":
            raise RuntimeError("load generator died during the run")
        cpu = meter.stop()
        profiles = [stop_recording(rec, time.monotonic() - started) for rec in recordings]
        recordings.clear()
        proc.wait(timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"load generator exited with {proc.returncode}")
    finally:
        for rec in recordings:
            stop_process(rec.proc, grace=5)
        stop_process(proc, grace=5)
    result: dict[str, Any] = json.loads(out.read_text())
    cpu["loadgen"] = result["cpu_s"] / result["duration_s"] if result["duration_s"] > 0 else 0.0
    result["cpu_cores"] = cpu
    if profile_dir is not None:
        result["profiles"] = profiles
    return result


def run_sse_probe(hub: Hub, plan: Plan, out: Path) -> dict[str, Any]:
    args = [
        bin_path("python"),
        "-m",
        "bench.sse_latency",
        "--host",
        HOST,
        "--port",
        str(hub.port),
        "--path",
        hub.webhook_path,
        "--api-token",
        hub.api_token,
        "--tag",
        f"{hub.name[:4]}-sse-{secrets.token_hex(3)}",
        "--rate",
        str(plan.sse_rate),
        "--seconds",
        str(plan.sse_seconds),
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(args, cwd=ROOT, start_new_session=True)
    try:
        proc.wait(timeout=plan.sse_seconds + 120)
    finally:
        stop_process(proc, grace=5)
    if proc.returncode != 0:
        raise RuntimeError(f"SSE probe exited with {proc.returncode}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def strip_ids(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "ids"}


def bench_hub(hub: Hub, name: str, plan: Plan) -> dict[str, Any]:
    api = HubApi(hub)
    ledger = Ledger()
    total = plan.totals[name]
    section: dict[str, Any] = {"runs": [], "total": total}
    try:
        print(f"[{name}] warm-up: {plan.warmup} messages")
        warm = run_loadgen(hub, plan.warmup, 16, plan, hub.workdir / "warmup.json")
        ledger.add(warm)
        section["warmup"] = strip_ids(warm)
        api.wait_processed(ledger.accepted, warm["ended_at"], plan.drain_timeout)
        for concurrency in plan.concurrency:
            print(f"[{name}] load: {total} messages over {concurrency} connections")
            result = run_loadgen(hub, total, concurrency, plan, hub.workdir / f"load-{concurrency}.json")
            ledger.add(result)
            drain = api.wait_processed(ledger.accepted, result["ended_at"], plan.drain_timeout)
            result["drain"] = {"drained": drain.drained, "seconds": drain.seconds}
            busy = result["duration_s"] + drain.seconds
            result["end_to_end_rps"] = result["ok"] / busy if busy > 0 else 0.0
            section["runs"].append(strip_ids(result))
            print(report.run_line(result))
        print(f"[{name}] message-to-dashboard: {plan.sse_rate:g} msg/s for {plan.sse_seconds:g} s")
        sse = run_sse_probe(hub, plan, hub.workdir / "sse.json")
        ledger.add({**sse, "error_count": sse["errors"]})
        section["sse"] = strip_ids(sse)
        print(report.sse_line(sse))
        if name == "production" and want_profile(plan, section):
            print(f"[{name}] profiling web + worker with py-spy ({total} messages, c=64)")
            prof = run_loadgen(hub, total, 64, plan, hub.workdir / "profile.json", profile_dir=hub.workdir)
            ledger.add(prof)
            section["profile_run"] = strip_ids(prof)
        last_end = time.time()
        drain = api.wait_processed(ledger.accepted, last_end, plan.drain_timeout)
        counts = drain.counts
        section["loss"] = {
            "accepted": ledger.accepted,
            "distinct_ids": len(ledger.ids),
            "refused": ledger.refused,
            "stored": counts.stored,
            "processed": counts.processed,
            "failed": counts.failed,
            "zero_loss": (
                counts.processed == ledger.accepted == len(ledger.ids) == counts.stored and counts.failed == 0
            ),
        }
        print(report.loss_line(section["loss"]))
    finally:
        api.close()
    return section


def want_profile(plan: Plan, section: dict[str, Any]) -> bool:
    if plan.profile == "never" or py_spy_binary() is None:
        if plan.profile == "always":
            print("  py-spy not installed (.venv/bin/pip install py-spy); skipping the profile")
        return False
    if plan.profile == "always":
        return True
    return not (report.throughput_met(section) and report.sse_met(section.get("sse")))


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so every finally block stops its processes."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse_args(argv: list[str] | None) -> tuple[Plan, Path | None, Path | None]:
    parser = argparse.ArgumentParser(prog="bench/run.py", description="Webhook ingest benchmark")
    parser.add_argument("--quick", action="store_true", help="smoke run: ~1,000 messages, one concurrency")
    parser.add_argument("--only", choices=["both", "embedded", "production"], default="both")
    parser.add_argument("--embedded-total", type=int, help="messages per load run (default 10000)")
    parser.add_argument("--production-total", type=int, help="messages per load run (default 20000)")
    parser.add_argument("--concurrency", help="comma-separated connection counts (default 32,64)")
    parser.add_argument("--warmup", type=int, help="warm-up messages before measuring (default 500)")
    parser.add_argument("--sse-rate", type=float, default=200.0, help="paced messages per second")
    parser.add_argument("--sse-seconds", type=float, help="paced run length (default 15)")
    parser.add_argument(
        "--profile",
        choices=["auto", "always", "never"],
        help="py-spy the production processes (auto: when a target is missed; quick default: never)",
    )
    parser.add_argument("--max-seconds", type=float, default=300.0, help="time limit per load run")
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="max wait for processing")
    parser.add_argument(
        "--output", type=Path, help="markdown report (default docs/benchmarks.md, not --quick)"
    )
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dir with server logs")
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    concurrency = [int(c) for c in (args.concurrency or ("32" if quick else "32,64")).split(",") if c]
    plan = Plan(
        quick=quick,
        totals={
            "embedded": args.embedded_total or (1000 if quick else 10_000),
            "production": args.production_total or (1000 if quick else 20_000),
        },
        concurrency=concurrency,
        warmup=args.warmup if args.warmup is not None else (200 if quick else 500),
        sse_rate=args.sse_rate,
        sse_seconds=args.sse_seconds or (5.0 if quick else 15.0),
        profile=args.profile or ("never" if quick else "auto"),
        max_seconds=args.max_seconds,
        drain_timeout=args.drain_timeout,
        keep_logs=bool(args.keep_logs),
        only=args.only,
    )
    output = args.output or (None if quick else ROOT / "docs" / "benchmarks.md")
    return plan, output, args.json


def main(argv: list[str] | None = None) -> int:
    plan, output, json_out = parse_args(argv)
    results: dict[str, Any] = {
        "meta": report.environment(plan.quick),
        "plan": dataclasses.asdict(plan),
        "setups": {},
    }
    setups = [("embedded", embedded_hub), ("production", production_hub)]
    with sigterm_as_interrupt():
        try:
            for name, factory in setups:
                if plan.only not in ("both", name):
                    continue
                print(f"[{name}] starting the hub")
                with factory(plan.keep_logs) as hub:
                    results["setups"][name] = bench_hub(hub, name, plan)
        except KeyboardInterrupt:
            print("\ninterrupted; all processes stopped", file=sys.stderr)
            return 130
    markdown = report.render(results)
    print()
    print(report.figures(results))
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(markdown)
        print(f"\nwritten to {output}")
    if json_out is not None:
        json_out.write_text(json.dumps(results, indent=2, default=str))
    return 0
