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
from collections import Counter
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
# The oldest pending messages of each group, in id order: one ordered scan per group of the partial
# index ix_messages_pending_group, stopping after :per_group rows. An ordered index scan marks the
# entries of already-processed messages dead as it passes them, so this stays cheap as the table
# grows, whatever the planner's statistics (a status look-up through a bitmap scan would visit every
# message ever stored until a VACUUM).
PENDING_IN_GROUPS = text(
    "SELECT p.id, p.group_id FROM unnest(CAST(:groups AS bigint[])) AS g(id) CROSS JOIN LATERAL ("
    " SELECT m.id, m.group_id FROM messages AS m"
    " WHERE m.group_id = g.id AND m.status = 'received' AND m.attempts = 0"
    " ORDER BY m.id LIMIT :per_group) AS p"
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
    more: bool = False  # a held group may have more pending messages than this chunk took

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
                elif chunk.deferred or handled == 0 or (handled < self.chunk_size and not chunk.more):
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
            found, _more = await self._pending_by_group(session, groups)
            return sorted(found)

    async def _pending_by_group(
        self, session: AsyncSession, groups: list[int]
    ) -> tuple[dict[int, int], bool]:
        """PostgreSQL: {id: group} of the oldest pending messages of these groups, about one chunk in
        all (the first ids of each group, so each group's order holds), and whether a group may have
        more."""
        per_group = self.chunk_size // len(groups) + 1
        rows = (await session.execute(PENDING_IN_GROUPS, {"groups": groups, "per_group": per_group})).all()
        taken = Counter(group_id for _message_id, group_id in rows)
        return dict(rows), any(n >= per_group for n in taken.values())

    async def _let_webhooks_store(self) -> None:
        """SQLite has one writer: after an early commit, wait (briefly) until the waiting webhooks
        have stored their messages, so the next chunk does not take the lock straight back."""
        for _ in range(YIELD_POLLS):
            if self.yield_to is None or not self.yield_to():
                return
            await asyncio.sleep(YIELD_POLL_SECONDS)

    async def _claim(
        self, session: AsyncSession, message_ids: list[int], retrying: list[int], chunk: BatchOutcome
    ) -> list[Message]:
        """PostgreSQL: lock the groups of `message_ids` that no other job holds, and lock (FOR UPDATE)
        the messages to process now: these ids and the held groups' pending messages, in id order.

        Every look-up goes by primary key or by the ordered pending-per-group scan, never by a
        status filter the planner could serve from a bloated index (see PENDING_IN_GROUPS)."""
        own = (
            await session.execute(
                select(Message.id, Message.group_id, Message.status).where(
                    id_in(Message.id, message_ids, True)
                )
            )
        ).all()
        groups = sorted({group for _id, group, _status in own if group is not None})
        locked = (
            set((await session.execute(TRY_GROUP_LOCKS, {"groups": groups})).scalars()) if groups else set()
        )
        chunk.held = sorted(locked)
        skip = set(retrying)  # failed in this job: their retry is scheduled with back-off
        pending = {i: g for i, g, status in own if status == "received" and i not in skip}
        chunk.deferred = sorted(i for i, g in pending.items() if g is not None and g not in locked)
        wanted = {i: g for i, g in pending.items() if g is None or g in locked}
        if chunk.held:
            in_groups, chunk.more = await self._pending_by_group(session, chunk.held)
            if chunk.more:  # a group's later own ids wait until its earlier pending ones are done
                last: dict[int, int] = {}
                for i, g in in_groups.items():
                    last[g] = max(i, last.get(g, i))
                wanted = {i: g for i, g in wanted.items() if g is None or g not in last or i <= last[g]}
            wanted.update((i, g) for i, g in in_groups.items() if i not in skip)
        ids = sorted(wanted)[: self.chunk_size]
        if not ids:
            return []
        # No status condition: the primary key is the only way to these rows. Rows processed in the
        # meantime (a private message by another job) are dropped below.
        query = (
            select(Message)
            .where(id_in(Message.id, ids, True))
            .order_by(Message.id)
            .with_for_update(skip_locked=True)
        )
        return [m for m in (await session.execute(query)).scalars() if m.status == "received"]

    async def _claim_sqlite(
        self, session: AsyncSession, message_ids: list[int], retrying: list[int], chunk: BatchOutcome
    ) -> list[Message]:
        """SQLite (embedded, one batch at a time, no other writer): these ids and their groups'
        pending messages, in id order."""
        found = await session.execute(
            select(Message.group_id).where(id_in(Message.id, message_ids, False)).distinct()
        )
        groups = sorted(g for g in found.scalars() if g is not None)
        chunk.held = groups
        wanted: ColumnElement[bool] = id_in(Message.id, message_ids, False)
        if groups:
            wanted = wanted | (Message.group_id.in_(groups) & (Message.attempts == 0))
        if retrying:
            wanted = wanted & Message.id.not_in(retrying)
        query = (
            select(Message)
            .where(wanted, Message.status == "received")
            .order_by(Message.id)
            .limit(self.chunk_size)
        )
        return list((await session.execute(query)).scalars().all())

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
            if self.postgres:
                messages = await self._claim(session, message_ids, retrying, chunk)
            else:
                messages = await self._claim_sqlite(session, message_ids, retrying, chunk)
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
