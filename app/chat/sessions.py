"""Chat sessions: one per user per group, one per private chat (robot + contact)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.chat.models import ChatSession, Group, Message
from app.db import key_in


def session_key(message: Message) -> str:
    if message.is_private:
        return f"p:{message.robot_id}:{message.sender_name}"
    return f"g:{message.group_id}:{message.sender_name}"


async def prefetch_sessions(session: AsyncSession, messages: list[Message]) -> dict[str, ChatSession | None]:
    """The chat sessions of these messages in one query; None marks a key known to be new."""
    keys = sorted({session_key(m) for m in messages})
    postgres = session.bind is not None and session.bind.dialect.name == "postgresql"
    found = await session.execute(select(ChatSession).where(key_in(ChatSession.session_key, keys, postgres)))
    cache: dict[str, ChatSession | None] = dict.fromkeys(keys)
    cache.update({chat.session_key: chat for chat in found.scalars()})
    return cache


async def touch_session(
    session: AsyncSession,
    message: Message,
    now: datetime,
    cache: dict[str, ChatSession | None],
    group_counts: dict[int, tuple[int, datetime]] | None = None,
) -> ChatSession:
    """Count the message on its chat session, and on its group: at once, or into `group_counts`
    when given (the caller applies those with `apply_group_counts`, one UPDATE per group)."""
    key = session_key(message)
    chat = cache.get(key)
    if chat is None and key not in cache:
        chat = (
            await session.execute(select(ChatSession).where(ChatSession.session_key == key))
        ).scalar_one_or_none()
    if chat is None:
        chat = ChatSession(
            session_key=key,
            group_id=None if message.is_private else message.group_id,
            robot_id=message.robot_id if message.is_private else None,
            user_name=message.sender_name,
            is_private=message.is_private,
            sender_role=message.sender_role or "user",
            message_count=0,
            first_message_at=message.received_at,
            last_message_at=message.received_at,
        )
        session.add(chat)
        await session.flush()
    cache[key] = chat
    chat.message_count += 1
    chat.last_message_at = max(chat.last_message_at, message.received_at)
    chat.last_message_id = message.id
    chat.sender_role = message.sender_role or chat.sender_role
    message.session_id = chat.id
    if message.group_id is not None:
        counts = {} if group_counts is None else group_counts
        count, last = counts.get(message.group_id, (0, message.received_at))
        counts[message.group_id] = (count + 1, max(last, message.received_at))
        if group_counts is None:
            await apply_group_counts(session, counts)
    return chat


async def apply_group_counts(session: AsyncSession, counts: dict[int, tuple[int, datetime]]) -> None:
    for group_id, (count, last) in sorted(counts.items()):
        await session.execute(
            update(Group)
            .where(Group.id == group_id)
            .values(message_count=Group.message_count + count, last_message_at=last)
        )
    counts.clear()
