"""Apply WorkTool result callbacks (rows the webhook stored in command_results) to commands."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.commands import service
from app.commands.live import publish_after_commit
from app.commands.models import WITH_ROBOT, Command
from app.commands.states import FAILED, MANUAL, SENT, TIMEOUT, error_text
from app.db import Database
from app.robots.models import CommandResult

# A result whose messageId matches no command yet may be early (the send is being recorded);
# after this long it belongs to nothing the hub sent and is marked settled.
ORPHAN_AFTER_SECONDS = 600.0


def callback_detail(rows: list[CommandResult]) -> dict[str, Any]:
    return {
        "success_list": list(dict.fromkeys(n for r in rows for n in r.success_list or [])),
        "fail_list": list(dict.fromkeys(n for r in rows for n in r.fail_list or [])),
        "time_cost": sum(r.time_cost or 0.0 for r in rows) or None,
        "run_time_ms": max((r.run_time_ms or 0 for r in rows), default=0) or None,
    }


async def apply_callbacks(
    session: AsyncSession, command: Command, rows: list[CommandResult], now: datetime
) -> bool:
    """Settle one command from its callbacks. A late result for a timed-out attempt still counts,
    and a late success takes a command off the manual-handling queue."""
    failed = next((r for r in rows if r.error_code != 0), None)
    if command.status not in (SENT, TIMEOUT) and not (command.status == MANUAL and failed is None):
        return False
    detail = callback_detail(rows)
    if failed is None:
        service.record_success(session, command, now, "callback", detail)
        return True
    text = error_text(failed.error_code, failed.error_reason)
    if command.status == TIMEOUT:  # its retry is already scheduled; record what really happened
        command.status = FAILED
        command.error, command.error_code = text, failed.error_code
        service.set_result(command, detail)
        command.updated_at = now
        publish_after_commit(session, command)
        return True
    await service.record_failure(session, command, FAILED, text, now, failed.error_code, detail)
    return True


async def settle_stored_results(
    db: Database, message_ids: list[str] | None = None, limit: int = 500
) -> tuple[int, int]:
    async with db.transaction() as session:
        return await settle_in(session, message_ids, limit)


async def settle_in(
    session: AsyncSession, message_ids: list[str] | None = None, limit: int = 500
) -> tuple[int, int]:
    """Apply unsettled results (of these messageIds, or any) inside the caller's transaction; returns
    (applied, unmatched). Result rows another transaction is settling are skipped, never waited for.
    Unmatched: no command has that messageId yet (the callback beat the send's record) or ever."""
    now = clock.now()
    orphan_before = now - clock.scaled(ORPHAN_AFTER_SECONDS)
    query = select(CommandResult).where(CommandResult.settled.is_(False))
    if message_ids:
        query = query.where(CommandResult.worktool_message_id.in_(message_ids))
    query = query.order_by(CommandResult.id).limit(limit).with_for_update(skip_locked=True)
    results = list((await session.execute(query)).scalars())
    if not results:
        return 0, 0
    grouped: dict[tuple[int, str], list[CommandResult]] = defaultdict(list)
    for row in results:
        grouped[(row.robot_id, row.worktool_message_id)].append(row)
    matching = (
        select(Command)
        .options(WITH_ROBOT)
        .where(Command.worktool_message_id.in_({mid for _robot, mid in grouped}))
        .with_for_update(of=Command)
    )
    commands = {
        (c.robot_id, c.worktool_message_id): c for c in (await session.execute(matching)).unique().scalars()
    }
    applied = unmatched = 0
    for key, rows in grouped.items():
        command = commands.get(key)
        if command is None:
            unmatched += 1
            if all(r.received_at < orphan_before for r in rows):
                for r in rows:
                    r.settled = True
            continue
        for r in rows:
            r.settled = True
        applied += await apply_callbacks(session, command, rows, now)
    return applied, unmatched
