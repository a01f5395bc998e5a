"""Command queue rules: create, claim, record outcomes, retry, cancel. Takes a session and values.

Every state change publishes the re-rendered row (topic "commands") and schedules the follow-up
job only after the transaction commits (app.commands.aftercommit).
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app import clock
from app.commands import states
from app.commands.aftercommit import after_commit
from app.commands.config import CommandSettings, command_settings
from app.commands.live import publish_after_commit
from app.commands.models import WITH_ROBOT, Command
from app.commands.states import CANCELLED, FAILED, MANUAL, QUEUED, SENT, SUCCEEDED, TIMEOUT
from app.commands.worktool_client import text_command
from app.errors import Conflict, InvalidInput, NotFound
from app.jobs import enqueue
from app.robots.models import Robot

log = logging.getLogger(__name__)

MAX_TEXT = 4000
MAX_TARGETS = 50
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,19}$")
EARLY_TOLERANCE_SECONDS = 0.05


def _names(values: list[str] | None, what: str, limit: int) -> list[str]:
    names = [str(v).strip() for v in values or [] if str(v).strip()]
    if len(names) > limit or any(len(n) > 200 for n in names):
        raise InvalidInput(f"{what}最多 {limit} 个，每个不超过 200 个字符")
    return list(dict.fromkeys(names))


def _schedule(session: AsyncSession, job: str, at: datetime, **kwargs: Any) -> None:
    """Enqueue `job` after commit, deferred until `at` (measured when it is actually enqueued)."""

    async def run() -> None:
        wait = (at - clock.now()).total_seconds()
        await enqueue(job, defer_by=wait if wait > 0 else None, **kwargs)

    after_commit(session, run)


async def enqueue_command(
    session: AsyncSession,
    robot: Robot,
    targets: list[str],
    text: str,
    at_list: list[str] | None = None,
    due_at: datetime | None = None,
    message_id: int | None = None,
    kind: str = "send_text",
    created_by: str = "system",
) -> Command:
    """Store a command and schedule its send for `due_at` (default: now)."""
    titles = _names(targets, "目标会话", MAX_TARGETS)
    if not titles:
        raise InvalidInput("至少需要一个目标会话（群名或联系人名）")
    if not text.strip() or len(text) > MAX_TEXT:
        raise InvalidInput(f"消息内容不能为空，且不超过 {MAX_TEXT} 个字符")
    if not KIND_PATTERN.match(kind):
        raise InvalidInput("kind 只能包含小写字母、数字和下划线（不超过 20 个字符）")
    now = clock.now()
    command = Command(
        robot=robot,
        kind=kind,
        targets=titles,
        text=text,
        at_list=_names(at_list, "@ 成员", MAX_TARGETS),
        due_at=clock.as_utc(due_at) if due_at else now,
        status=QUEUED,
        attempts=0,
        message_id=message_id,
        created_at=now,
        created_by=created_by[:60],
        updated_at=now,
    )
    session.add(command)
    await session.flush()
    _schedule(session, "send_command", command.due_at, command_id=command.id)
    publish_after_commit(session, command)
    return command


async def load_for_update(session: AsyncSession, command_id: int) -> Command | None:
    query = select(Command).where(Command.id == command_id).options(WITH_ROBOT).with_for_update(of=Command)
    return (await session.execute(query)).unique().scalar_one_or_none()


def send_decision(command: Command | None, now: datetime, stale_after: timedelta) -> tuple[str, float]:
    """missing | skip | early (seconds to wait) | in_flight | recover | send."""
    if command is None:
        return "missing", 0.0
    if command.status != QUEUED:
        return "skip", 0.0
    wait = (command.due_at - now).total_seconds()
    if wait > EARLY_TOLERANCE_SECONDS:
        return "early", wait
    if command.send_token is not None:
        if command.claimed_at is not None and now - command.claimed_at < stale_after:
            return "in_flight", 0.0
        return "recover", 0.0
    return "send", 0.0


def claim(command: Command, now: datetime) -> str:
    """Store the attempt's idempotency key before the HTTP call; one claim = one attempt."""
    token = secrets.token_hex(16)
    if command.worktool_message_id:  # an earlier attempt's: kept for the record, no longer current
        earlier = (command.result or {}).get("previous_message_ids", [])
        command.result = {
            **(command.result or {}),
            "previous_message_ids": [*earlier, command.worktool_message_id],
        }
        command.worktool_message_id = None
    command.send_token = token
    command.claimed_at = now
    command.attempts += 1
    command.updated_at = now
    return token


def set_result(command: Command, detail: dict[str, Any]) -> None:
    """The latest outcome, keeping the messageIds of earlier attempts."""
    earlier = (command.result or {}).get("previous_message_ids")
    command.result = {**detail, "previous_message_ids": earlier} if earlier else dict(detail)


async def robot_key(session: AsyncSession, robot_pk: int) -> str:
    """WorkTool robotId of a robot row (immutable once registered, so cached per process)."""
    key = _robot_keys.get(robot_pk)
    if key is None:
        key = _robot_keys[robot_pk] = str(
            await session.scalar(select(Robot.robot_id).where(Robot.id == robot_pk))
        )
    return key


_robot_keys: dict[int, str] = {}


async def claim_first_attempt(
    session: AsyncSession, command_id: int, now: datetime
) -> tuple[str, dict[str, Any], str] | None:
    """The common case in one statement: a due, unclaimed first attempt is claimed as `claim` would.
    Returns (robotId, the WorkTool command, token), or None for every other case (then `claim`)."""
    token = secrets.token_hex(16)
    statement = (
        update(Command)
        .where(
            Command.id == command_id,
            Command.status == QUEUED,
            Command.send_token.is_(None),
            Command.worktool_message_id.is_(None),
            Command.due_at <= now + timedelta(seconds=EARLY_TOLERANCE_SECONDS),
        )
        .values(send_token=token, claimed_at=now, attempts=Command.attempts + 1, updated_at=now)
        .returning(Command.robot_id, Command.targets, Command.text, Command.at_list)
        .execution_options(synchronize_session=False)
    )
    row = (await session.execute(statement)).one_or_none()
    if row is None:
        return None
    robot_pk, targets, text, at_list = row
    return await robot_key(session, robot_pk), text_command(targets, text, at_list), token


def release_claim(command: Command, now: datetime) -> None:
    """A claim that provably never reached WorkTool (crash before the send): give the attempt back."""
    command.send_token = None
    command.claimed_at = None
    command.attempts = max(0, command.attempts - 1)
    command.updated_at = now


def record_sent(session: AsyncSession, command: Command, message_id: str, now: datetime) -> None:
    wait = clock.scaled(command_settings().confirm_seconds)
    command.status = SENT
    command.worktool_message_id = message_id
    command.sent_at = now
    command.next_check_at = now + wait
    command.updated_at = now
    check_at = command.next_check_at

    async def schedule_check() -> None:
        if command.status == SENT and command.worktool_message_id == message_id:  # not settled meanwhile
            wait = (check_at - clock.now()).total_seconds()
            await enqueue(
                "check_command",
                defer_by=max(wait, 0.0) or None,
                command_id=command.id,
                worktool_message_id=message_id,
            )

    after_commit(session, schedule_check)
    publish_after_commit(session, command)


def record_success(
    session: AsyncSession, command: Command, now: datetime, source: str, detail: dict[str, Any]
) -> None:
    command.status = SUCCEEDED
    command.settled_at = now
    command.next_check_at = None
    command.error = None
    command.error_code = None
    set_result(command, {"source": source, **detail})
    cost = detail.get("time_cost")
    command.time_cost = float(cost) if isinstance(cost, int | float) else None
    command.updated_at = now
    publish_after_commit(session, command)


async def record_failure(
    session: AsyncSession,
    command: Command,
    status: str,
    error: str,
    now: datetime,
    code: int | None = None,
    detail: dict[str, Any] | None = None,
    settings: CommandSettings | None = None,
) -> None:
    """A failed (FAILED) or unconfirmed (TIMEOUT) attempt: retry after the back-off, or manual."""
    settings = settings or command_settings()
    command.error = error[:2000]
    command.error_code = code
    if detail is not None:
        set_result(command, detail)
    command.updated_at = now
    if states.will_retry(command.attempts, settings.max_attempts, code):
        wait = states.retry_backoff_seconds(command.attempts, settings.retry_seconds)
        command.status = status
        command.next_check_at = now + clock.scaled(wait)
        _schedule(session, "retry_command", command.next_check_at, command_id=command.id)
    else:
        command.status = MANUAL
        command.next_check_at = None
        command.settled_at = now
        await notify_staff(session, command, now)
    log.warning(
        "command attempt failed",
        extra={"command_id": command.id, "status": command.status, "attempt": command.attempts, "code": code},
    )
    publish_after_commit(session, command)


def manual_notice(command: Command) -> str:
    targets = "、".join(command.targets)
    preview = command.text if len(command.text) <= 60 else command.text[:60] + "…"
    return (
        f"【指令待人工处理】机器人「{command.robot.name}」发往「{targets}」的消息"
        f"已尝试 {command.attempts} 次仍未成功：{command.error or '未知错误'}。"
        f"内容：{preview}（指令 #{command.id}，请在控制台“指令队列”中处理）"
    )


async def notify_staff(session: AsyncSession, command: Command, now: datetime) -> Command | None:
    """Tell staff through the notify robot's groups; never about the notify robot's own commands."""
    if command.kind == "notify" or command.robot.role == "notify" or command.notified_at is not None:
        return None
    query = (
        select(Robot)
        .where(Robot.role == "notify", Robot.active.is_(True))
        .order_by(Robot.id)
        .options(selectinload(Robot.groups))
        .execution_options(populate_existing=True)
    )
    for robot in (await session.execute(query)).scalars():
        groups = [g.name for g in robot.groups]
        if groups:
            command.notified_at = now
            return await enqueue_command(
                session, robot, groups, manual_notice(command), kind="notify", message_id=command.message_id
            )
    log.warning("no notify robot with groups; manual command not announced", extra={"command_id": command.id})
    return None


def ready_for_retry(command: Command | None, now: datetime) -> bool:
    return (
        command is not None
        and command.status in (FAILED, TIMEOUT)
        and command.next_check_at is not None
        and command.next_check_at <= now + timedelta(seconds=EARLY_TOLERANCE_SECONDS)
    )


def requeue(session: AsyncSession, command: Command, now: datetime) -> None:
    """Back to the queue for the next attempt (the attempt count is kept)."""
    command.status = QUEUED
    command.send_token = None
    command.claimed_at = None
    command.next_check_at = None
    command.updated_at = now
    publish_after_commit(session, command)


async def get_command(session: AsyncSession, command_id: int) -> Command:
    command = await session.get(Command, command_id, options=[WITH_ROBOT])
    if command is None:
        raise NotFound(f"指令 {command_id} 不存在")
    return command


async def retry_command(session: AsyncSession, command_id: int) -> Command:
    """Staff: send a failed, timed-out or manual command again, now."""
    command = await load_for_update(session, command_id)
    if command is None:
        raise NotFound(f"指令 {command_id} 不存在")
    if command.status not in states.RETRYABLE_BY_STAFF:
        name = states.STATUS_NAMES.get(command.status, command.status)
        raise Conflict(f"指令 #{command_id} 当前状态为「{name}」，只有失败、超时或待人工处理的指令可以重试")
    now = clock.now()
    command.settled_at = None
    command.notified_at = None
    requeue(session, command, now)
    _schedule(session, "send_command", now, command_id=command.id)
    return command


async def cancel_command(session: AsyncSession, command_id: int) -> Command:
    command = await load_for_update(session, command_id)
    if command is None:
        raise NotFound(f"指令 {command_id} 不存在")
    if command.status != QUEUED:
        name = states.STATUS_NAMES.get(command.status, command.status)
        raise Conflict(f"指令 #{command_id} 当前状态为「{name}」，只有排队中的指令可以取消")
    if command.send_token is not None:
        raise Conflict(f"指令 #{command_id} 正在发送，无法取消")
    now = clock.now()
    command.status = CANCELLED
    command.settled_at = now
    command.next_check_at = None
    command.updated_at = now
    publish_after_commit(session, command)
    return command
