"""Environment facts, target checks and the markdown report (docs/benchmarks.md)."""

from __future__ import annotations

import itertools
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


def environment(quick: bool, source: str | None) -> dict[str, Any]:
    import os
    import sqlite3

    commit = _command(["git", "rev-parse", "--short", source or "HEAD"]) or "unknown"
    changed = ["git", "status", "--porcelain", "--", "app", "jobs", "migrations", "templates"]
    dirty = source is None and bool(_command(changed))
    return {
        "source": source or "working tree",
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
    # Missing events count as infinitely late in the percentiles; webhook errors fail the target.
    accepted_all = sse["ok"] == sse["sent"] > 0
    paced = sse["achieved_rate"] >= 0.95 * TARGET_SSE_RATE
    return accepted_all and paced and sse["latency_ms"]["p95"] <= TARGET_SSE_P95_MS


def yes_no(flag: bool) -> str:
    return "**yes**" if flag else "**no**"


# ── formatting ───────────────────────────────────────────────────────────────


def ms(value: float | None, settle: float | None = None) -> str:
    if value is None or math.isnan(value):
        return "–"
    if math.isinf(value):
        return f"> {settle:g} s" if settle else "never"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def with_unit(value: float, settle: float | None = None) -> str:
    text = ms(value, settle)
    return text if math.isinf(value) or text == "–" else f"{text} ms"


def cores(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def drain_text(drain: dict[str, Any]) -> str:
    if drain["drained"]:
        return f"{drain['seconds']:.1f}"
    projected = drain.get("projected")
    guess = f"≈ {projected:,.0f} s at the observed rate" if projected else "no progress"
    return f"not drained (gave up after {drain['seconds']:.0f} s; {guess})"


def shares(items: list[tuple[str, float]], limit: int = 3) -> str:
    return "; ".join(f"{share:.0%} `{name}`" for name, share in items[:limit]) or "–"


def run_line(run: dict[str, Any]) -> str:
    lat = run["latency_ms"]
    return (
        f"  {run['ok']:,}/{run['sent']:,} ok, {run['rps']:,.0f} msg/s, p50 {ms(lat['p50'])} ms, "
        f"p95 {ms(lat['p95'])} ms, p99 {ms(lat['p99'])} ms, max {ms(lat['max'])} ms, "
        f"errors {run['error_count']}, drain {drain_text(run['drain'])}; cpu "
        + ", ".join(f"{k} {v:.2f}" for k, v in run["cpu_cores"].items())
    )


def sse_line(sse: dict[str, Any]) -> str:
    lat = sse["latency_ms"]
    return (
        f"  {sse['arrived']:,}/{sse['ok']:,} events ({sse['sent']:,} sent at {sse['achieved_rate']:.0f}/s), "
        f"p50 {with_unit(lat['p50'])}, p95 {with_unit(lat['p95'])}, p99 {with_unit(lat['p99'])}, "
        f"max {with_unit(lat['max'])} (never = not within the wait after the last post)"
    )


def loss_line(loss: dict[str, Any]) -> str:
    return (
        f"  loss check: accepted {loss['accepted']:,}, distinct ids {loss['distinct_ids']:,}, "
        f"stored {loss['stored']:,}, processed {loss['processed']:,}, failed {loss['failed']}, "
        f"pending {loss['pending']:,} → zero loss: {'yes' if loss['zero_loss'] else 'NO'}"
    )


# ── tables ───────────────────────────────────────────────────────────────────


NOISE_MARK = " ⚠"


def mark(run: dict[str, Any], threshold: float) -> str:
    """⚠ when other work on the box used more than `threshold` cores during the run."""
    return NOISE_MARK if run.get("cpu_cores", {}).get("other", 0.0) > threshold else ""


def throughput_table(setups: dict[str, Any], threshold: float) -> list[str]:
    lines = [
        "| Set-up | Conns | Messages | Accepted | Errors | msg/s | p50 ms | p95 ms | p99 ms | max ms "
        "| Drain after load, s | End-to-end msg/s |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|",
    ]
    for name, section in setups.items():
        for run in section["runs"]:
            lat = run["latency_ms"]
            e2e = run.get("end_to_end_rps")
            lines.append(
                f"| {name}{mark(run, threshold)} | {run['concurrency']} | {run['sent']:,} | {run['ok']:,} "
                f"| {run['error_count']} | **{run['rps']:,.0f}** | {ms(lat['p50'])} | {ms(lat['p95'])} "
                f"| **{ms(lat['p99'])}** "
                f"| {ms(lat['max'])} | {drain_text(run['drain'])} | {'–' if e2e is None else f'{e2e:,.0f}'} |"
            )
    return lines


def cpu_table(setups: dict[str, Any], threshold: float) -> list[str]:
    lines = [
        "| Set-up | Measurement | web | worker | PostgreSQL + Redis | load generator / probe | other "
        "| whole box | background before run |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, section in setups.items():
        for run in [*section["runs"], section["sse"]]:
            cpu = run["cpu_cores"]
            client = cpu.get("loadgen", cpu.get("probe"))
            lines.append(
                f"| {name}{mark(run, threshold)} | {run['phase']} | {cores(cpu.get('web'))} "
                f"| {cores(cpu.get('worker'))} | {cores(cpu.get('databases'))} | {cores(client)} "
                f"| {cores(cpu.get('other'))} | {cores(cpu.get('system'))} "
                f"| {cores(run.get('background_cores'))} |"
            )
    return lines


def loss_table(setups: dict[str, Any]) -> list[str]:
    lines = [
        "| Set-up | Measurement | Answered 200 | Distinct ids | Stored | Processed | Failed | Pending "
        "| Refused/errors | Zero loss |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|:-:|",
    ]
    for name, section in setups.items():
        for loss in section["phase_loss"]:
            lines.append(
                f"| {name} | {loss['phase']} | {loss['accepted']:,} | {loss['distinct_ids']:,} "
                f"| {loss['stored']:,} | {loss['processed']:,} | {loss['failed']} | {loss['pending']:,} "
                f"| {loss['refused']} | {yes_no(loss['zero_loss'])} |"
            )
    return lines


def sse_table(setups: dict[str, Any], threshold: float) -> list[str]:
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
        late = sse.get("settle_s")
        lines.append(
            f"| {name}{mark(sse, threshold)} | {sse['achieved_rate']:.0f} | {sse['sent']:,} | {sse['ok']:,} "
            f"| {sse['arrived']:,} "
            f"| {ms(lat['p50'], late)} | **{ms(lat['p95'], late)}** | {ms(lat['p99'], late)} "
            f"| {ms(lat['max'], late)} | {ms(sse['post_latency_ms']['p99'])} |"
        )
    return lines


def database_table(setups: dict[str, Any]) -> list[str]:
    section = setups.get("production")
    if not section:
        return []
    phases = [
        *section["runs"],
        section["sse"],
        *([section["profile_run"]] if "profile_run" in section else []),
    ]
    running = any((run.get("database") or {}).get("running_statements") for run in phases)
    lines = [
        "| Measurement | Busy backends (avg) | Deadlocks | Top waits | Top statements "
        + ("| Statements of running backends |" if running else "|"),
        "|---|--:|--:|---|---|" + ("---|" if running else ""),
    ]
    for run in phases:
        db = run.get("database") or {}
        if not db:
            continue
        extra = f" {shares(db.get('running_statements', []), 3)} |" if running else ""
        lines.append(
            f"| {run['phase']} | {db['avg_active_backends']:.1f} | {db['deadlocks']} "
            f"| {shares(db['waits'])} | {shares(db['statements'], 2)} |{extra}"
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
        f"| Zero loss (every 200 stored once and processed) | {loss['stored']:,} stored and "
        f"{loss['processed']:,} processed of {loss['accepted']:,} accepted; {loss['failed']} failed, "
        f"{loss['pending']:,} still pending | {yes_no(loss['zero_loss'])} |"
    )
    sse = prod.get("sse")
    if sse:
        lines.append(
            f"| Message-to-dashboard p95 ≤ {TARGET_SSE_P95_MS / 1000:.0f} s at {TARGET_SSE_RATE:.0f} msg/s "
            f"| p95 {with_unit(sse['latency_ms']['p95'], sse.get('settle_s'))} "
            f"at {sse['achieved_rate']:.0f} msg/s, "
            f"{sse['arrived']:,}/{sse['ok']:,} events arrived | {yes_no(sse_met(sse))} |"
        )
    return lines


def profile_section(setups: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for name, section in setups.items():
        run = section.get("profile_run")
        if not run:
            continue
        lines += [
            f"## Where the time goes: {name} (py-spy, extra run)",
            "",
            f"A separate fresh set-up took {run['sent']:,} messages over {run['concurrency']} connections "
            f"while py-spy sampled its processes at 200 Hz (`--gil --nonblocking`): {run['rps']:,.0f} "
            f"msg/s, p99 {ms(run['latency_ms']['p99'])} ms. Only the thread holding the GIL is sampled, "
            "so shares are of the process's Python CPU time (waiting on the network, the database or a "
            "lock is not in them; see the PostgreSQL table for that). *Inclusive* lists the hub's own "
            "functions; SQLAlchemy's async layer runs database work in greenlets, which py-spy reports "
            "as separate stacks, so inclusive shares of functions that query the database are lower "
            "bounds.",
            "",
        ]
        for prof in run.get("profiles", []):
            if "error" in prof:
                lines += [f"- {prof['label']}: py-spy failed: {prof['error']}", ""]
                continue
            lines += [
                f"### {name} {prof['label']} process: Python held the GIL {prof['busy']:.0%} of the run",
                "",
                "| Inclusive | Hub function | Self | Function |",
                "|--:|---|--:|---|",
            ]
            rows = itertools.zip_longest(prof["inclusive"], prof["self"], fillvalue=None)
            for inclusive, own in rows:
                left = f"{inclusive[1]:.0%} | `{inclusive[0]}`" if inclusive else " | "
                right = f"{own[1]:.0%} | `{own[0]}`" if own else " | "
                lines.append(f"| {left} | {right} |")
            packages = ", ".join(f"{pkg} {share:.0%}" for pkg, share in prof["packages"][:10])
            lines += ["", f"Self time by package: {packages}.", ""]
    return lines


def figures(results: dict[str, Any]) -> str:
    setups = results["setups"]
    threshold = results["plan"]["noise_threshold"]
    db = database_table(setups)
    parts = [
        "### Throughput and latency (closed loop)",
        "",
        *throughput_table(setups, threshold),
        "",
        f"⚠ = other work on the box used more than {threshold:g} cores during the run (even after a "
        "repeat), so that row understates the hub; see *other* below.",
        "",
        "### CPU during each measurement (cores; the box has 2)",
        "",
        *cpu_table(setups, threshold),
        "",
        "### Loss check",
        "",
        *loss_table(setups),
        "",
        "### Message-to-dashboard latency (webhook → SSE `message.new`)",
        "",
        *sse_table(setups, threshold),
        "",
        *(["### PostgreSQL during each measurement (production)", "", *db, ""] if len(db) > 2 else []),
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
        "`--source HEAD` to measure the last commit instead of the working tree, `--help` for every "
        "knob) measures two set-ups, started exactly as they are deployed:",
        "",
        "- **embedded**: a fresh SQLite file in a temp dir, no `REDIS_URL`; jobs (flow processing, "
        "live events) run as tasks inside the single web process.",
        "- **production**: a fresh PostgreSQL database `hub_bench_<random>` (dropped afterwards), "
        "`REDIS_URL=redis://127.0.0.1:6379/13` (flushed before and after), one web process and one "
        "`arq jobs.worker.WorkerSettings` worker process.",
        "",
        "Every measurement gets its own freshly started set-up (`python -m app.cli migrate`, "
        "`create-robot bench-1 --role monitor`, `uvicorn app.main:app_factory --factory --loop uvloop "
        "--http httptools --no-access-log`, one process, `HUB_WEBHOOK_RATE_LIMIT/BURST=100000`, ready "
        f"when `GET /ready` answers 200), a warm-up of {plan['warmup']} messages (creates the groups, "
        "fills caches; waited on until processed, at most "
        f"{plan['warmup_drain_timeout']:g} s), and starts only once background load on the box is below "
        f"{plan['quiet_threshold']:g} cores, so a backlog or another job on the box cannot leak into it.",
        "",
        f"1. **Throughput and latency**: a closed-loop load generator (`bench/loadgen.py`, raw asyncio "
        f"streams on uvloop, HTTP/1.1 keep-alive, one request in flight per connection) posts "
        f"{plan['totals']['embedded']:,} (embedded) / {plan['totals']['production']:,} (production) "
        f"messages over {conc} persistent connections. Every body is WorkTool's exact JSON shape "
        "with a unique text (run tag + counter), spread over 24 groups and 97 senders, so the 10 s "
        "de-duplication never merges two of them. A request counts as accepted only on HTTP 200, "
        '`{"code":0…}` and an `X-Hub-Message-Id` header. Latency is from just before the write to the '
        "last byte of the answer; msg/s = accepted ÷ time from the first write to the last answer.",
        "2. **Drain**: then `GET /api/messages?status=processed` is polled until every accepted message "
        "is processed. *Drain* is the time from the last answer until then; *end-to-end msg/s* = "
        "accepted ÷ (load time + drain), the rate at which messages are fully processed rather than "
        f"just stored. The wait is bounded ({plan['drain_timeout']:g} s); when after 15 s the observed "
        "processing rate cannot finish in time, the benchmark stops waiting and reports the projection.",
        f"3. **Message-to-dashboard**: one SSE client on `GET /events?topics=messages` (bearer auth), "
        f"then {plan['sse_rate']:g} msg/s paced for {plan['sse_seconds']:g} s over a pool of keep-alive "
        "connections; latency = time from writing the webhook request to reading the `message.new` "
        "event that carries a row with that `data-message-id` (same clock, same process). The hub "
        "publishes `message.new` as soon as a batch is stored (the dashboard shows the row then) and "
        "`message.processed` when the flow has labelled it. An event still "
        "missing 20 s after the last post counts as infinitely late (shown as “> 20 s”), so the "
        "percentiles cover every accepted message, not only those that arrived.",
        "4. **Loss check** (per measurement, warm-up included): answered-200 count = distinct message "
        "ids from the headers = stored total (`GET /api/messages`) = processed total, and nothing "
        "failed. *Pending* = accepted but not (yet) processed when the drain wait ended.",
        "",
        "**CPU** figures are cores in use during the load (1.00 = one core busy), from `/proc`: the web "
        "process, the arq worker, all `postgres` and `redis-server` processes, the load generator (its "
        "own `getrusage`), *other* (everything else on the box) and the whole box. The box has only "
        f"{results['meta']['cores']} cores and the load generator runs on it too, taking CPU that the "
        "server would otherwise have; with the generator on another machine the server would do "
        "somewhat better. The load generator and the SSE probe each run in their own process, so "
        "their CPU is visible and separate from the hub's. For production, `pg_stat_activity` of the "
        "bench database is sampled every 250 ms during each measurement (wait events, statements, "
        "deadlocks from `pg_stat_database`).",
        "",
        "Targets: production ≥ 1,500 msg/s at p99 ≤ 50 ms with zero loss; message-to-dashboard p95 "
        "≤ 1 s at 200 msg/s. When one is missed, an extra run is profiled with py-spy (`.venv/bin/pip "
        "install py-spy`; not a project dependency).",
    ]


def code_line(meta: dict[str, Any]) -> str:
    if meta["source"] == "working tree":
        dirty = " plus uncommitted changes in app/" if meta["dirty"] else ""
        return f"working tree at commit `{meta['commit']}`{dirty}"
    return f"commit `{meta['commit']}` (`--source {meta['source']}`: exported with `git archive`)"


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    setups = results["setups"]
    prod = setups.get("production")
    verdict = []
    if prod:
        met = throughput_met(prod) and prod["loss"]["zero_loss"] and sse_met(prod.get("sse"))
        verdict = [f"**All production targets met: {'yes' if met else 'no'}** (details below).", ""]
    parts = [
        "# Benchmarks: webhook ingest",
        "",
        "Generated by `make bench` (bench/run.py); rerun to refresh. Figures are from one run on the "
        "machine below; expect some run-to-run noise.",
        "",
        f"- Date: {meta['date']}{' — QUICK smoke run, not representative' if meta['quick'] else ''}",
        f"- Code: {code_line(meta)}",
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
