"""Flow node: judge whether a processed message raises, raises again or cancels an alert."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from app import clock
from app.alerts import config, rules, service
from app.alerts.models import Alert
from app.chat.models import Message
from app.commands.aftercommit import after_commit
from app.flows.registry import FlowNode, NodeContext, NodeResult, register_node
from app.jobs import enqueue
from app.replies.selection import current_shift

MENTION = re.compile(r"@([^\s@，,：:]{1,40})")
STAFF_REPLY_TYPES = frozenset({"staff_reply_user", "staff_ask_user", "staff_at_user"})
EMOTION_TYPES = frozenset({"complaint", "negative_emotion", "operator_conflict", "churn_risk"})
RECENT_LIMIT = 5


async def recent_moods(ctx: NodeContext, window_seconds: float) -> list[rules.Mood]:
    """The sender's earlier moods in this group (or private session), oldest first."""
    m = ctx.message
    scope = (Message.session_id == m.session_id) if m.is_private else (Message.group_id == m.group_id)
    since = m.received_at - clock.scaled(window_seconds)
    rows = (
        await ctx.session.execute(
            select(Message.sentiment_label, Message.sentiment_score)
            .where(
                scope,
                Message.sender_name == m.sender_name,
                Message.id < m.id,
                Message.received_at >= since,
                Message.sentiment_label.is_not(None),
            )
            .order_by(Message.id.desc())
            .limit(RECENT_LIMIT)
        )
    ).all()
    return [rules.Mood(label or "neutral", score or 0.0) for label, score in reversed(rows)]


@register_node
class JudgeAlert(FlowNode):
    type_name = "judge_alert"
    title = "告警判断"

    async def run(self, ctx: NodeContext) -> NodeResult:
        m = ctx.message
        role = m.sender_role or "user"
        if role in ("staff", "operator") and m.message_type != "operator_tone_hard":
            return await self._staff(ctx)
        if role != "user":
            return NodeResult(output={"skipped": role})
        return await self._user(ctx)

    async def _staff(self, ctx: NodeContext) -> NodeResult:
        """§4.3 (1): a staff member stepped in for these users."""
        m = ctx.message
        # Whom the staff member addressed: the @-mentioned users, else those the message answers.
        users: set[str] = set(MENTION.findall(m.text or "")) or set(
            ctx.data.get("staff_intervened_for") or []
        )
        everyone = not users and (m.message_type in STAFF_REPLY_TYPES or m.is_staff_intervention)
        if not users and not everyone:
            return NodeResult(output={"cancelled": []})
        if not await service.users_with_active_alerts(ctx.session, m.group_id):
            return NodeResult(output={"cancelled": []})  # nothing open in this group
        who = m.sender_name
        cancelled = await service.cancel_user_alerts(
            ctx.session,
            group_id=m.group_id,
            user_names=None if everyone else sorted(users),
            types=rules.STAFF_CANCELS,
            reason=f"工作人员「{who}」已介入处理",
            now=ctx.now,
        )
        return NodeResult(
            branch="cancelled" if cancelled else "default", output={"cancelled": [a.id for a in cancelled]}
        )

    async def _user(self, ctx: NodeContext) -> NodeResult:
        m = ctx.message
        settings = await config.load(ctx.session)
        mood = rules.Mood(m.sentiment_label or "neutral", m.sentiment_score or 0.0)
        text = m.text or m.raw_text or ""
        output: dict[str, Any] = {"raised": [], "cancelled": [], "worsened": []}
        active: list[Alert] = []
        if m.sender_name in await service.users_with_active_alerts(ctx.session, m.group_id):
            active = await service.active_alerts(ctx.session, m.group_id, [m.sender_name], rules.USER_CANCELS)
        # Cancellation first (§4.3 (2)–(4)): the user's mood or words.
        if active:
            for alert in active:
                alert.positive_streak = 0 if mood.label == "negative" else alert.positive_streak + 1
                alert.last_sentiment_score = mood.score
            streak = max(a.positive_streak for a in active)
            reason = rules.user_cancel_reason(settings, text=text, mood=mood, streak=streak)
            if reason:
                for alert in active:
                    service.cancel_now(ctx.session, alert, reason, service.SYSTEM, ctx.now)
                output["cancelled"] = [a.id for a in active]
                return NodeResult(branch="cancelled", output=output)
        # Only a negative message can be "worse" than the ones before it.
        recent = (
            await recent_moods(ctx, settings.worsening_window_seconds) if mood.label == "negative" else []
        )
        triggers = rules.judge_user_message(
            settings,
            message_type=m.message_type,
            mood=mood,
            intervention_kind=m.intervention_kind,
            text=text,
            recent=recent,
        )
        open_emotion = [a for a in active if a.alert_type in EMOTION_TYPES]
        if mood.label == "negative" and open_emotion:
            # Worsening again while an emotion alert is open raises that alert (§4.2), not a new one.
            triggers = [t for t in triggers if t.alert_type != "negative_emotion"]
        raised: list[Alert] = []
        for trigger in triggers:
            alert = await service.raise_alert(
                ctx.session,
                alert_type=trigger.alert_type,
                group_id=m.group_id,
                user_name=m.sender_name,
                reason=trigger.reason,
                level=trigger.level,
                message_id=m.id,
                now=ctx.now,
            )
            raised.append(alert)
        if mood.label == "negative":
            touched = {a.id for a in raised}
            for alert in open_emotion:
                if alert.id not in touched and await service.worsen(
                    ctx.session, alert, "情绪再次恶化", ctx.now
                ):
                    output["worsened"].append(alert.id)
        output["raised"] = [{"id": a.id, "type": a.alert_type, "level": a.level} for a in raised]
        if m.message_type in rules.QUESTION_TYPES and not raised and not active:
            self._watch_unanswered(ctx, settings)  # a user already on alert is being looked after
        branch = "raised" if raised or output["worsened"] else "default"
        return NodeResult(branch=branch, output=output)

    def _watch_unanswered(self, ctx: NodeContext, settings: config.AlertSettings) -> None:
        """§4.1: a question nobody answers for long raises an `unanswered` alert (checked by a job)."""
        m = ctx.message
        seconds = (
            settings.unanswered_day_seconds
            if current_shift(ctx.now) == "day"
            else settings.unanswered_night_seconds
        )
        due = m.received_at + clock.scaled(seconds)
        message_id = m.id

        async def schedule() -> None:
            wait = (due - clock.now()).total_seconds()
            await enqueue("check_unanswered", message_id=message_id, defer_by=max(wait, 0.0) or None)

        after_commit(ctx.session, schedule)
        ctx.data["unanswered_check_at"] = due
