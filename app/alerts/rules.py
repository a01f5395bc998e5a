"""The alert rules as pure functions (no I/O): what a message triggers, what cancels an alert,
which escalations are due at a moment. The service applies them; unit tests drive them with a
controllable clock."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from app.alerts.config import AlertSettings, type_level
from app.alerts.models import ACKNOWLEDGED, ACTIVE, OPEN

MAX_LEVEL = 4

# §4.3 (4): the user withdrew the complaint or said it is solved. Negated or asked forms don't count.
WITHDRAWN = re.compile(
    r"(?<![没不未])(?<!还没)(?<!没有)(解决了|搞定了|没事了|没问题了|弄好了|处理好了|已经好了|可以了|好了好了|不用了|撤回投诉|不投诉了|"
    r"误会了|是误会|知道了谢谢|好了谢谢|好了[，,。!！]?$|^好了)(?![吗嘛么没？?])"
)
NOT_WITHDRAWN = re.compile(r"(还没|没有|并没|根本没|哪里).{0,4}(解决|好)|解决了吗|好了吗|好了没|行不行")
# Users thinking of leaving (流失风险).
CHURN = re.compile(r"退群|不干了|不做了|不合作了|解约|注销|退出(合作|计划|项目)|退钱|退款|再也不|换一家|拉黑")

# Alert types that a staff member stepping in covers (§4.3 (1)).
STAFF_CANCELS = frozenset(
    {
        "complaint",
        "negative_emotion",
        "churn_risk",
        "unanswered",
        "important_question",
        "private_operation",
        "operator_conflict",
        "after_sales_refusal",
    }
)
# Alert types that the user's own mood or words cancel (§4.3 (2)–(4)).
USER_CANCELS = STAFF_CANCELS - {"private_operation"}
# Alert types that the completion of the related after-sales task cancels (§4.3 (5)).
TASK_CANCELS = frozenset({"after_sales_timeout", "after_sales_refusal", "unanswered", "important_question"})
# User message types that wait for an answer (unanswered check).
QUESTION_TYPES = frozenset({"chat_inquiry", "chat_after_sales", "chat_private_operation"})


@dataclass(frozen=True, slots=True)
class Trigger:
    alert_type: str
    level: int
    reason: str


@dataclass(frozen=True, slots=True)
class Mood:
    label: str  # negative | neutral | positive
    score: float


def clamp(level: int) -> int:
    return max(1, min(MAX_LEVEL, level))


def withdrawn(text: str) -> bool:
    text = (text or "").strip()
    return bool(text) and not NOT_WITHDRAWN.search(text) and bool(WITHDRAWN.search(text))


def churn_risk(text: str) -> bool:
    return bool(CHURN.search(text or ""))


def judge_user_message(
    settings: AlertSettings,
    *,
    message_type: str | None,
    mood: Mood,
    intervention_kind: str | None,
    text: str,
    recent: Sequence[Mood],
) -> list[Trigger]:
    """Triggers of one user message (§4.1). `recent`: the user's earlier moods in the worsening
    window, newest last. At most one trigger per alert type; the most severe first."""
    found: dict[str, Trigger] = {}

    def add(kind: str, reason: str, level: int | None = None) -> None:
        if kind not in found:
            found[kind] = Trigger(kind, clamp(level or type_level(settings, kind)), reason)

    if withdrawn(text):
        return []
    if intervention_kind == "conflict":
        add("operator_conflict", "运营与号主冲突，号主表达不满")
    if message_type == "chat_complaint" or intervention_kind == "complaint":
        add("complaint", "用户投诉或质疑公司")
    if churn_risk(text):
        add("churn_risk", "号主表达退出或不再合作的意思（流失风险）")
    if mood.label == "negative":
        previous = recent[-1] if recent else None
        negatives = [m for m in recent if m.label == "negative"]
        if previous is not None and previous.label == "positive" and mood.score <= settings.sharp_drop_score:
            add("negative_emotion", "情绪急剧恶化", MAX_LEVEL)
        elif negatives:
            add("negative_emotion", f"情绪持续恶化（{len(negatives) + 1} 条负面消息）")
    if message_type == "chat_private_operation":
        add("private_operation", "号主私自操作（添加商品、删除或发布作品）")
    elif intervention_kind == "low_confidence":
        add("important_question", "重要问题：无法可靠回答，需要人工确认")
    return sorted(found.values(), key=lambda t: -t.level)


def user_cancel_reason(settings: AlertSettings, *, text: str, mood: Mood, streak: int) -> str | None:
    """Why this user message cancels the user's open alerts (§4.3 (2)–(4)), or None.
    `streak` counts this message too (consecutive non-negative messages since the alert)."""
    if withdrawn(text):
        return "用户表示问题已解决或撤回投诉"
    if mood.label == "positive" and mood.score >= settings.positive_cancel_score:
        return "用户情绪转为积极"
    if streak >= settings.positive_streak:
        return f"用户连续 {streak} 条消息情绪正常或积极"
    return None


class Escalatable(Protocol):
    level: int
    status: str
    suppressed: bool
    created_at: datetime
    time_steps_done: int
    unresolved_bumped: bool


Scale = Callable[[float], timedelta]


@dataclass(frozen=True, slots=True)
class Step:
    kind: str  # time | unresolved
    at: datetime
    reason: str


def due_steps(alert: Escalatable, settings: AlertSettings, now: datetime, scale: Scale) -> list[Step]:
    """Time-based escalations due at `now` (§4.2), oldest first."""
    if alert.status not in ACTIVE or alert.suppressed:
        return []
    steps: list[Step] = []
    if alert.status == OPEN:
        for index in range(alert.time_steps_done, len(settings.escalation_steps_seconds)):
            offset = settings.escalation_steps_seconds[index]
            at = alert.created_at + scale(offset)
            if at <= now:
                steps.append(Step("time", at, f"未确认超过 {_minutes(offset)}"))
    if not alert.unresolved_bumped:
        at = alert.created_at + scale(settings.unresolved_seconds)
        if at <= now:
            steps.append(Step("unresolved", at, f"超过 {_minutes(settings.unresolved_seconds)} 未解决"))
    return sorted(steps, key=lambda s: s.at)


def next_check(alert: Escalatable, settings: AlertSettings, scale: Scale) -> datetime | None:
    if alert.status not in ACTIVE or alert.suppressed:
        return None
    moments: list[datetime] = []
    if alert.status == OPEN and alert.time_steps_done < len(settings.escalation_steps_seconds):
        moments.append(alert.created_at + scale(settings.escalation_steps_seconds[alert.time_steps_done]))
    if not alert.unresolved_bumped:
        moments.append(alert.created_at + scale(settings.unresolved_seconds))
    return min(moments) if moments else None


def history_entry(at: datetime, from_level: int, to_level: int, reason: str, by: str) -> dict[str, Any]:
    return {"at": at.isoformat(), "from": from_level, "to": to_level, "reason": reason, "by": by}


def _minutes(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} 小时"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} 分钟"
    return f"{seconds:g} 秒"


__all__ = ["ACKNOWLEDGED", "Mood", "Step", "Trigger", "due_steps", "judge_user_message", "next_check"]
