"""Jobs of this capability (registered with app.jobs.job / app.jobs.periodic).

Escalation runs as a deferred job per alert at its next escalation moment; unanswered questions
are checked by a deferred job per question; deliveries retry by deferred jobs. A sweep every few
seconds catches whatever a lost job (restart) left overdue.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app import clock
from app.alerts import config, delivery, service
from app.chat.models import Message
from app.commands.models import Command
from app.db import Database, get_db
from app.jobs import enqueue, job, periodic

log = logging.getLogger(__name__)

SWEEP_EVERY_SECONDS = 5
SWEEP_GRACE_SECONDS = 1.0  # real seconds left to the job scheduled for the moment
UNPROCESSED_WAITS = 30  # real seconds an unanswered check waits for the group's backlog


def _db(ctx: dict[str, Any]) -> Database:
    runtime = ctx.get("runtime")
    return runtime.db if runtime is not None else get_db()


@job
async def check_alert_escalation(ctx: dict[str, Any], alert_id: int) -> int | None:
    async with _db(ctx).transaction() as session:
        alert = await service.check_escalation(session, alert_id)
        return alert.level if alert is not None else None


async def answered(session: Any, message: Message) -> bool:
    """A staff, operator or robot message after it in the group, or a reply command for it."""
    scope = (
        (Message.session_id == message.session_id)
        if message.is_private
        else (Message.group_id == message.group_id)
    )
    later = await session.scalar(
        select(Message.id)
        .where(scope, Message.id > message.id, Message.sender_role.in_(("staff", "operator", "robot")))
        .limit(1)
    )
    if later is not None:
        return True
    reply = await session.scalar(
        select(Command.id)
        .where(Command.message_id == message.id, Command.status.not_in(("cancelled", "manual")))
        .limit(1)
    )
    return reply is not None


async def later_unprocessed(session: Any, message: Message) -> bool:
    """A later message of the group not processed yet: its sender is not known yet."""
    scope = (
        (Message.session_id == message.session_id)
        if message.is_private
        else (Message.group_id == message.group_id)
    )
    query = select(Message.id).where(scope, Message.id > message.id, Message.status == "received").limit(1)
    return await session.scalar(query) is not None


@job
async def check_unanswered(ctx: dict[str, Any], message_id: int, waited: int = 0) -> str:
    async with _db(ctx).transaction() as session:
        message = await session.get(Message, message_id)
        if message is None or message.sender_role not in (None, "user"):
            return "skip"
        if await answered(session, message):
            return "answered"
        if waited < UNPROCESSED_WAITS and await later_unprocessed(session, message):
            await enqueue("check_unanswered", message_id=message_id, waited=waited + 1, defer_by=1.0)
            return "wait"
        settings = await config.load(session)
        elapsed = (clock.now() - message.received_at).total_seconds() / max(clock.scaled_seconds(1.0), 1e-9)
        minutes = max(1, round(elapsed / 60))
        preview = (message.text or "")[:40]
        await service.raise_alert(
            session,
            alert_type="unanswered",
            group_id=message.group_id,
            user_name=message.sender_name,
            reason=f"用户的问题约 {minutes} 分钟无人回复：{preview}",
            level=config.type_level(settings, "unanswered"),
            message_id=message.id,
        )
        return "raised"


@job
async def deliver_alert_notification(ctx: dict[str, Any], delivery_id: int) -> str:
    return await delivery.deliver(_db(ctx), delivery_id)


@periodic(SWEEP_EVERY_SECONDS)
async def sweep_alerts(ctx: dict[str, Any]) -> dict[str, int]:
    """Overdue escalation checks and delivery retries whose job was lost."""
    db = _db(ctx)
    now = clock.now()
    cutoff = now - timedelta(seconds=SWEEP_GRACE_SECONDS)
    async with db.session() as session:
        checks = await service.due_for_check(session, cutoff)
        retries = await delivery.due_retries(session, cutoff)
    for alert_id in checks:
        async with db.transaction() as session:
            await service.check_escalation(session, alert_id)
    for delivery_id in retries:
        await enqueue("deliver_alert_notification", delivery_id=delivery_id)
    async with db.transaction() as session:
        tasks_done = await service.cancel_for_completed_tasks(session, now)
    async with db.transaction() as session:
        failures = await service.raise_robot_failures(session, now)
    counts = {
        "checks": len(checks),
        "retries": len(retries),
        "task_cancels": len(tasks_done),
        "robot_failures": len(failures),
    }
    if any(counts.values()):
        log.info("alert sweep caught up", extra=counts)
    return counts
