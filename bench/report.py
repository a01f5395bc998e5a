"""Environment facts, target checks and the markdown report (docs/benchmarks.md)."""

from __future__ import annotations

import math
import platform
import subprocess
from datetime import datetime
from typing import Any

from bench.servers import PG_ADMIN_URL, REDIS_BENCH_URL, ROOT

TARGET_RPS = 1500.0
TARGET_P99_MS = 50.0
TARGET_SSE_P95_MS = 1000.0
TARGET_SSE_RATE = 200.0


# ── environment ──────────────────────────────────────────────────────────────


def _command(args: list[str]) -> str:
    try:
        done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def cpu_model() -> str:
    for line in _command(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _postgres_version() -> str:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"
    except Exception as exc:
        return f"unavailable ({type(exc).__name__})"


def _redis_version() -> str:
    try:
        import redis

        client = redis.Redis.from_url(REDIS_BENCH_URL, socket_connect_timeout=3)
        try:
            info: dict[str, Any] = client.info("server")  # type: ignore[assignment]
            return str(info.get("redis_version", "?"))
        finally:
            client.close()
    except Exception as exc:
        return f"unavailable ({type(exc).__name__})"


def environment(quick: bool) -> dict[str, Any]:
    import os
    import sqlite3

    commit = _command(["git", "rev-parse", "--short", "HEAD"]) or "unknown"
    dirty = bool(_command(["git", "status", "--porcelain", "--", "app", "jobs", "migrations", "templates"]))
    return {
        "date": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "commit": commit,
        "dirty": dirty,
        "cpu_model": cpu_model(),
        "cores": os.cpu_count() or 0,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgres": _postgres_version(),
        "redis": _redis_version(),
        "sqlite": sqlite3.sqlite_version,
        "quick": quick,
    }


# ── target checks ────────────────────────────────────────────────────────────


def run_meets(run: dict[str, Any]) -> bool:
    lat = run["latency_ms"]
    return run["rps"] >= TARGET_RPS and lat["p99"] <= TARGET_P99_MS and run["error_count"] == 0


def throughput_met(section: dict[str, Any] | None) -> bool:
    return bool(section) and any(run_meets(run) for run in section["runs"])  # type: ignore[index]


def sse_met(sse: dict[str, Any] | None) -> bool:
    if not sse:
        return False
    complete = sse["arrived"] == sse["ok"] == sse["sent"] and sse["ok"] > 0
    return complete and sse["rate"] >= TARGET_SSE_RATE and sse["latency_ms"]["p95"] <= TARGET_SSE_P95_MS


def yes_no(flag: bool) -> str:
    return "**yes**" if flag else "**no**"


# ── formatting ───────────────────────────────────────────────────────────────


def ms(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def cores(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def run_line(run: dict[str, Any]) -> str:
    lat = run["latency_ms"]
    drain = run.get("drain", {})
    return (
        f"  c={run['concurrency']}: {run['ok']}/{run['sent']} ok, {run['rps']:,.0f} msg/s, "
        f"p50 {ms(lat['p50'])} ms, p95 {ms(lat['p95'])} ms, p99 {ms(lat['p99'])} ms, "
        f"max {ms(lat['max'])} ms, errors {run['error_count']}, "
        f"drain {drain.get('seconds', 0):.1f} s, cpu {run['cpu_cores']}"
    )


def sse_line(sse: dict[str, Any]) -> str:
    lat = sse["latency_ms"]
    return (
        f"  {sse['arrived']}/{sse['ok']} events ({sse['sent']} sent), p50 {ms(lat['p50'])} ms, "
        f"p95 {ms(lat['p95'])} ms, p99 {ms(lat['p99'])} ms, max {ms(lat['max'])} ms"
    )


def loss_line(loss: dict[str, Any]) -> str:
    return (
        f"  loss check: accepted {loss['accepted']}, distinct ids {loss['distinct_ids']}, "
        f"stored {loss['stored']}, processed {loss['processed']}, failed {loss['failed']} → "
        f"zero loss: {'yes' if loss['zero_loss'] else 'NO'}"
    )


def throughput_table(setups: dict[str, Any]) -> list[str]:
    lines = [
        "| Set-up | Conns | Messages | Accepted | Errors | msg/s | p50 ms | p95 ms | p99 ms | max ms "
        "| Drain s | End-to-end msg/s | CPU web | CPU worker | CPU loadgen | CPU box |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, section in setups.items():
        for run in section["runs"]:
            lat, cpu = run["latency_ms"], run["cpu_cores"]
            lines.append(
                f"| {name} | {run['concurrency']} | {run['sent']:,} | {run['ok']:,} | {run['error_count']} "
                f"| **{run['rps']:,.0f}** | {ms(lat['p50'])} | {ms(lat['p95'])} | **{ms(lat['p99'])}** "
                f"| {ms(lat['max'])} | {run['drain']['seconds']:.1f}"
                f"{'' if run['drain']['drained'] else ' (not drained)'} | {run['end_to_end_rps']:,.0f} "
                f"| {cores(cpu.get('web'))} | {cores(cpu.get('worker'))} | {cores(cpu.get('loadgen'))} "
                f"| {cores(cpu.get('system'))} |"
            )
    return lines


def loss_table(setups: dict[str, Any]) -> list[str]:
    lines = [
        "| Set-up | Answered 200 | Distinct ids | Stored | Processed | Failed | Refused/errors | Zero loss |",
        "|---|--:|--:|--:|--:|--:|--:|:-:|",
    ]
    for name, section in setups.items():
        loss = section["loss"]
        lines.append(
            f"| {name} | {loss['accepted']:,} | {loss['distinct_ids']:,} | {loss['stored']:,} "
            f"| {loss['processed']:,} | {loss['failed']} | {loss['refused']} | {yes_no(loss['zero_loss'])} |"
        )
    return lines


def sse_table(setups: dict[str, Any]) -> list[str]:
    lines = [
        "| Set-up | Rate msg/s | Sent | Accepted | Events arrived | p50 ms | p95 ms | p99 ms | max ms "
        "| Webhook p99 ms |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, section in setups.items():
        sse = section.get("sse")
        if not sse:
            continue
        lat = sse["latency_ms"]
        lines.append(
            f"| {name} | {sse['achieved_rate']:.0f} | {sse['sent']:,} | {sse['ok']:,} | {sse['arrived']:,} "
            f"| {ms(lat['p50'])} | **{ms(lat['p95'])}** | {ms(lat['p99'])} | {ms(lat['max'])} "
            f"| {ms(sse['post_latency_ms']['p99'])} |"
        )
    return lines


def targets_table(setups: dict[str, Any]) -> list[str]:
    prod = setups.get("production")
    lines = ["| Target (production set-up) | Measured | Met |", "|---|---|:-:|"]
    if not prod:
        return [*lines, "| – | production set-up not run | – |"]
    best = max(prod["runs"], key=lambda r: (run_meets(r), r["rps"]))
    lines.append(
        f"| ≥ {TARGET_RPS:,.0f} msg/s at p99 ≤ {TARGET_P99_MS:.0f} ms, no errors "
        f"| best: {best['rps']:,.0f} msg/s at p99 {ms(best['latency_ms']['p99'])} ms "
        f"(c={best['concurrency']}, {best['error_count']} errors) | {yes_no(throughput_met(prod))} |"
    )
    loss = prod["loss"]
    lines.append(
        f"| Zero loss (every 200 stored once and processed) | {loss['processed']:,} processed of "
        f"{loss['accepted']:,} accepted, {loss['failed']} failed | {yes_no(loss['zero_loss'])} |"
    )
    sse = prod.get("sse")
    if sse:
        lines.append(
            f"| Message-to-dashboard p95 ≤ {TARGET_SSE_P95_MS / 1000:.0f} s at {TARGET_SSE_RATE:.0f} msg/s "
            f"| p95 {ms(sse['latency_ms']['p95'])} ms at {sse['achieved_rate']:.0f} msg/s, "
            f"{sse['arrived']:,}/{sse['ok']:,} events | {yes_no(sse_met(sse))} |"
        )
    return lines


def profile_section(setups: dict[str, Any]) -> list[str]:
    prod = setups.get("production") or {}
    run = prod.get("profile_run")
    if not run:
        return []
    lines = [
        "## Where the time goes (py-spy, production, extra run)",
        "",
        f"An extra run of {run['sent']:,} messages over {run['concurrency']} connections with py-spy "
        f"sampling at 200 Hz (`--nonblocking`) gave {run['rps']:,.0f} msg/s, p99 "
        f"{ms(run['latency_ms']['p99'])} ms (profiling slows the process a little). Shares are of "
        "the samples in which the process was running Python code.",
        "",
    ]
    for prof in run.get("profiles", []):
        if "error" in prof:
            lines += [f"- {prof['label']}: py-spy failed: {prof['error']}", ""]
            continue
        lines += [
            f"### {prof['label']} process — busy {prof['busy']:.0%} of the run",
            "",
            "| Inclusive | Function | | Self | Function |",
            "|--:|---|---|--:|---|",
        ]
        for (inc_name, inc), (own_name, own) in zip(prof["inclusive"], prof["self"], strict=False):
            lines.append(f"| {inc:.0%} | `{inc_name}` | | {own:.0%} | `{own_name}` |")
        packages = ", ".join(f"{name} {share:.0%}" for name, share in prof["packages"][:10])
        lines += ["", f"Self time by package: {packages}.", ""]
    return lines


def figures(results: dict[str, Any]) -> str:
    setups = results["setups"]
    parts = [
        "### Throughput and latency (closed loop)",
        "",
        *throughput_table(setups),
        "",
        "### Loss check",
        "",
        *loss_table(setups),
        "",
        "### Message-to-dashboard latency (webhook → SSE `message.new`)",
        "",
        *sse_table(setups),
        "",
        "### Targets",
        "",
        *targets_table(setups),
    ]
    return "\n".join(parts)


def method(results: dict[str, Any]) -> list[str]:
    plan = results["plan"]
    conc = ", ".join(str(c) for c in plan["concurrency"])
    return [
        "## Method",
        "",
        "`make bench` (= `.venv/bin/python bench/run.py`; `--quick` for a ~1,000-message smoke run, "
        "`--help` for every knob) starts each set-up from scratch, exactly as it is deployed:",
        "",
        "- **embedded**: a fresh SQLite file in a temp dir, no `REDIS_URL`; jobs (flow processing, "
        "live events) run as tasks inside the single web process.",
        "- **production**: a fresh PostgreSQL database `hub_bench_<random>` (dropped afterwards), "
        "`REDIS_URL=redis://127.0.0.1:6379/13` (flushed before and after), one web process and one "
        "`arq jobs.worker.WorkerSettings` worker process.",
        "",
        "Both: `python -m app.cli migrate`, `create-robot bench-1 --role monitor`, then `uvicorn "
        "app.main:app_factory --factory --loop uvloop --http httptools --no-access-log` (one process) "
        "with `HUB_WEBHOOK_RATE_LIMIT/BURST=100000`; ready when `GET /ready` answers 200.",
        "",
        f"1. **Warm-up**: {plan['warmup']} messages (creates the groups, fills caches), then wait until "
        "processed. Not in the tables, but in the loss check.",
        f"2. **Throughput and latency**: a closed-loop load generator (`bench/loadgen.py`, raw asyncio "
        f"streams on uvloop, HTTP/1.1 keep-alive, one request in flight per connection) posts "
        f"{plan['totals']['embedded']:,} (embedded) / {plan['totals']['production']:,} (production) "
        f"messages over {conc} persistent connections. Every body is WorkTool's exact JSON shape "
        "with a unique text (run tag + counter), spread over 24 groups and 97 senders, so the 10 s "
        "de-duplication never merges two of them. A request counts as accepted only on HTTP 200, "
        '`{"code":0…}` and an `X-Hub-Message-Id` header. Latency is from just before the write to the '
        "last byte of the answer; msg/s = accepted ÷ time from first write to last answer.",
        "3. **Drain**: after each run the orchestrator polls `GET /api/messages?status=processed` until "
        "every accepted message is processed. *Drain s* is the time from the last answer until then; "
        "*End-to-end msg/s* = accepted ÷ (load time + drain), i.e. the rate at which messages are "
        "fully processed, not just stored.",
        f"4. **Message-to-dashboard**: one SSE client on `GET /events?topics=messages` (bearer auth), "
        f"then {plan['sse_rate']:g} msg/s paced for {plan['sse_seconds']:g} s over a pool of keep-alive "
        "connections; latency = time from writing the webhook request to reading the `message.new` "
        "event whose row carries that `data-message-id` (same clock, same process).",
        "5. **Loss check** (whole set-up): answered-200 count = distinct message ids from the headers "
        "= stored total (`GET /api/messages`) = processed total, and no message failed.",
        "",
        "**CPU columns** are cores in use during the load (1.00 = one core busy), from `/proc`: the web "
        "process, the arq worker, the load generator (its own `getrusage`) and the whole box (includes "
        "PostgreSQL and Redis). The box has only "
        f"{results['meta']['cores']} cores, and the load generator runs on the same box, so it takes "
        "CPU that the server would otherwise have; a faster server would show a higher figure on a "
        "bigger box or with the generator on another machine. The load generator and the SSE probe "
        "each run in their own process, so their CPU is visible and separate from the hub's.",
        "",
        "Targets: production ≥ 1,500 msg/s at p99 ≤ 50 ms with zero loss; message-to-dashboard p95 "
        "≤ 1 s at 200 msg/s.",
    ]


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    setups = results["setups"]
    dirty = " (+ uncommitted changes in app/)" if meta["dirty"] else ""
    prod = setups.get("production")
    verdict = []
    if prod:
        met = throughput_met(prod) and prod["loss"]["zero_loss"] and sse_met(prod.get("sse"))
        verdict = [f"**All production targets met: {'yes' if met else 'no'}** (details below).", ""]
    parts = [
        "# Benchmarks: webhook ingest",
        "",
        "Generated by `make bench` (bench/run.py); rerun to refresh. Figures are from one run on the "
        "machine below; expect a few percent of run-to-run noise.",
        "",
        f"- Date: {meta['date']}{' — QUICK smoke run, not representative' if meta['quick'] else ''}",
        f"- Commit: `{meta['commit']}`{dirty}",
        f"- CPU: {meta['cpu_model']}, {meta['cores']} cores (`lscpu`); Linux {meta['kernel']}",
        f"- Python {meta['python']}, PostgreSQL {meta['postgres']}, Redis {meta['redis']}, "
        f"SQLite {meta['sqlite']}",
        "",
        *verdict,
        figures(results).replace("### ", "## "),
        "",
        *method(results),
        "",
        *profile_section(setups),
    ]
    return "\n".join(parts).rstrip() + "\n"
