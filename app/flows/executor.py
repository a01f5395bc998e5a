"""Runs stored messages through the active flow and records a trace per node.

A batch of messages shares one transaction. The fast path runs every message without a
savepoint and flushes once per message; if any node fails, the whole transaction is rolled back
and the batch runs again in safe mode, where each message has its own SAVEPOINT, so a failing
node rolls back only that message's changes. The failure is recorded (run + steps + error), the
attempt counted, and the message retried later or, after the last attempt, marked failed.
Traces (one run and one row per node) are inserted in bulk at the end of the batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.chat.models import Message
from app.db import Database, id_in
from app.db_bulk import Columns, unnest_insert
from app.flows.definition import DEFAULT_FLOW, CompiledFlow, compile_flow
from app.flows.models import FlowDefinition, FlowRun, FlowStep
from app.flows.registry import BATCH_MESSAGES, TOTALS_KEY, NodeContext, PendingEvent

log = logging.getLogger(__name__)

MAX_NODES_PER_RUN = 100
MAX_BATCH = 500
SQLITE_CHUNK = 20
# Never waits: a group another job holds is left to that job (it processes the group's pending
# messages in order) and this job's ids of that group are deferred.
TRY_GROUP_LOCKS = text(
    "SELECT g FROM unnest(CAST(:groups AS int[])) AS t(g) WHERE pg_try_advisory_xact_lock(7301, g)"
)
FLOW_CACHE_SECONDS = 5.0
FOLLOW_UP_ROUNDS = 3  # rounds of "anything new in my groups?" after the locks are released
YIELD_POLLS = 50
YIELD_POLL_SECONDS = 0.002
RUN_COLUMNS: Columns = (
    ("message_id", "bigint"),
    ("flow_name", "text"),
    ("flow_version", "int"),
    ("attempt", "int"),
    ("status", "text"),
    ("started_at", "timestamptz"),
    ("duration_ms", "float8"),
    ("error", "text"),
)
STEP_COLUMNS: Columns = (
    ("run_id", "bigint"),
    ("position", "int"),
    ("node", "text"),
    ("node_type", "text"),
    ("status", "text"),
    ("branch", "text"),
    ("duration_ms", "float8"),
    ("input_summary", "text"),
    ("output", "jsonb"),
    ("error", "text"),
)


@dataclass
class BatchOutcome:
    processed: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)  # their group was busy in another job
    events: list[PendingEvent] = field(default_factory=list)
    yielded: bool = False  # the chunk ended early to let webhooks store (embedded SQLite)
    held: list[int] = field(default_factory=list)  # groups this job held the lock of

    def merge(self, other: BatchOutcome) -> None:
        self.processed += other.processed
        self.retry += other.retry
        self.failed += other.failed
        self.deferred += other.deferred
        self.events += other.events
        self.held += other.held


class RetrySafely(Exception):
    """A node failed on the fast path: roll the batch back and run it with savepoints; the failed
    message is recorded as failed then, from this attempt, without running it a second time."""

    def __init__(self, message_id: int, error: str, steps: list[dict[str, Any]]) -> None:
        super().__init__(error)
        self.message_id = message_id
        self.error = error
        self.steps = steps


def summarise(message: Message) -> str:
    text = message.text or message.raw_text or f"[{message.media_kind}]"
    where = message.group_name or "私聊"
    return f"{where} · {message.sender_name}: {text}"[:300]


@dataclass
class Trace:
    run: dict[str, Any]
    steps: list[dict[str, Any]] = field(default_factory=list)


class FlowExecutor:
    def __init__(self, db: Database, max_attempts: int) -> None:
        self.db = db
        self.postgres = db.engine.dialect.name == "postgresql"
        self.chunk_size = MAX_BATCH if self.postgres else SQLITE_CHUNK
        self.max_attempts = max_attempts
        # Embedded (one SQLite writer): True while webhooks wait to store; a chunk then commits early.
        self.yield_to: Callable[[], bool] | None = None
        self._flow: CompiledFlow | None = None
        self._flow_loaded = 0.0

    async def active_flow(self) -> CompiledFlow:
        if self._flow is None or time.monotonic() - self._flow_loaded > FLOW_CACHE_SECONDS:
            async with self.db.session() as session:
                row = (
                    await session.execute(
                        select(FlowDefinition)
                        .where(FlowDefinition.name == "default", FlowDefinition.active.is_(True))
                        .order_by(FlowDefinition.version.desc())
                        .limit(1)
                    )
                ).scalar_one_or_none()
            self._flow = compile_flow(row.definition, row.version) if row else compile_flow(DEFAULT_FLOW, 0)
            self._flow_loaded = time.monotonic()
        return self._flow

    async def process(self, message_ids: list[int]) -> BatchOutcome:
        """Process these messages, and with them every pending message of the same groups.

        Messages of one group are processed in arrival order, since each reads the ones before it
        (context, waiting questions). Holding a per-group lock, a job processes all of the group's
        pending messages in id order, so a later job for that group finds them done; ids of a
        group locked by another job come back as `deferred`. Once its locks are released, a job
        looks again for pending messages of the groups it held (stored while it worked, possibly
        by jobs that found the group locked) and processes them too, so such jobs need not poll.
        On SQLite the embedded runner processes one batch at a time, which gives the same order."""
        flow = await self.active_flow()
        outcome = BatchOutcome()
        done = 0
        ids = message_ids
        for _round in range(FOLLOW_UP_ROUNDS + 1):
            while done < MAX_BATCH:
                try:
                    chunk = await self._process_chunk(flow, ids, outcome.retry, None)
                except RetrySafely as failure:
                    known = {failure.message_id: failure}
                    chunk = await self._process_chunk(flow, ids, outcome.retry, known)
                outcome.merge(chunk)
                handled = len(chunk.processed) + len(chunk.retry) + len(chunk.failed)
                done += handled
                if chunk.yielded:
                    await self._let_webhooks_store()
                elif handled < self.chunk_size or chunk.deferred:
                    break
            if not self.postgres or not outcome.held or done >= MAX_BATCH:
                break
            ids = await self._pending_in(sorted(set(outcome.held)))  # after commit: locks released
            if not ids:
                break
        outcome.deferred = sorted(set(outcome.deferred) - set(outcome.processed))
        return outcome

    async def _pending_in(self, groups: list[int]) -> list[int]:
        async with self.db.session() as session:
            found = await session.execute(
                select(Message.id)
                .where(id_in(Message.group_id, groups, True), Message.status == "received")
                .where(Message.attempts == 0)
                .order_by(Message.id)
                .limit(self.chunk_size)
            )
            return list(found.scalars())

    async def _let_webhooks_store(self) -> None:
        """SQLite has one writer: after an early commit, wait (briefly) until the waiting webhooks
        have stored their messages, so the next chunk does not take the lock straight back."""
        for _ in range(YIELD_POLLS):
            if self.yield_to is None or not self.yield_to():
                return
            await asyncio.sleep(YIELD_POLL_SECONDS)

    async def _lock_groups(
        self, session: AsyncSession, message_ids: list[int]
    ) -> tuple[list[int], list[int]]:
        """(groups this job may process, groups busy in another job)."""
        found = await session.execute(
            select(Message.group_id).where(id_in(Message.id, message_ids, self.postgres)).distinct()
        )
        groups = sorted(g for g in found.scalars() if g is not None)
        if not groups or not self.postgres:
            return groups, []
        locked = set((await session.execute(TRY_GROUP_LOCKS, {"groups": groups})).scalars())
        return sorted(locked), [g for g in groups if g not in locked]

    async def _process_chunk(
        self,
        flow: CompiledFlow,
        message_ids: list[int],
        retrying: list[int],
        known_failures: dict[int, RetrySafely] | None,
    ) -> BatchOutcome:
        """Fast path when `known_failures` is None, else safe mode."""
        chunk = BatchOutcome()
        async with self.db.transaction() as session:
            groups, busy = await self._lock_groups(session, message_ids)
            chunk.held = groups
            mine: ColumnElement[bool] = id_in(Message.id, message_ids, self.postgres)
            if busy:
                deferred = await session.execute(
                    select(Message.id).where(mine, Message.group_id.in_(busy), Message.status == "received")
                )
                chunk.deferred = list(deferred.scalars())
                mine = mine & (Message.group_id.is_(None) | Message.group_id.not_in(busy))
            wanted = mine
            if groups:
                wanted = wanted | (Message.group_id.in_(groups) & (Message.attempts == 0))
            if retrying:  # failed in this job: their retry is scheduled with back-off
                wanted = wanted & Message.id.not_in(retrying)
            query = (
                select(Message)
                .where(wanted, Message.status == "received")
                .order_by(Message.id)
                .limit(self.chunk_size)
                .with_for_update(skip_locked=True)
            )
            messages = (await session.execute(query)).scalars().all()
            batch: dict[str, Any] = {BATCH_MESSAGES: messages}
            traces: list[Trace] = []
            for message in messages:
                if traces and self.yield_to is not None and self.yield_to():
                    chunk.yielded = True
                    break
                if known_failures is not None:
                    failure = known_failures.get(message.id)
                    traces.append(await self._process_safely(session, flow, message, batch, chunk, failure))
                else:
                    traces.append(await self._process_fast(session, flow, message, batch, chunk))
            for value, finalize in batch.get(TOTALS_KEY, {}).values():
                await finalize(session, value)
            await self._store_traces(session, traces)
        return chunk

    async def _process_fast(
        self,
        session: AsyncSession,
        flow: CompiledFlow,
        message: Message,
        batch: dict[str, Any],
        chunk: BatchOutcome,
    ) -> Trace:
        now = clock.now()
        ctx = NodeContext(session=session, message=message, now=now, batch=batch)
        trace = Trace({})
        started = time.perf_counter()
        try:
            with session.no_autoflush:
                await self._run_nodes(flow, ctx, trace.steps, summarise(message))
        except Exception as exc:
            log.info("flow node failed for message %s, batch runs again in safe mode: %s", message.id, exc)
            raise RetrySafely(message.id, f"{type(exc).__name__}: {exc}", trace.steps) from exc
        message.attempts += 1
        self._finish(flow, message, trace, now, started, None, chunk)
        chunk.events.extend(ctx.events)
        try:
            await session.flush()  # later messages of the batch read this one (context, waiting questions)
        except Exception as exc:
            log.info("storing message %s failed, batch runs again in safe mode: %s", message.id, exc)
            raise RetrySafely(message.id, f"{type(exc).__name__}: {exc}", trace.steps) from exc
        return trace

    async def _process_safely(
        self,
        session: AsyncSession,
        flow: CompiledFlow,
        message: Message,
        batch: dict[str, Any],
        chunk: BatchOutcome,
        failure: RetrySafely | None,
    ) -> Trace:
        now = clock.now()
        ctx = NodeContext(session=session, message=message, now=now, batch=batch)
        trace = Trace({})
        started = time.perf_counter()
        message.attempts += 1
        if failure is not None:  # failed on the fast path a moment ago: recorded, not run again
            log.warning("flow node failed for message %s: %s", message.id, failure.error)
            trace.steps = failure.steps
            self._finish(flow, message, trace, now, started, failure.error, chunk)
            await session.flush()
            return trace
        error: str | None = None
        savepoint = await session.begin_nested()
        try:
            with session.no_autoflush:  # as on the fast path: nodes flush when they need ids
                await self._run_nodes(flow, ctx, trace.steps, summarise(message))
            await savepoint.commit()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("flow node failed for message %s: %s", message.id, error)
            if savepoint.is_active:
                await savepoint.rollback()
            kept = {key: batch[key] for key in (TOTALS_KEY, BATCH_MESSAGES) if key in batch}
            batch.clear()  # caches may hold objects of the rolled-back savepoint
            batch.update(kept)
            await session.refresh(message)
        else:
            chunk.events.extend(ctx.events)
        self._finish(flow, message, trace, now, started, error, chunk)
        await session.flush()
        return trace

    def _finish(
        self,
        flow: CompiledFlow,
        message: Message,
        trace: Trace,
        now: Any,
        started: float,
        error: str | None,
        chunk: BatchOutcome,
    ) -> None:
        trace.run = {
            "message_id": message.id,
            "flow_name": flow.name,
            "flow_version": flow.version,
            "attempt": message.attempts,
            "status": "error" if error else "ok",
            "started_at": now,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "error": error,
        }
        if error is None:
            message.status = "processed"
            message.processed_at = clock.now()
            message.last_error = None
            chunk.processed.append(message.id)
            return
        message.last_error = error
        if message.attempts >= self.max_attempts:
            message.status = "failed"
            chunk.failed.append(message.id)
        else:
            chunk.retry.append(message.id)

    async def _store_traces(self, session: AsyncSession, traces: list[Trace]) -> None:
        if not traces:
            return
        runs = [t.run for t in traces]
        if self.postgres:  # one fixed statement per table, whatever the batch size
            by_message = {
                m: i
                for i, m in await unnest_insert(session, "flow_runs", RUN_COLUMNS, runs, "id, message_id")
            }
            run_ids = [by_message[run["message_id"]] for run in runs]
        else:
            result = await session.execute(
                insert(FlowRun).returning(FlowRun.id, sort_by_parameter_order=True), runs
            )
            run_ids = list(result.scalars())
        steps = [
            {**step, "run_id": run_id}
            for trace, run_id in zip(traces, run_ids, strict=True)
            for step in trace.steps
        ]
        if not steps:
            return
        if self.postgres:
            await unnest_insert(session, "flow_steps", STEP_COLUMNS, steps)
        else:
            await session.execute(insert(FlowStep), steps)

    async def _run_nodes(
        self, flow: CompiledFlow, ctx: NodeContext, steps: list[dict[str, Any]], summary: str
    ) -> None:
        node_id: str | None = flow.start
        position = 0
        while node_id is not None:
            position += 1
            if position > MAX_NODES_PER_RUN:
                raise RuntimeError("流程步骤过多，可能存在循环")
            node = flow.nodes[node_id]
            spec = flow.specs[node_id]
            t0 = time.perf_counter()
            step: dict[str, Any] = {
                "position": position,
                "node": node_id,
                "node_type": spec.type,
                "input_summary": summary,
                "branch": None,
                "error": None,
            }
            try:
                result = await node.run(ctx)
            except Exception as exc:
                steps.append(
                    {
                        **step,
                        "status": "error",
                        "duration_ms": _ms(t0),
                        "output": {},
                        "error": f"{type(exc).__name__}: {exc}",
                    }
                )
                raise
            steps.append(
                {
                    **step,
                    "status": "ok",
                    "branch": result.branch,
                    "duration_ms": _ms(t0),
                    "output": result.output,
                }
            )
            node_id = flow.next_node(node_id, result.branch)


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)
