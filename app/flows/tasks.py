"""Jobs: process stored messages through the flow; sweep for anything left unprocessed."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from arq.worker import Retry
from sqlalchemy import and_, or_, select

from app import clock
from app.chat.models import Message
from app.jobs import enqueue, job
from app.realtime.bus import EventBus

log = logging.getLogger(__name__)

SWEEP_CHUNK = 500
STALE_AFTER = timedelta(seconds=30)
RETRY_WINDOW = timedelta(minutes=6)
# The job holding a busy group looks again after releasing it; this re-check is only a safety net.
DEFER_BUSY_SECONDS = 2.0
EMBEDDED_ORDER = asyncio.Lock()  # embedded: one processing batch at a time, in enqueue order


def retry_delay(attempt: int) -> float:
    """Back-off between processing attempts: 1 s, 4 s, 16 s … (capped at 5 min)."""
    return float(min(300, 4 ** max(0, attempt - 1)))


async def publish_events(bus: EventBus, events: list[Any]) -> None:
    for event in events:
        await bus.publish(event.topic, event.event, event.render() if event.render else "", event.data)


@job
async def process_messages(ctx: dict[str, Any], message_ids: list[int]) -> dict[str, int]:
    rt = ctx["runtime"]
    try:
        if rt.settings.embedded:
            async with EMBEDDED_ORDER:
                outcome = await rt.executor.process(message_ids)
        else:
            # Few batches at once: more only fight over the same groups' locks and take
            # database CPU from the webhooks (bench c=32: 20 at once 1,400–1,750 msg/s at p99 ≈ 50 ms,
            # 3 at once 1,807–1,841 msg/s at p99 37–39 ms).
            async with rt.processing_slots:
                outcome = await rt.executor.process(message_ids)
    except Exception as exc:
        # The batch transaction itself failed (database down …): nothing committed, try again.
        attempt = int(ctx.get("job_try", 1))
        log.exception("processing batch failed", extra={"ids": message_ids[:5], "attempt": attempt})
        raise Retry(defer=retry_delay(attempt)) from exc
    await publish_events(rt.bus, outcome.events)
    if outcome.deferred:  # another job holds their group; it may process them first
        await enqueue("process_messages", message_ids=outcome.deferred, defer_by=DEFER_BUSY_SECONDS)
    if outcome.retry:
        async with rt.db.session() as session:
            attempts = max(
                (await session.execute(select(Message.attempts).where(Message.id.in_(outcome.retry))))
                .scalars()
                .all()
            )
        await enqueue("process_messages", message_ids=outcome.retry, defer_by=retry_delay(attempts))
    return {
        "processed": len(outcome.processed),
        "retry": len(outcome.retry),
        "failed": len(outcome.failed),
        "deferred": len(outcome.deferred),
    }


async def find_unprocessed(rt: Any, older_than: timedelta | None) -> list[int]:
    query = select(Message.id).where(Message.status == "received").order_by(Message.id)
    if older_than is not None:
        now = clock.now()
        # Messages waiting for a retry back-off are left to their own scheduled job.
        query = query.where(
            or_(
                and_(Message.attempts == 0, Message.received_at < now - older_than),
                Message.received_at < now - older_than - RETRY_WINDOW,
            )
        )
    async with rt.db.session() as session:
        return list((await session.execute(query)).scalars())


async def requeue(ids: list[int]) -> None:
    for start in range(0, len(ids), SWEEP_CHUNK):
        await enqueue("process_messages", message_ids=ids[start : start + SWEEP_CHUNK])


@job
async def sweep_unprocessed(ctx: dict[str, Any], startup: bool = False) -> int:
    """Re-enqueue stored messages left unprocessed (crash recovery). At start-up: all of them."""
    ids = await find_unprocessed(ctx["runtime"], None if startup else STALE_AFTER)
    if ids:
        log.warning("re-enqueueing unprocessed messages", extra={"count": len(ids), "startup": startup})
        await requeue(ids)
    return len(ids)
