"""User and group sessions: lists, timelines, collaboration analytics, corrections, exports.

Plain async functions over an AsyncSession; the console pages live in app.chat.session_pages.

Collaboration analytics of a user session (shown on the page with the same wording):
- 满意度 = user messages with sentiment neutral or positive / user messages with any sentiment.
- 介入次数 = the user's messages flagged "staff should intervene" + staff/operator messages of the
  same chat marked as a staff intervention that answer this user (reason names them, or @-mention).
- 协同率 = user messages needing a reply that got one within 30 minutes / user messages needing a
  reply. Needing a reply: type 服务咨询, 售后任务, 用户投诉, 号主私自操作, or flagged 需介入.
  A reply: a staff, operator or robot message in the same chat that @-mentions the user or is a
  staff intervention naming them, received within 30 minutes after the user's message.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement

from app import clock
from app.aftersales.models import AfterSalesTask
from app.chat.models import ChatSession, Group, Message, MessageCorrection
from app.errors import InvalidInput, NotFound
from app.flows.models import FlowRun, FlowStep
from app.understanding.types import CATEGORY_OF_ROLE, SENTIMENT_LABELS, TYPES_BY_CATEGORY, TYPES_BY_CODE

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
TIMELINE_LIMIT = 200
LIVE_LIMIT = 100
EXPORT_LIMIT = 100_000
LIVE_LOOKBACK = timedelta(seconds=30)
REPLY_WINDOW = timedelta(minutes=30)
NEEDS_REPLY_TYPES = ("chat_inquiry", "chat_after_sales", "chat_complaint", "chat_private_operation")
REPLY_ROLES = ("staff", "operator", "robot")
SENTIMENT_NAMES = {"negative": "负面", "neutral": "中性", "positive": "正面"}
CATEGORY_NAMES = {"user": "用户", "staff": "工作人员", "operator": "运营"}
CORRECTION_FIELDS = {"message_type": "消息类型", "sentiment": "情绪"}
RESPONSE_NAMES = {"response": "已响应", "refusal": "拒绝配合"}
MENTION_END = set("，,。.:：!！?？、)）")
INTERVENTION_PREFIX = "回应 "


# ── helpers ───────────────────────────────────────────────────────────────────


def today_start() -> datetime:
    return clock.as_utc(clock.local_now().replace(hour=0, minute=0, second=0, microsecond=0))


def pct(part: int, whole: int) -> int | None:
    return round(part * 100 / whole) if whole else None


def check_page(page: int, page_size: int) -> None:
    if page < 1:
        raise InvalidInput("页码必须 ≥ 1")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput(f"每页条数必须在 1–{MAX_PAGE_SIZE} 之间")


def type_category(sender_role: str | None) -> str:
    return CATEGORY_OF_ROLE.get(sender_role or "user", "user")


def mentions(text: str | None, name: str) -> bool:
    """`@name` in the text, not as the prefix of a longer name."""
    text, tag = text or "", f"@{name}"
    start = text.find(tag)
    while start >= 0:
        end = start + len(tag)
        if end == len(text) or text[end].isspace() or text[end] in MENTION_END:
            return True
        start = text.find(tag, start + 1)
    return False


def reason_names(reason: str | None) -> set[str]:
    """Names in the staff-intervention reason "工作人员已介入：回应 A、B 的消息"."""
    if not reason or INTERVENTION_PREFIX not in reason:
        return set()
    tail = reason.split(INTERVENTION_PREFIX, 1)[1].rsplit(" 的消息", 1)[0]
    return {n.strip() for n in tail.split("、") if n.strip()}


def answers(m: Message, name: str) -> bool:
    return mentions(m.text, name) or (m.is_staff_intervention and name in reason_names(m.intervention_reason))


def newer_than(after: int) -> ColumnElement[bool]:
    """Live refresh cursor: ids above the newest shown, plus anything processed in the last seconds.

    Workers may finish messages out of id order; the page drops rows it already shows.
    """
    return or_(Message.id > after, Message.processed_at >= clock.now() - LIVE_LOOKBACK)


async def corrected_ids(session: AsyncSession, ids: Iterable[int]) -> set[int]:
    wanted = list(set(ids))
    if not wanted:
        return set()
    rows = await session.execute(
        select(MessageCorrection.message_id).where(MessageCorrection.message_id.in_(wanted)).distinct()
    )
    return set(rows.scalars())


# ── user session list ─────────────────────────────────────────────────────────


@dataclass(frozen=True)
class SessionFilter:
    group: str = ""  # "" all | "private" | a group id
    q: str = ""  # user name contains
    has_intervention: str = ""  # "" | "1" | "0"
    sentiment: str = ""  # "" | negative | neutral | positive | none
    role: str | None = "user"  # None: every sender
    page: int = 1
    page_size: int = PAGE_SIZE

    def validate(self) -> SessionFilter:
        check_page(self.page, self.page_size)
        if self.group and self.group != "private" and not self.group.isdigit():
            raise InvalidInput("群筛选无效")
        if self.has_intervention not in ("", "1", "0"):
            raise InvalidInput("需介入筛选只能是 1 或 0")
        if self.sentiment and self.sentiment not in (*SENTIMENT_LABELS, "none"):
            raise InvalidInput(f"情绪筛选无效：{self.sentiment}")
        return self


async def list_sessions(session: AsyncSession, f: SessionFilter) -> tuple[list[dict[str, Any]], int]:
    """Sessions by last activity, with the last message's type and sentiment and 需介入 counts."""
    f.validate()
    last = aliased(Message)
    query = (
        select(ChatSession, Group.name, last.message_type, last.sentiment_label, last.sentiment_score)
        .outerjoin(Group, Group.id == ChatSession.group_id)
        .outerjoin(last, last.id == ChatSession.last_message_id)
    )
    if f.role:
        query = query.where(ChatSession.sender_role == f.role)
    if f.group == "private":
        query = query.where(ChatSession.is_private.is_(True))
    elif f.group:
        query = query.where(ChatSession.group_id == int(f.group))
    if f.q.strip():
        query = query.where(ChatSession.user_name.icontains(f.q.strip(), autoescape=True))
    if f.has_intervention:
        flagged = exists().where(Message.session_id == ChatSession.id, Message.intervention_needed.is_(True))
        query = query.where(flagged if f.has_intervention == "1" else ~flagged)
    if f.sentiment == "none":
        query = query.where(last.sentiment_label.is_(None))
    elif f.sentiment:
        query = query.where(last.sentiment_label == f.sentiment)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = (
        await session.execute(
            query.order_by(ChatSession.last_message_at.desc(), ChatSession.id.desc())
            .offset((f.page - 1) * f.page_size)
            .limit(f.page_size)
        )
    ).all()
    needs = await intervention_counts(session, [r[0].id for r in rows])
    items = [
        {
            "session": chat,
            "group_name": group_name,
            "last_type": last_type,
            "sentiment": label,
            "score": score,
            "needs": needs.get(chat.id, 0),
        }
        for chat, group_name, last_type, label, score in rows
    ]
    return items, total


async def intervention_counts(session: AsyncSession, session_ids: list[int]) -> dict[int, int]:
    if not session_ids:
        return {}
    rows = await session.execute(
        select(Message.session_id, func.count())
        .where(Message.session_id.in_(session_ids), Message.intervention_needed.is_(True))
        .group_by(Message.session_id)
    )
    return {int(sid): n for sid, n in rows.all() if sid is not None}


async def group_choices(session: AsyncSession) -> list[tuple[int, str]]:
    return list((await session.execute(select(Group.id, Group.name).order_by(Group.name))).all())


# ── one user session ──────────────────────────────────────────────────────────


async def get_session(session: AsyncSession, session_id: int) -> tuple[ChatSession, Group | None]:
    chat = await session.get(ChatSession, session_id)
    if chat is None:
        raise NotFound(f"会话 {session_id} 不存在")
    group = await session.get(Group, chat.group_id) if chat.group_id else None
    return chat, group


async def user_profile(session: AsyncSession, chat: ChatSession) -> dict[str, Any]:
    """The user across all their sessions: groups, first/last seen, message count."""
    rows = (
        await session.execute(
            select(ChatSession, Group.name)
            .outerjoin(Group, Group.id == ChatSession.group_id)
            .where(ChatSession.user_name == chat.user_name, ChatSession.sender_role == chat.sender_role)
            .order_by(ChatSession.last_message_at.desc())
        )
    ).all()
    sessions = [
        {"id": s.id, "group": name, "count": s.message_count, "private": s.is_private} for s, name in rows
    ]
    return {
        "name": chat.user_name,
        "role": chat.sender_role,
        "sessions": sessions,
        "first_seen": min((s.first_message_at for s, _ in rows), default=chat.first_message_at),
        "last_seen": max((s.last_message_at for s, _ in rows), default=chat.last_message_at),
        "total": sum(s.message_count for s, _ in rows),
    }


def _reply_filter(chat: ChatSession) -> ColumnElement[bool]:
    """SQL prefilter of staff/operator/robot messages in the chat that may answer this user."""
    return and_(
        Message.group_id == chat.group_id,
        Message.sender_role.in_(REPLY_ROLES),
        Message.received_at >= chat.first_message_at,
        or_(
            Message.text.contains(f"@{chat.user_name}", autoescape=True),
            and_(
                Message.is_staff_intervention.is_(True),
                Message.intervention_reason.contains(chat.user_name, autoescape=True),
            ),
        ),
    )


async def _fetch(
    session: AsyncSession, condition: ColumnElement[bool], after: int | None, before: int | None, limit: int
) -> list[Message]:
    query = select(Message).where(condition)
    if after is not None:
        query = query.where(newer_than(after)).order_by(Message.id)
    else:
        query = query.order_by(Message.id.desc())
    if before is not None:
        query = query.where(Message.id < before)
    return list((await session.execute(query.limit(limit))).scalars())


async def timeline(
    session: AsyncSession,
    chat: ChatSession,
    after: int | None = None,
    before: int | None = None,
    limit: int = TIMELINE_LIMIT,
) -> list[Message]:
    """The user's messages with the staff/robot replies addressed to them, oldest first.

    Without `after`: the newest `limit` (before `before`). With `after`: the oldest `limit` newer ones.
    """
    rows = await _fetch(session, Message.session_id == chat.id, after, before, limit)
    if not chat.is_private and chat.group_id is not None:
        replies = await _fetch(session, _reply_filter(chat), after, before, limit)
        rows += [m for m in replies if answers(m, chat.user_name)]
    rows.sort(key=lambda m: m.id)
    return rows[:limit] if after is not None else rows[-limit:]


async def analytics(session: AsyncSession, chat: ChatSession) -> dict[str, Any]:
    labelled, content, flagged = (
        await session.execute(
            select(
                func.count(Message.sentiment_label),
                func.coalesce(func.sum(case((Message.sentiment_label.in_(("neutral", "positive")), 1))), 0),
                func.coalesce(func.sum(case((Message.intervention_needed.is_(True), 1))), 0),
            ).where(Message.session_id == chat.id)
        )
    ).one()
    waiting = list(
        (
            await session.execute(
                select(Message.received_at)
                .where(
                    Message.session_id == chat.id,
                    or_(Message.message_type.in_(NEEDS_REPLY_TYPES), Message.intervention_needed.is_(True)),
                )
                .order_by(Message.received_at)
            )
        ).scalars()
    )
    replies: list[Message] = []
    if not chat.is_private and chat.group_id is not None:
        found = await session.execute(
            select(Message)
            .where(_reply_filter(chat), Message.received_at <= chat.last_message_at + REPLY_WINDOW)
            .order_by(Message.received_at)
            .limit(EXPORT_LIMIT)
        )
        replies = [m for m in found.scalars() if answers(m, chat.user_name)]
    times = [m.received_at for m in replies]
    answered = 0
    for asked in waiting:
        i = bisect.bisect_right(times, asked)
        answered += int(i < len(times) and times[i] <= asked + REPLY_WINDOW)
    staff = sum(1 for m in replies if m.is_staff_intervention)
    return {
        "satisfaction": pct(int(content), int(labelled)),
        "labelled": int(labelled),
        "content": int(content),
        "interventions": int(flagged) + staff,
        "needed": int(flagged),
        "staff_interventions": staff,
        "collaboration": pct(answered, len(waiting)),
        "waiting": len(waiting),
        "answered": answered,
    }


# ── corrections ───────────────────────────────────────────────────────────────


def _sentiment_score(label: str, score: float | None) -> float:
    """Keep the score when it agrees with the corrected label, else move it into the label's band."""
    if label == "negative":
        return min(score if score is not None else 0.0, -0.5)
    if label == "positive":
        return max(score if score is not None else 0.0, 0.5)
    return max(-0.2, min(0.2, score or 0.0))


async def correct_message(
    session: AsyncSession, message_id: int, field: str, value: str, by: str
) -> tuple[Message, MessageCorrection]:
    """Apply a staff correction to a message and record it as labelled data."""
    m = await session.get(Message, message_id)
    if m is None:
        raise NotFound(f"消息 {message_id} 不存在")
    value = value.strip()
    if field == "message_type":
        category = type_category(m.sender_role)
        allowed = TYPES_BY_CATEGORY[category]
        if value not in TYPES_BY_CODE:
            raise InvalidInput(f"未知的消息类型编码：{value or '空'}")
        if value not in allowed:
            wanted = TYPES_BY_CODE[value]
            raise InvalidInput(
                f"「{wanted.name}」({value}) 属于{CATEGORY_NAMES[wanted.category]}类型，"
                f"不适用于{CATEGORY_NAMES[category]}发送的消息；可选：{'、'.join(allowed)}"
            )
        old = m.message_type
        if old == value:
            raise InvalidInput("新类型与当前类型相同，无需更正")
        m.message_type, m.type_confidence, m.type_tier = value, 1.0, "manual"
        m.type_reason = f"人工更正（{by}）"[:300]
    elif field == "sentiment":
        if value not in SENTIMENT_LABELS:
            raise InvalidInput(f"未知的情绪标签：{value or '空'}（可选 {' | '.join(SENTIMENT_LABELS)}）")
        old = m.sentiment_label
        if old == value:
            raise InvalidInput("新情绪与当前情绪相同，无需更正")
        m.sentiment_label, m.sentiment_score = value, round(_sentiment_score(value, m.sentiment_score), 4)
    else:
        raise InvalidInput("field 只能是 message_type 或 sentiment")
    correction = MessageCorrection(
        message_id=m.id,
        field=field,
        old_value=old,
        new_value=value,
        text=m.text or m.raw_text,
        sender_role=m.sender_role,
        corrected_by=by[:60],
        corrected_at=clock.now(),
    )
    session.add(correction)
    await session.flush()
    return m, correction


@dataclass(frozen=True)
class CorrectionFilter:
    field: str = ""
    by: str = ""
    since: datetime | None = None
    until: datetime | None = None
    latest_only: bool = False  # the newest correction per message and field (the current label)
    page: int = 1
    page_size: int = PAGE_SIZE

    def validate(self) -> CorrectionFilter:
        check_page(self.page, self.page_size)
        if self.field and self.field not in CORRECTION_FIELDS:
            raise InvalidInput("field 只能是 message_type 或 sentiment")
        if self.since and self.until and self.since > self.until:
            raise InvalidInput("开始时间不能晚于结束时间")
        return self


def _corrections_query(f: CorrectionFilter) -> Any:
    query = select(MessageCorrection)
    if f.field:
        query = query.where(MessageCorrection.field == f.field)
    if f.by.strip():
        query = query.where(MessageCorrection.corrected_by == f.by.strip())
    if f.since:
        query = query.where(MessageCorrection.corrected_at >= f.since)
    if f.until:
        query = query.where(MessageCorrection.corrected_at <= f.until)
    if f.latest_only:
        newest = select(func.max(MessageCorrection.id)).group_by(
            MessageCorrection.message_id, MessageCorrection.field
        )
        query = query.where(MessageCorrection.id.in_(newest))
    return query


async def list_corrections(session: AsyncSession, f: CorrectionFilter) -> tuple[list[MessageCorrection], int]:
    query = _corrections_query(f.validate())
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.execute(
        query.order_by(MessageCorrection.id.desc()).offset((f.page - 1) * f.page_size).limit(f.page_size)
    )
    return list(rows.scalars()), total


async def correctors(session: AsyncSession) -> list[str]:
    rows = await session.execute(select(MessageCorrection.corrected_by).distinct().order_by("corrected_by"))
    return list(rows.scalars())


def label_name(field: str, value: str | None) -> str:
    if value is None:
        return "未识别"
    if field == "message_type":
        return TYPES_BY_CODE[value].name if value in TYPES_BY_CODE else value
    return SENTIMENT_NAMES.get(value, value)


def correction_dict(c: MessageCorrection) -> dict[str, Any]:
    return {
        "id": c.id,
        "message_id": c.message_id,
        "text": c.text,
        "sender_role": c.sender_role,
        "field": c.field,
        "label": c.new_value,
        "label_name": label_name(c.field, c.new_value),
        "old_value": c.old_value,
        "corrected_by": c.corrected_by,
        "corrected_at": c.corrected_at.isoformat(),
    }


EXPORT_FIELDS = (
    "text",
    "sender_role",
    "field",
    "label",
    "old_value",
    "corrected_by",
    "corrected_at",
    "message_id",
    # What the classifier saw besides the text, so that retraining reads the line the same way:
    "open_task",
    "open_task_type",
    "context",
)
ID_CHUNK = 500


async def export_corrections(session: AsyncSession, f: CorrectionFilter, fmt: str) -> bytes:
    """Labelled data for retraining: JSON Lines, or CSV (UTF-8 with BOM) with the same fields (the
    context as a JSON list)."""
    query = _corrections_query(f.validate()).order_by(MessageCorrection.id).limit(EXPORT_LIMIT)
    corrections = list((await session.execute(query)).scalars())
    seen = await _as_classified(session, sorted({c.message_id for c in corrections}))
    rows = [{**correction_dict(c), **seen[c.message_id]} for c in corrections]
    if fmt == "jsonl":
        lines = (json.dumps({k: r[k] for k in EXPORT_FIELDS}, ensure_ascii=False) for r in rows)
        return "".join(line + "\n" for line in lines).encode()
    for r in rows:
        r["context"] = json.dumps(r["context"], ensure_ascii=False)
    return csv_bytes(EXPORT_FIELDS, ([r[k] for k in EXPORT_FIELDS] for r in rows))


async def _as_classified(session: AsyncSession, message_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Message id → the open task its processing found (and the task's type) and the chat lines before
    it, as the classifier read them."""
    from app.understanding.context import recent_context

    task_of: dict[int, int | None] = {}
    messages: dict[int, Message] = {}
    for start in range(0, len(message_ids), ID_CHUNK):
        chunk = message_ids[start : start + ID_CHUNK]
        found_messages = await session.execute(select(Message).where(Message.id.in_(chunk)))
        messages.update({m.id: m for m in found_messages.scalars()})
        steps = await session.execute(
            select(FlowRun.message_id, FlowStep.output)
            .join(FlowStep, FlowStep.run_id == FlowRun.id)
            .where(FlowRun.message_id.in_(chunk), FlowStep.node_type == "find_after_sales_task")
            .order_by(FlowRun.id)
        )
        for message_id, output in steps:  # the newest run counts
            task = (output or {}).get("open_task")
            task_of[message_id] = task if isinstance(task, int) else None
    task_ids = sorted({t for t in task_of.values() if t is not None})
    task_types: dict[int, str] = {}
    for start in range(0, len(task_ids), ID_CHUNK):
        found = await session.execute(
            select(AfterSalesTask.id, AfterSalesTask.task_type).where(
                AfterSalesTask.id.in_(task_ids[start : start + ID_CHUNK])
            )
        )
        task_types.update({task_id: task_type for task_id, task_type in found.all()})
    seen: dict[int, dict[str, Any]] = {}
    for message_id in message_ids:
        message = messages.get(message_id)
        if message is None:
            seen[message_id] = {"open_task": False, "open_task_type": None, "context": []}
            continue
        task = task_of.get(message_id)
        context = await recent_context(session, message)
        seen[message_id] = {
            # Without a trace, an answer or a refusal still shows that a task was open.
            "open_task": task is not None
            if message_id in task_of
            else message.after_sales_response in ("response", "refusal"),
            "open_task_type": task_types.get(task) if task is not None else None,
            "context": [{"role": line.role, "content": line.content} for line in context],
        }
    return seen


# ── CSV ───────────────────────────────────────────────────────────────────────


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 with a BOM, so Excel shows Chinese correctly."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return "\ufeff".encode() + out.getvalue().encode()


def spreadsheet_safe(value: str) -> str:
    """Cells a spreadsheet would run as a formula get a leading apostrophe."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


SESSION_CSV_HEADER = (
    "时间", "发送者", "角色", "内容", "类型编码", "类型名称", "置信度", "情绪", "情绪分",
    "售后响应", "需介入", "介入类型", "工作人员已介入", "介入原因",
)  # fmt: skip


async def export_session_csv(session: AsyncSession, chat: ChatSession) -> bytes:
    messages = await timeline(session, chat, limit=EXPORT_LIMIT)
    return csv_bytes(
        SESSION_CSV_HEADER,
        (
            (
                clock.to_local(m.received_at).strftime("%Y-%m-%d %H:%M:%S"),
                spreadsheet_safe(m.sender_name),
                m.sender_role,
                spreadsheet_safe(m.text or m.raw_text),
                m.message_type,
                label_name("message_type", m.message_type) if m.message_type else "",
                m.type_confidence,
                m.sentiment_label,
                m.sentiment_score,
                m.after_sales_response,
                "是" if m.intervention_needed else "否",
                m.intervention_kind,
                "是" if m.is_staff_intervention else "否",
                spreadsheet_safe(m.intervention_reason or ""),
            )
            for m in messages
        ),
    )


# ── groups ────────────────────────────────────────────────────────────────────

GROUP_SORTS: dict[str, tuple[Any, ...]] = {
    "recent": (Group.last_message_at.desc().nulls_last(), Group.id.desc()),
    "messages": (Group.message_count.desc(), Group.id.desc()),
    "name": (Group.name, Group.id),
}


async def list_groups(
    session: AsyncSession, q: str, sort: str, page: int, page_size: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], int]:
    check_page(page, page_size)
    if sort not in GROUP_SORTS:
        raise InvalidInput(f"排序方式无效：{sort}")
    query = select(Group)
    if q.strip():
        query = query.where(
            or_(
                Group.name.icontains(q.strip(), autoescape=True),
                Group.remark.icontains(q.strip(), autoescape=True),
            )
        )
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    groups = list(
        (
            await session.execute(
                query.order_by(*GROUP_SORTS[sort]).offset((page - 1) * page_size).limit(page_size)
            )
        ).scalars()
    )
    today = await today_figures(session, [g.id for g in groups])
    empty = {"messages": 0, "users": 0, "needs": 0}
    return [{"group": g, **today.get(g.id, empty)} for g in groups], total


async def today_figures(session: AsyncSession, group_ids: list[int]) -> dict[int, dict[str, int]]:
    if not group_ids:
        return {}
    rows = await session.execute(
        select(
            Message.group_id,
            func.count(),
            func.count(func.distinct(case((Message.sender_role == "user", Message.sender_name)))),
            func.coalesce(func.sum(case((Message.intervention_needed.is_(True), 1))), 0),
        )
        .where(Message.group_id.in_(group_ids), Message.received_at >= today_start())
        .group_by(Message.group_id)
    )
    return {gid: {"messages": n, "users": users, "needs": int(needs)} for gid, n, users, needs in rows.all()}


async def get_group(session: AsyncSession, group_id: int) -> Group:
    group = await session.get(Group, group_id)
    if group is None:
        raise NotFound(f"群 {group_id} 不存在")
    return group


async def group_activity(session: AsyncSession, group_id: int) -> dict[str, list[dict[str, Any]]]:
    """Messages per hour over the last 24 hours and per day over the last 14 days (local time)."""
    now = clock.local_now()
    hour0 = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    day0 = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=13)
    hours = [(hour0 + timedelta(hours=i), hour0 + timedelta(hours=i + 1), "%H:00") for i in range(24)]
    days = [(day0 + timedelta(days=i), day0 + timedelta(days=i + 1), "%m-%d") for i in range(14)]
    buckets = hours + days
    columns = [
        func.coalesce(
            func.sum(
                case(
                    (and_(Message.received_at >= clock.as_utc(lo), Message.received_at < clock.as_utc(hi)), 1)
                )
            ),
            0,
        )
        for lo, hi, _ in buckets
    ]
    counts = (
        await session.execute(
            select(*columns).where(
                Message.group_id == group_id, Message.received_at >= clock.as_utc(min(hour0, day0))
            )
        )
    ).one()
    series = [
        {"label": lo.strftime(fmt), "count": int(n)} for (lo, _, fmt), n in zip(buckets, counts, strict=True)
    ]
    return {"hours": _scaled(series[:24]), "days": _scaled(series[24:])}


def _scaled(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    top = max((s["count"] for s in series), default=0)
    return [{**s, "height": round(s["count"] * 100 / top) if top else 0} for s in series]


async def group_messages(
    session: AsyncSession, group_id: int, after: int | None = None, limit: int = 50
) -> list[Message]:
    """The group's newest messages, newest first (with `after`: only newer ones)."""
    query = select(Message).where(Message.group_id == group_id)
    if after is not None:
        query = query.where(newer_than(after))
    return list((await session.execute(query.order_by(Message.id.desc()).limit(limit))).scalars())
