"""Reply decision (PRODUCT.md §5): whether the robot answers a message, and with which template.

decide() is a pure function of the message's understanding; the flow node (app.replies.nodes)
adds the database checks (staff already answered, a reply already waiting, a reply robot exists),
picks the robot (app.replies.selection), the delay (app.replies.delays) and enqueues the command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.chat.models import Message
from app.commands.models import Command
from app.commands.service import cancel_command
from app.commands.states import CANCELLED, QUEUED
from app.errors import HubError

GREETING = re.compile(
    r"^\s*(@\S+\s*)?(你好|您好|哈喽|嗨|在吗|在不在|有人吗|有人在吗|hello|hi|早上好|早安|早|上午好|中午好|下午好|晚上好|大家好)"
    r"(呀|啊|哇|哦|鸭)?[\s!！?？~～。.,，]*$",
    re.IGNORECASE,
)
TASK_TYPES = (
    ("扫码", "扫码登录"),
    ("二维码", "扫码登录"),
    ("实名", "实名认证"),
    ("视频号", "视频号认证"),
    ("绑定", "绑定手机"),
    ("手机号", "绑定手机"),
    ("自拍", "自拍视频"),
    ("发作品", "发作品"),
    ("登录", "扫码登录"),
)


@dataclass(frozen=True)
class ReplyDecision:
    reply: bool
    reason: str
    template: str | None = None  # a template key or category
    faq: bool = False  # try the FAQ answers first (keywords), then `template`
    after_sales: bool = False  # an after-sales reminder (fast at any hour)


def is_greeting(text: str) -> bool:
    return bool(GREETING.match(text or ""))


def task_type_of(text: str) -> str | None:
    for word, name in TASK_TYPES:
        if word in (text or ""):
            return name
    return None


def decide(
    *,
    sender_role: str | None,
    message_type: str | None,
    text: str,
    at_me: bool = False,
    after_sales_response: str | None = None,
    reply_to_operator: bool = True,
) -> ReplyDecision:
    """Whether and how to reply, from who spoke and what the message is."""
    role = sender_role or "user"
    if role == "robot":
        return ReplyDecision(False, "机器人消息，不回复")
    if role == "staff":
        return ReplyDecision(False, "工作人员消息，不回复")
    if role == "operator":
        if message_type == "operator_assign_user" and reply_to_operator:
            return ReplyDecision(True, "运营安排号主工作：回复机器人协助（安抚号主）", "operator_assist")
        if message_type == "operator_tone_hard":
            return ReplyDecision(False, "运营语气较硬：由冲突调和处理，机器人不单独回复")
        return ReplyDecision(False, "运营的其他消息，不回复")
    if after_sales_response in ("response", "refusal"):
        return ReplyDecision(False, "售后任务的用户响应：由售后分支处理（安抚回复）")
    kind = message_type or ""
    if kind in ("chat_daily", "chat_other", "chat_inquiry") and is_greeting(text):
        return ReplyDecision(True, "用户问候", "greeting")  # short greetings, whatever the model said
    if kind == "chat_daily":
        if at_me:
            return ReplyDecision(True, "用户问候", "greeting")
        return ReplyDecision(False, "日常闲聊，不回复")
    if kind == "chat_inquiry":
        return ReplyDecision(True, "服务咨询：常见问题解答或应答", "inquiry_ack", faq=True)
    if kind == "chat_after_sales":
        return ReplyDecision(True, "售后任务：受理并通知售后", "after_sales_ack", after_sales=True)
    if kind == "chat_complaint":
        return ReplyDecision(True, "用户投诉：致歉安抚，等待工作人员处理", "complaint")
    if kind == "chat_private_operation":
        return ReplyDecision(True, "号主私自操作：提醒", "private_operation")
    if kind in ("chat_cooperation", "chat_other") and at_me:
        return ReplyDecision(True, "@机器人的消息：应答", "inquiry_ack", faq=True)
    if not kind:
        return ReplyDecision(False, "消息未分类，不回复")
    return ReplyDecision(False, "该类消息不需要机器人回复")


def scope_of(message: Message) -> object:
    return (
        (Message.session_id == message.session_id)
        if message.is_private
        else (Message.group_id == message.group_id)
    )


async def staff_answered_after(session: AsyncSession, message: Message) -> bool:
    """A staff or operator message came in after this one (backlog processing): already handled."""
    if message.group_id is None and message.session_id is None:
        return False
    found = await session.scalar(
        select(Message.id)
        .where(scope_of(message), Message.id > message.id, Message.sender_role.in_(("staff", "operator")))  # type: ignore[arg-type]
        .limit(1)
    )
    return found is not None


async def waiting_reply(session: AsyncSession, message: Message) -> tuple[int, datetime] | None:
    """A reply to the same sender in the same chat that has not gone out yet: (id, due time)."""
    query = (
        select(Command.id, Command.due_at)
        .join(Message, Message.id == Command.message_id)
        .where(
            Command.kind == "reply",
            Command.status == QUEUED,
            Command.send_token.is_(None),
            scope_of(message),  # type: ignore[arg-type]
            Message.sender_name == message.sender_name,
        )
        .order_by(Command.due_at)
        .limit(1)
    )
    row = (await session.execute(query)).first()
    return (int(row[0]), clock.as_utc(row[1])) if row else None


async def other_reply_for(session: AsyncSession, message: Message) -> str | None:
    """Another capability already answers this message in its chat (comfort, conciliation): its kind."""
    chat = message.sender_name if message.is_private else message.group_name
    rows = await session.execute(
        select(Command.kind, Command.targets).where(
            Command.message_id == message.id, Command.kind != "reply", Command.status != CANCELLED
        )
    )
    for kind, targets in rows:
        if chat in (targets or []):
            return str(kind)
    return None


async def greeted_recently(session: AsyncSession, message: Message, since: datetime) -> bool:
    """The robot already replied to this sender in this chat since `since` (no greeting spam)."""
    query = (
        select(Command.id)
        .join(Message, Message.id == Command.message_id)
        .where(
            Command.kind == "reply",
            Command.status != CANCELLED,
            Command.created_at >= since,
            scope_of(message),  # type: ignore[arg-type]
            Message.sender_name == message.sender_name,
            Message.id != message.id,
        )
        .limit(1)
    )
    return await session.scalar(query) is not None


async def cancel_answered_replies(session: AsyncSession, message: Message, users: list[str]) -> list[int]:
    """Staff stepped in for these users: their replies still waiting in the queue are cancelled."""
    if not users:
        return []
    ids = list(
        (
            await session.execute(
                select(Command.id)
                .join(Message, Message.id == Command.message_id)
                .where(
                    Command.kind == "reply",
                    Command.status == QUEUED,
                    Command.send_token.is_(None),
                    scope_of(message),  # type: ignore[arg-type]
                    Message.sender_name.in_(users),
                )
            )
        ).scalars()
    )
    return await cancel_replies(session, ids)


async def cancel_replies(session: AsyncSession, ids: list[int]) -> list[int]:
    """Cancel queued replies; one being sent right now is left alone (too late to stop it)."""
    cancelled = []
    for command_id in ids:
        try:
            await cancel_command(session, command_id)
            cancelled.append(command_id)
        except HubError:
            continue
    return cancelled
