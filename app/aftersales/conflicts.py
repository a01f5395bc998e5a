"""Operator–user conflict (PRODUCT §7): detection, conciliation message, 冲突调和中 until resolved."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.aftersales.config import AfterSalesSettings, load_settings, render_text
from app.aftersales.live import CONFLICT_EVENT, publish_after_commit
from app.aftersales.models import AfterSalesConflict
from app.aftersales.service import iso, notify_staff
from app.chat.models import Group, Message
from app.errors import InvalidInput, NotFound

CONFLICT_STATE = "冲突调和中"
CONFLICT_WINDOW_SECONDS = 1800.0  # an operator's harsh message and a user's complaint this close conflict
VERY_NEGATIVE = -0.6
USER_UPSET_TYPES = ("chat_complaint", "chat_complain_discuss")


def conflict_dict(c: AfterSalesConflict) -> dict[str, Any]:
    return {
        "id": c.id,
        "group": c.group_name,
        "group_id": c.group_id,
        "operator": c.operator_name,
        "user": c.user_name,
        "reason": c.reason,
        "status": c.status,
        "state": CONFLICT_STATE if c.status == "open" else "已调和",
        "trigger_message_id": c.trigger_message_id,
        "conciliation_command_id": c.conciliation_command_id,
        "started_at": iso(c.started_at),
        "resolved_at": iso(c.resolved_at),
        "resolved_by": c.resolved_by,
        "resolution": c.resolution,
        "history": list(c.history or []),
    }


def operator_is_harsh(message: Message) -> bool:
    return message.message_type == "operator_tone_hard" or (
        message.sentiment_score is not None and message.sentiment_score <= VERY_NEGATIVE
    )


def user_is_upset(message: Message) -> bool:
    return message.message_type in USER_UPSET_TYPES or message.sentiment_label == "negative"


async def open_conflict(session: AsyncSession, group_id: int | None) -> AfterSalesConflict | None:
    if group_id is None:
        return None
    query = select(AfterSalesConflict).where(
        AfterSalesConflict.group_id == group_id, AfterSalesConflict.status == "open"
    )
    return (await session.execute(query.limit(1))).scalar_one_or_none()


async def _recent(session: AsyncSession, m: Message, role: str, window: timedelta) -> list[Message]:
    query = (
        select(Message)
        .where(
            Message.group_id == m.group_id,
            Message.id < m.id,
            Message.sender_role == role,
            Message.received_at >= m.received_at - window,
        )
        .order_by(Message.id.desc())
        .limit(10)
    )
    return list((await session.execute(query)).scalars())


async def detect(session: AsyncSession, m: Message, now: datetime) -> tuple[str, str, str] | None:
    """(operator, user, reason) when this message completes a conflict, else None."""
    if m.group_id is None:
        return None
    window = clock.scaled(CONFLICT_WINDOW_SECONDS)
    if m.sender_role == "user" and user_is_upset(m):
        harsh = next((o for o in await _recent(session, m, "operator", window) if operator_is_harsh(o)), None)
        if harsh is not None:
            return (
                harsh.sender_name,
                m.sender_name,
                f"运营 {harsh.sender_name} 语气强硬，用户 {m.sender_name} 不满",
            )
    if m.sender_role == "operator" and operator_is_harsh(m):
        upset = next((u for u in await _recent(session, m, "user", window) if user_is_upset(u)), None)
        if upset is not None:
            return (
                m.sender_name,
                upset.sender_name,
                f"运营 {m.sender_name} 语气强硬，用户 {upset.sender_name} 不满",
            )
    return None


async def start_conflict(
    session: AsyncSession,
    m: Message,
    operator: str,
    user: str,
    reason: str,
    now: datetime,
    settings: AfterSalesSettings | None = None,
) -> AfterSalesConflict:
    """Open (or add to) the group's conflict: conciliation via the reply robot, staff notified, alert."""
    from app.alerts.service import raise_alert
    from app.commands.service import enqueue_command
    from app.replies.selection import pick_robot

    settings = settings or await load_settings(session)
    existing = await open_conflict(session, m.group_id)
    if existing is not None:
        existing.history = [*(existing.history or []), {"at": iso(now), "event": "again", "note": reason}][
            -50:
        ]
        return existing
    conflict = AfterSalesConflict(
        group_id=m.group_id,
        group_name=m.group_name,
        operator_name=operator,
        user_name=user,
        reason=reason[:300],
        status="open",
        trigger_message_id=m.id,
        history=[{"at": iso(now), "event": "detected", "note": reason}],
        started_at=now,
    )
    session.add(conflict)
    group = await session.get(Group, m.group_id) if m.group_id else None
    if group is not None:
        group.conflict_state = CONFLICT_STATE
    text = await render_text(session, "conciliation", settings, user_name=user, operator_name=operator)
    robot = await pick_robot(session, group_id=m.group_id, purpose="reply", now=now)
    if robot is not None and m.group_name:
        command = await enqueue_command(
            session, robot, [m.group_name], text, at_list=[user], message_id=m.id, kind="conciliation"
        )
        conflict.conciliation_command_id = command.id
        conflict.history = [*conflict.history, {"at": iso(now), "event": "conciliation_sent", "note": text}]
    else:
        conflict.history = [*conflict.history, {"at": iso(now), "event": "conciliation_skipped"}]
    await notify_staff(
        session,
        f"⚡ 群「{m.group_name}」运营与用户冲突：{reason}。已发送调和消息，请工作人员关注",
        [],
        now,
        settings,
        m.id,
        None,
        m.group_id,
    )
    await raise_alert(
        session,
        alert_type="operator_conflict",
        group_id=m.group_id,
        user_name=user,
        reason=reason,
        level=None,
        message_id=m.id,
        now=now,
    )
    await session.flush()
    publish_after_commit(
        session,
        CONFLICT_EVENT,
        {
            "id": conflict.id,
            "group": m.group_name,
            "status": "open",
            "reminder": f"{m.group_name} {CONFLICT_STATE}",
        },
    )
    return conflict


async def resolve(
    session: AsyncSession, conflict: AfterSalesConflict, by: str, resolution: str, now: datetime | None = None
) -> AfterSalesConflict:
    now = now or clock.now()
    if conflict.status != "open":
        raise InvalidInput("该冲突已调和")
    conflict.status = "resolved"
    conflict.resolved_at = now
    conflict.resolved_by = by[:60]
    conflict.resolution = (resolution or "已调和")[:300]
    conflict.history = [
        *(conflict.history or []),
        {"at": iso(now), "event": "resolved", "by": by, "note": resolution},
    ]
    group = await session.get(Group, conflict.group_id) if conflict.group_id else None
    if group is not None and group.conflict_state == CONFLICT_STATE:
        group.conflict_state = None
    publish_after_commit(
        session,
        CONFLICT_EVENT,
        {
            "id": conflict.id,
            "group": conflict.group_name,
            "status": "resolved",
            "reminder": f"{conflict.group_name} 冲突已调和",
        },
    )
    return conflict


async def get_conflict(session: AsyncSession, conflict_id: int) -> AfterSalesConflict:
    conflict = await session.get(AfterSalesConflict, conflict_id)
    if conflict is None:
        raise NotFound(f"冲突 {conflict_id} 不存在")
    return conflict


async def list_conflicts(
    session: AsyncSession, status: str | None = None, limit: int = 100
) -> list[AfterSalesConflict]:
    query = select(AfterSalesConflict).order_by(AfterSalesConflict.id.desc()).limit(limit)
    if status:
        query = query.where(AfterSalesConflict.status == status)
    return list((await session.execute(query)).scalars())
