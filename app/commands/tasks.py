"""Jobs of the command queue (arq in production, in-process when embedded) and the sweep."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app import clock
from app.commands import dispatch
from app.commands.models import Command
from app.commands.states import FAILED, QUEUED, SENT, TIMEOUT
from app.commands.worktool_client import get_client
from app.config import get_settings
from app.db import Database, get_db
from app.jobs import enqueue, job

log = logging.getLogger(__name__)

SWEEP_GRACE_SECONDS = 30.0  # left to the job scheduled for it before the sweep steps in
SWEEP_LIMIT = 1000
EARLY_CALLBACK_RETRY_SECONDS = 1.0  # a callback that arrived before its send was recorded


def _db(ctx: dict[str, Any]) -> Database:
    runtime = ctx.get("runtime")
    return runtime.db if runtime is not None else get_db()


@job
async def send_command(ctx: dict[str, Any], command_id: int) -> str:
    return await dispatch.send_command(_db(ctx), get_client(), command_id)


@job
async def check_command(ctx: dict[str, Any], command_id: int, worktool_message_id: str) -> str:
    return await dispatch.check_command(_db(ctx), get_client(), command_id, worktool_message_id)


@job
async def retry_command(ctx: dict[str, Any], command_id: int) -> str:
    return await dispatch.retry_command(_db(ctx), get_client(), command_id)


@job
async def settle_command_results(ctx: dict[str, Any], worktool_message_id: str | None = None) -> int:
    """A stored callback the webhook could not apply at once (see settle_soon)."""
    ids = [worktool_message_id] if worktool_message_id else None
    return (await dispatch.settle_results(_db(ctx), ids))[0]


async def find_stuck(db: Database, now: datetime, startup: bool, embedded: bool) -> dict[str, list[Any]]:
    """Commands whose scheduled job is overdue or lost. At an embedded start-up every queued command
    (future ones too: the in-process timers died with the old process)."""
    cutoff = now if startup else now - clock.scaled(SWEEP_GRACE_SECONDS)
    queued = select(Command.id, Command.due_at).where(Command.status == QUEUED)
    if not (startup and embedded):
        queued = queued.where(Command.due_at <= cutoff)
    checks = select(Command.id, Command.worktool_message_id).where(
        Command.status == SENT, Command.next_check_at <= cutoff
    )
    retries = select(Command.id).where(Command.status.in_((FAILED, TIMEOUT)), Command.next_check_at <= cutoff)
    async with db.session() as session:
        return {
            "send": list((await session.execute(queued.order_by(Command.due_at).limit(SWEEP_LIMIT))).all()),
            "check": list((await session.execute(checks.limit(SWEEP_LIMIT))).all()),
            "retry": list((await session.execute(retries.limit(SWEEP_LIMIT))).scalars()),
        }


@job
async def sweep_commands(ctx: dict[str, Any], startup: bool = False) -> dict[str, int]:
    """Crash recovery: re-schedule due or stuck commands (their send stays once: see dispatch)."""
    db, now = _db(ctx), clock.now()
    settled, _unmatched = await dispatch.settle_results(db)
    stuck = await find_stuck(db, now, startup, get_settings().embedded)
    for command_id, due_at in stuck["send"]:
        wait = (clock.as_utc(due_at) - now).total_seconds()
        await enqueue("send_command", command_id=command_id, defer_by=wait if wait > 0 else None)
    for command_id, message_id in stuck["check"]:
        await enqueue("check_command", command_id=command_id, worktool_message_id=message_id)
    for command_id in stuck["retry"]:
        await enqueue("retry_command", command_id=command_id)
    counts = {name: len(rows) for name, rows in stuck.items()} | {"settled": settled}
    if any(counts.values()):
        log.warning("command sweep re-scheduled work", extra={"startup": startup, **counts})
    return counts


_swept_at_startup = False


async def periodic_command_sweep(ctx: dict[str, Any]) -> dict[str, int]:
    """arq cron entry (every minute, and at worker start-up: run_at_startup)."""
    global _swept_at_startup
    startup, _swept_at_startup = not _swept_at_startup, True
    return await sweep_commands(ctx, startup=startup)


async def settle_soon(worktool_message_id: str) -> None:
    """Called by the result webhook once the callback is stored: settle its command right away (one
    small transaction); if that fails, leave it to a job, and failing that to the sweep. Never raises."""
    later: float | None = None
    try:
        _applied, unmatched = await dispatch.settle_results(get_db(), [worktool_message_id])
        if not unmatched:
            return
        later = clock.scaled_seconds(EARLY_CALLBACK_RETRY_SECONDS)  # the send is being recorded
    except Exception:
        log.exception("settling in the webhook failed; handing it to a job")
    try:
        await enqueue("settle_command_results", worktool_message_id=worktool_message_id, defer_by=later)
    except Exception:
        log.exception("could not enqueue settling; the sweep will apply the result")
