"""Message queries for the monitor page and the API; message trace."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.chat.models import MESSAGE_STATUSES, Message
from app.errors import NotFound
from app.flows.models import FlowRun, FlowStep
from app.robots.models import Robot
from app.understanding.types import TYPES_BY_CODE
from app.web.params import check_list_filter

MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class MessageFilter:
    status: str | None = None
    group: str | None = None
    sender: str | None = None
    robot: str | None = None
    q: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1
    page_size: int = 50

    def validate(self) -> MessageFilter:
        check_list_filter(
            self.status, MESSAGE_STATUSES, self.page, self.page_size, MAX_PAGE_SIZE, self.since, self.until
        )
        return self


def message_dict(m: Message, robot_ids: dict[int, str] | None = None) -> dict[str, Any]:
    robot_ids = robot_ids or {}
    return {
        "id": m.id,
        "robot_id": robot_ids.get(m.robot_id, m.robot_id),
        "reported_by": [robot_ids.get(r, r) for r in (m.reported_by or [])],
        "group": m.group_name or None,
        "group_remark": m.group_remark or None,
        "session_id": m.session_id,
        "sender": m.sender_name,
        "text": m.text,
        "raw_text": m.raw_text,
        "room_type": m.room_type,
        "is_private": m.is_private,
        "text_type": m.text_type,
        "media_kind": m.media_kind,
        "at_me": m.at_me,
        "received_at": m.received_at.isoformat(),
        "processing_status": m.status,
        "attempts": m.attempts,
        "last_error": m.last_error,
        "processed_at": m.processed_at.isoformat() if m.processed_at else None,
        "sender_role": m.sender_role,
        "message_type": m.message_type,
        "type": m.message_type,
        "type_name": TYPES_BY_CODE[m.message_type].name if m.message_type in TYPES_BY_CODE else None,
        "category": TYPES_BY_CODE[m.message_type].category if m.message_type in TYPES_BY_CODE else None,
        "confidence": m.type_confidence,
        "reason": m.type_reason,
        "type_tier": m.type_tier,
        "sentiment": {"label": m.sentiment_label, "score": m.sentiment_score} if m.sentiment_label else None,
        "after_sales_response": m.after_sales_response,
        "intervention_kind": m.intervention_kind,
        "is_staff_intervention": m.is_staff_intervention,
        "intervention_needed": m.intervention_needed,
        "intervention_reason": m.intervention_reason,
        "raw_payload": m.raw_payload,
    }


def _filtered(f: MessageFilter) -> Any:
    query = select(Message)
    if f.status:
        query = query.where(Message.status == f.status)
    if f.group:
        query = query.where(Message.group_name == f.group)
    if f.sender:
        query = query.where(Message.sender_name == f.sender)
    if f.robot:
        robot_pk = select(Robot.id).where(Robot.robot_id == f.robot).scalar_subquery()
        query = query.where(Message.robot_id == robot_pk)
    if f.q:
        like = f"%{f.q.strip()}%"
        query = query.where(or_(Message.text.ilike(like), Message.sender_name.ilike(like)))
    if f.since:
        query = query.where(Message.received_at >= f.since)
    if f.until:
        query = query.where(Message.received_at <= f.until)
    return query


async def search_messages(session: AsyncSession, f: MessageFilter) -> tuple[list[Message], int]:
    f.validate()
    query = _filtered(f)
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = await session.execute(
        query.order_by(Message.id.desc()).offset((f.page - 1) * f.page_size).limit(f.page_size)
    )
    return list(rows.scalars()), total


async def robot_id_map(session: AsyncSession) -> dict[int, str]:
    return dict((await session.execute(select(Robot.id, Robot.robot_id))).all())


async def get_message(session: AsyncSession, message_id: int) -> Message:
    message = await session.get(Message, message_id)
    if message is None:
        raise NotFound(f"消息 {message_id} 不存在")
    return message


async def message_trace(session: AsyncSession, message_id: int) -> list[dict[str, Any]]:
    runs = list(
        (
            await session.execute(
                select(FlowRun).where(FlowRun.message_id == message_id).order_by(FlowRun.id)
            )
        ).scalars()
    )
    if not runs:
        return []
    steps = list(
        (
            await session.execute(
                select(FlowStep)
                .where(FlowStep.run_id.in_([r.id for r in runs]))
                .order_by(FlowStep.run_id, FlowStep.position)
            )
        ).scalars()
    )
    by_run: dict[int, list[dict[str, Any]]] = {}
    for s in steps:
        by_run.setdefault(s.run_id, []).append(
            {
                "position": s.position,
                "node": s.node,
                "node_type": s.node_type,
                "status": s.status,
                "branch": s.branch,
                "duration_ms": s.duration_ms,
                "input": s.input_summary,
                "output": s.output,
                "error": s.error,
            }
        )
    return [
        {
            "id": r.id,
            "flow": r.flow_name,
            "version": r.flow_version,
            "attempt": r.attempt,
            "status": r.status,
            "started_at": r.started_at.isoformat(),
            "duration_ms": r.duration_ms,
            "error": r.error,
            "steps": by_run.get(r.id, []),
        }
        for r in runs
    ]
