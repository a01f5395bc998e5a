"""What the classifiers see around a message: recent lines of the same chat."""

from __future__ import annotations

from collections import deque

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.chat.models import Message
from app.understanding.types import ContextLine, MessageInput

CONTEXT_LINES = 3


async def recent_context(
    session: AsyncSession, message: Message, limit: int = CONTEXT_LINES
) -> tuple[ContextLine, ...]:
    query = select(Message.sender_role, Message.text).where(Message.id < message.id)
    if message.is_private:
        query = (
            query.where(Message.session_id == message.session_id)
            if message.session_id
            else query.where(Message.robot_id == message.robot_id, Message.sender_name == message.sender_name)
        )
    else:
        query = query.where(Message.group_id == message.group_id)
    rows = (await session.execute(query.order_by(Message.id.desc()).limit(limit))).all()
    return tuple(ContextLine(role or "user", text or "") for role, text in reversed(rows))


def _scope(message: Message) -> tuple[object, ...]:
    if message.is_private:
        return ("p", message.robot_id, message.sender_name)
    return ("g", message.group_id)


async def batch_context(
    session: AsyncSession, message: Message, cache: dict[tuple[object, ...], deque[ContextLine]]
) -> tuple[ContextLine, ...]:
    """`recent_context` for messages processed in id order within one batch: one query per chat,
    then each message's line is appended for the next message of the same chat."""
    scope = _scope(message)
    lines = cache.get(scope)
    if lines is None:
        lines = cache[scope] = deque(await recent_context(session, message), maxlen=CONTEXT_LINES)
    context = tuple(lines)
    lines.append(ContextLine(message.sender_role or "user", message.text or ""))
    return context


def at_names(text: str) -> tuple[str, ...]:
    from app.understanding.textfeatures import AT_MENTION

    return tuple(m.group(0)[1:].strip() for m in AT_MENTION.finditer(text))


def message_input(
    message: Message, context: tuple[ContextLine, ...], open_task: bool, open_task_type: str | None = None
) -> MessageInput:
    return MessageInput(
        text=message.text or "",
        sender_role=message.sender_role or "user",
        at_names=at_names(message.text or ""),
        context=context,
        open_task=open_task,
        open_task_type=open_task_type,
        media_kind=message.media_kind,
    )
