"""Send, confirm, retry and recover commands: the WorkTool calls around the service's transactions.

Never-twice rules (documented in docs/commands-benchmark.md, "Delivery guarantees"):
1. A send is claimed first (send_token, claimed_at, attempts+1) in its own committed transaction;
   only the job holding the claim calls sendRawMessage. Duplicate jobs (sweep, arq re-runs) skip.
2. A claim found without a recorded messageId after `stale_after` means the process died around the
   HTTP call. Before anything is resent, rawMsg/list is searched for the command (same content, a
   messageId we do not know). Found → adopted. Not found and the robot online → resent under a new
   claim. Robot offline or WorkTool unreachable → not resent now (counts as a failed attempt).
3. A timed-out attempt (no callback, no rawMsg row, or an unanswered send) is verified the same
   way before its retry, so a command that ran late is settled instead of sent again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from app import clock
from app.commands import service
from app.commands.config import command_settings
from app.commands.models import WITH_ROBOT, Command
from app.commands.settle import settle_stored_results
from app.commands.states import FAILED, SENT, TIMEOUT, error_text
from app.commands.worktool_client import RawMsgResult, WorkToolClient, WorkToolError, text_command
from app.db import Database
from app.jobs import enqueue

log = logging.getLogger(__name__)

RECOVERY_PAGE_SIZE = 50


@dataclass(frozen=True)
class Snapshot:
    """What the HTTP calls need, read inside the transaction that claimed or checked the command."""

    id: int
    robot: str
    command: dict[str, Any]
    token: str | None
    message_id: str | None
    claimed_at: datetime | None


def snapshot(c: Command) -> Snapshot:
    return Snapshot(
        c.id,
        c.robot.robot_id,
        text_command(c.targets, c.text, c.at_list),
        c.send_token,
        c.worktool_message_id,
        c.claimed_at,
    )


def stale_after() -> timedelta:
    """A claim older than one WorkTool timeout (plus margin) belongs to a process that died."""
    return timedelta(seconds=command_settings().worktool_timeout + 5.0)


def outcome_detail(rows: list[RawMsgResult]) -> dict[str, Any]:
    return {
        "success_list": list(dict.fromkeys(n for r in rows for n in r.success_list)),
        "fail_list": list(dict.fromkeys(n for r in rows for n in r.fail_list)),
        "time_cost": sum(r.time_cost or 0.0 for r in rows) or None,
        "run_time": rows[-1].run_time,
    }


async def apply_rows(db: Database, command_id: int, rows: list[RawMsgResult], source: str) -> str:
    """Settle from rawMsg/list rows: all rawSuccess 0 → succeeded, otherwise failed."""
    async with db.transaction() as session:
        command = await service.load_for_update(session, command_id)
        if command is None or command.status not in (SENT, TIMEOUT, FAILED, "queued"):
            return "skip"
        now = clock.now()
        failed = next((r for r in rows if not r.ok), None)
        detail = outcome_detail(rows)
        command.worktool_message_id = rows[0].message_id or command.worktool_message_id
        if failed is None:
            service.record_success(session, command, now, source, detail)
            return "succeeded"
        text = error_text(failed.raw_success, failed.error_reason)
        await service.record_failure(session, command, FAILED, text, now, failed.raw_success, detail)
        return "failed"


async def send_command(db: Database, client: WorkToolClient, command_id: int) -> str:
    """Send a due, queued command once. Returns what happened (for logs and tests)."""
    now = clock.now()
    async with db.transaction() as session:
        claimed = await service.claim_first_attempt(session, command_id, now)
        snap = None if claimed is None else Snapshot(command_id, *claimed, None, now)
    if snap is not None:
        return await _send_claimed(db, client, snap)
    async with db.transaction() as session:
        command = await service.load_for_update(session, command_id)
        decision, wait = service.send_decision(command, now, stale_after())
        if decision == "send" and command is not None:
            service.claim(command, now)
            snap = snapshot(command)
    if decision == "early":
        await enqueue("send_command", command_id=command_id, defer_by=wait)
    if decision == "recover":
        return await recover_claim(db, client, command_id)
    if snap is None:
        return decision
    return await _send_claimed(db, client, snap)


async def _send_claimed(db: Database, client: WorkToolClient, snap: Snapshot) -> str:
    try:
        message_id = await client.send_raw_message(snap.robot, [snap.command])
    except WorkToolError as exc:
        status = FAILED if exc.definite else TIMEOUT
        await _attempt_failed(db, snap, status, exc.message, exc.code)
        return status
    async with db.transaction() as session:
        command = await service.load_for_update(session, snap.id)
        if command is None or command.send_token != snap.token:
            log.error("claim lost while sending", extra={"command_id": snap.id, "message_id": message_id})
            return "lost"
        service.record_sent(session, command, message_id, clock.now())
    return "sent"


async def _attempt_failed(db: Database, snap: Snapshot, status: str, error: str, code: int | None) -> None:
    async with db.transaction() as session:
        command = await service.load_for_update(session, snap.id)
        if command is None or command.send_token != snap.token or command.status not in ("queued", SENT):
            return
        await service.record_failure(session, command, status, error, clock.now(), code)


def _matches(row: RawMsgResult, wanted: dict[str, Any]) -> bool:
    try:
        sent = json.loads(row.raw_msg)
    except ValueError:
        return False
    keys = ("type", "titleList", "receivedContent")
    return isinstance(sent, dict) and all(sent.get(k) == wanted.get(k) for k in keys)


async def find_executed(db: Database, client: WorkToolClient, snap: Snapshot) -> list[RawMsgResult]:
    """rawMsg/list rows of this command: by messageId if known, else by content among unknown ids."""
    if snap.message_id:
        return await client.raw_msg_list(snap.robot, snap.message_id)
    rows = [
        r for r in await client.raw_msg_list(snap.robot, size=RECOVERY_PAGE_SIZE) if _matches(r, snap.command)
    ]
    if not rows:
        return []
    async with db.session() as session:
        known = set(
            (
                await session.execute(
                    select(Command.worktool_message_id).where(
                        Command.worktool_message_id.in_({r.message_id for r in rows})
                    )
                )
            ).scalars()
        )
    unknown = [r for r in rows if r.message_id not in known]
    return [r for r in unknown if r.message_id == unknown[0].message_id] if unknown else []


async def _verify(db: Database, client: WorkToolClient, snap: Snapshot) -> tuple[str, list[RawMsgResult]]:
    """found | absent (safe to resend) | unknown (robot offline or WorkTool unreachable)."""
    try:
        rows = await find_executed(db, client, snap)
        if rows:
            return "found", rows
        return ("absent" if await client.robot_online(snap.robot) else "offline"), []
    except WorkToolError as exc:
        log.warning("command verification failed", extra={"command_id": snap.id, "error": exc.message})
        return "unknown", []


async def recover_claim(db: Database, client: WorkToolClient, command_id: int) -> str:
    """A stale claim (crash between claim and recording the answer): verify, then adopt or resend."""
    now = clock.now()
    async with db.transaction() as session:
        command = await service.load_for_update(session, command_id)
        if service.send_decision(command, now, stale_after())[0] != "recover" or command is None:
            return "skip"
        command.claimed_at = now  # hold the claim while verifying
        snap = snapshot(command)
    verdict, rows = await _verify(db, client, snap)
    log.warning("recovering interrupted send", extra={"command_id": command_id, "verdict": verdict})
    if verdict == "found":
        return await apply_rows(db, command_id, rows, "recovery")
    if verdict != "absent":
        await _attempt_failed(
            db, snap, TIMEOUT, "发送过程中断，且无法确认是否已发送（机器人离线或无法查询），暂不重发", None
        )
        return "unconfirmed"
    async with db.transaction() as session:
        command = await service.load_for_update(session, command_id)
        if command is None or command.send_token != snap.token:
            return "skip"
        service.release_claim(command, clock.now())
        token = service.claim(command, clock.now())
        snap = snapshot(command)
    log.info("resending after verified absence", extra={"command_id": command_id, "token": token})
    return await _send_claimed(db, client, snap)


async def check_command(
    db: Database, client: WorkToolClient, command_id: int, worktool_message_id: str
) -> str:
    """No callback by the deadline: ask rawMsg/list. Rows → settle; none → timeout (retry later)."""
    await settle_results(db, [worktool_message_id])
    async with db.session() as session:
        command = await session.get(Command, command_id, options=[WITH_ROBOT])
        if command is None or command.status != SENT or command.worktool_message_id != worktool_message_id:
            return "skip"
        snap = snapshot(command)
    try:
        rows = await client.raw_msg_list(snap.robot, worktool_message_id)
    except WorkToolError as exc:
        await _sent_unconfirmed(db, snap, f"结果查询失败：{exc.message}")
        return "unconfirmed"
    if rows:
        return await apply_rows(db, command_id, rows, "query")
    wait = command_settings().confirm_seconds
    await _sent_unconfirmed(db, snap, f"{wait:g} 秒内没有结果回调，rawMsg/list 也没有执行记录")
    return TIMEOUT


async def _sent_unconfirmed(db: Database, snap: Snapshot, error: str) -> None:
    async with db.transaction() as session:
        command = await service.load_for_update(session, snap.id)
        if command is None or command.status != SENT or command.worktool_message_id != snap.message_id:
            return
        await service.record_failure(session, command, TIMEOUT, error, clock.now())


async def retry_command(db: Database, client: WorkToolClient, command_id: int) -> str:
    """After the back-off: verify a timed-out attempt, then send the next attempt."""
    now = clock.now()
    async with db.transaction() as session:
        command = await service.load_for_update(session, command_id)
        if command is None or not service.ready_for_retry(command, now):
            return "skip"
        verify = command.status == TIMEOUT
        snap = snapshot(command)
        if not verify:
            service.requeue(session, command, now)
    if verify:
        verdict, rows = await _verify(db, client, snap)
        if verdict == "found":
            return await apply_rows(db, command_id, rows, "query")
        async with db.transaction() as session:
            command = await service.load_for_update(session, command_id)
            if command is None or not service.ready_for_retry(command, clock.now()):
                return "skip"
            if verdict != "absent":
                command.attempts += 1
                reason = "机器人离线" if verdict == "offline" else "无法查询 WorkTool"
                await service.record_failure(
                    session, command, TIMEOUT, f"{reason}，上一次发送结果未知，暂不重发", clock.now()
                )
                return "unconfirmed"
            service.requeue(session, command, clock.now())
    return await send_command(db, client, command_id)


async def settle_results(
    db: Database, message_ids: list[str] | None = None, limit: int = 500
) -> tuple[int, int]:
    """Apply stored result callbacks (command_results) to their commands: (applied, unmatched)."""
    return await settle_stored_results(db, message_ids, limit)
