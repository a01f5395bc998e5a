"""Runs stored messages through the active flow and records a trace per node.

A batch of messages shares one transaction; each message runs inside a SAVEPOINT, so a failing
node rolls back only that message's changes. The failure is recorded (run + steps + error),
the attempt counted, and the message retried later or, after the last attempt, marked failed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, select, text

from app import clock
from app.chat.models import Message
from app.db import Database
from app.flows.definition import DEFAULT_FLOW, CompiledFlow, compile_flow
from app.flows.models import FlowDefinition, FlowRun, FlowStep
from app.flows.registry import NodeContext, PendingEvent

log = logging.getLogger(__name__)

MAX_NODES_PER_RUN = 100
MAX_BATCH = 500
SQLITE_CHUNK = 20
GROUP_LOCKS = text(
    "SELECT pg_advisory_xact_lock(7301, g) "
    "FROM (SELECT g FROM unnest(CAST(:groups AS int[])) AS t(g) ORDER BY g) AS s"
)
FLOW_CACHE_SECONDS = 5.0


@dataclass
class BatchOutcome:
    processed: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    events: list[PendingEvent] = field(default_factory=list)


def summarise(message: Message) -> str:
    text = message.text or message.raw_text or f"[{message.media_kind}]"
    where = message.group_name or "私聊"
    return f"{where} · {message.sender_name}: {text}"[:300]


class FlowExecutor:
    def __init__(self, db: Database, max_attempts: int) -> None:
        self.db = db
        self.chunk_size = SQLITE_CHUNK if db.engine.dialect.name == "sqlite" else MAX_BATCH
        self.max_attempts = max_attempts
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
        pending messages in id order, so a later job for that group finds them done. On SQLite the
        embedded runner processes one batch at a time, which gives the same order."""
        flow = await self.active_flow()
        outcome = BatchOutcome()
        done = 0
        while done < MAX_BATCH:
            handled = await self._process_chunk(flow, message_ids, outcome)
            done += handled
            # SQLite has one writer: short transactions let webhooks store messages in between.
            if handled < self.chunk_size:
                break
        return outcome

    async def _process_chunk(self, flow: CompiledFlow, message_ids: list[int], outcome: BatchOutcome) -> int:
        async with self.db.transaction() as session:
            found = await session.execute(
                select(Message.group_id).where(Message.id.in_(message_ids)).distinct()
            )
            groups = sorted(g for g in found.scalars() if g is not None)
            if groups and session.bind is not None and session.bind.dialect.name == "postgresql":
                await session.execute(GROUP_LOCKS, {"groups": groups})
            wanted: ColumnElement[bool] = Message.id.in_(message_ids)
            if groups:
                wanted = wanted | (Message.group_id.in_(groups) & (Message.attempts == 0))
            if outcome.retry:  # failed in this job: their retry is scheduled with back-off
                wanted = wanted & Message.id.not_in(outcome.retry)
            query = (
                select(Message)
                .where(wanted, Message.status == "received")
                .order_by(Message.id)
                .limit(self.chunk_size)
                .with_for_update(skip_locked=True)
            )
            messages = (await session.execute(query)).scalars().all()
            batch: dict[str, Any] = {}
            for message in messages:
                await self._process_one(session, flow, message, batch, outcome)
        return len(messages)

    async def _process_one(
        self, session: Any, flow: CompiledFlow, message: Message, batch: dict[str, Any], outcome: BatchOutcome
    ) -> None:
        now = clock.now()
        ctx = NodeContext(session=session, message=message, now=now, batch=batch)
        steps: list[FlowStep] = []
        error: str | None = None
        started = time.perf_counter()
        message.attempts += 1
        summary = summarise(message)
        savepoint = await session.begin_nested()
        try:
            await self._run_nodes(flow, ctx, steps, summary)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("flow node failed for message %s: %s", message.id, error)
            await savepoint.rollback()
            batch.clear()  # caches may hold objects of the rolled-back savepoint
            await session.refresh(message)
        else:
            await savepoint.commit()
        run = FlowRun(
            message_id=message.id,
            flow_name=flow.name,
            flow_version=flow.version,
            attempt=message.attempts,
            status="error" if error else "ok",
            started_at=now,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            error=error,
        )
        session.add(run)
        await session.flush()
        for step in steps:
            step.run_id = run.id
        session.add_all(steps)
        if error is None:
            message.status = "processed"
            message.processed_at = clock.now()
            message.last_error = None
            outcome.processed.append(message.id)
            outcome.events.extend(ctx.events)
        else:
            message.last_error = error
            if message.attempts >= self.max_attempts:
                message.status = "failed"
                outcome.failed.append(message.id)
            else:
                outcome.retry.append(message.id)

    async def _run_nodes(
        self, flow: CompiledFlow, ctx: NodeContext, steps: list[FlowStep], summary: str
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
            try:
                result = await node.run(ctx)
            except Exception as exc:
                steps.append(
                    FlowStep(
                        position=position,
                        node=node_id,
                        node_type=spec.type,
                        status="error",
                        duration_ms=_ms(t0),
                        input_summary=summary,
                        output={},
                        error=f"{type(exc).__name__}: {exc}",
                    )
                )
                raise
            steps.append(
                FlowStep(
                    position=position,
                    node=node_id,
                    node_type=spec.type,
                    status="ok",
                    branch=result.branch,
                    duration_ms=_ms(t0),
                    input_summary=summary,
                    output=result.output,
                )
            )
            node_id = flow.next_node(node_id, result.branch)


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)
