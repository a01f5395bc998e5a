"""Flow nodes of message understanding: type, sentiment, after-sales response, intervention."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import msgspec
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from app.chat.models import Message
from app.flows.registry import FlowNode, NodeContext, NodeResult, register_node
from app.understanding.classifier import classify, compile_lexicons
from app.understanding.context import batch_context, message_input
from app.understanding.intervention import judge
from app.understanding.lexicon import load_lexicons, load_response_words
from app.understanding.responses import detect_response
from app.understanding.retrain import active_type_model
from app.understanding.sentiment_gateway import analyse_sentiment
from app.understanding.types import Classification, Sentiment

WAITING_TYPES = ("chat_inquiry", "chat_after_sales", "chat_complaint", "chat_private_operation")


class ClassifyConfig(msgspec.Struct, frozen=True):
    llm_below: float = 0.6  # ask the LLM tier (when configured) below this confidence


@register_node
class ClassifyMessageNode(FlowNode):
    type_name = "classify_message"
    title = "识别消息类型"
    Config = ClassifyConfig

    async def run(self, ctx: NodeContext) -> NodeResult:
        if "lexicons" not in ctx.batch:
            ctx.batch["lexicons"] = compile_lexicons(await load_lexicons(ctx.session))
        if "response_words" not in ctx.batch:
            ctx.batch["response_words"] = await load_response_words(ctx.session)
        if "type_model" not in ctx.batch:
            ctx.batch["type_model"] = await active_type_model(ctx.session)
        model, model_label = ctx.batch["type_model"]
        context = await batch_context(ctx.session, ctx.message, ctx.batch.setdefault("context", {}))
        task = ctx.data.get("open_task")
        item = message_input(ctx.message, context, bool(task), getattr(task, "task_type", None))
        ctx.data["input"] = item
        result = classify(item, ctx.batch["lexicons"], model, response_words=ctx.batch["response_words"])
        result = await self._ask_llm_if_unsure(item, result)
        ctx.data["classification"] = result
        m = ctx.message
        m.message_type, m.type_confidence = result.type, result.confidence
        m.type_reason, m.type_tier = result.reason[:300], result.tier
        return NodeResult(
            branch=result.category,
            output={
                "type": result.type,
                "confidence": result.confidence,
                "tier": result.tier,
                "model": model_label,
                "reason": result.reason,
                "notes": list(result.notes),
            },
        )

    async def _ask_llm_if_unsure(self, item: object, result: Classification) -> Classification:
        from app.understanding.llm_gateway import llm_tier

        tier = llm_tier()
        if tier is None or result.confidence >= self.config.llm_below:  # type: ignore[attr-defined]
            return result
        answer, note = await tier.classify(item)
        if answer is not None:
            return answer
        return dataclasses.replace(result, notes=(*result.notes, f"LLM 未采用：{note}"))


@register_node
class AnalyseSentimentNode(FlowNode):
    type_name = "analyse_sentiment"
    title = "情绪分析"

    async def run(self, ctx: NodeContext) -> NodeResult:
        m = ctx.message
        sentiment = analyse_sentiment(m.text or "", m.sender_role or "user")
        ctx.data["sentiment"] = sentiment
        m.sentiment_label, m.sentiment_score = sentiment.label, round(sentiment.score, 4)
        return NodeResult(
            branch=sentiment.label,
            output={"label": sentiment.label, "score": m.sentiment_score, "reason": sentiment.reason},
        )


@register_node
class DetectAfterSalesResponseNode(FlowNode):
    type_name = "detect_after_sales_response"
    title = "售后响应检测"

    async def run(self, ctx: NodeContext) -> NodeResult:
        if "response_words" not in ctx.batch:
            ctx.batch["response_words"] = await load_response_words(ctx.session)
        m = ctx.message
        open_task = bool(ctx.data.get("open_task")) and m.sender_role == "user"
        item = ctx.data.get("input")
        context = item.context if item is not None else ()
        label, reason = detect_response(
            m.text or "", open_task, ctx.batch["response_words"], context, m.message_type
        )
        m.after_sales_response = label
        ctx.data["after_sales_response"] = label
        return NodeResult(branch=label, output={"result": label, "reason": reason, "open_task": open_task})


class InterventionConfig(msgspec.Struct, frozen=True):
    waiting_window_seconds: int = 1800  # a user message counts as waiting for this long


@register_node
class JudgeInterventionNode(FlowNode):
    """Users: should staff step in? Staff and operators: did they just step in (§3.5)?"""

    type_name = "judge_intervention"
    title = "工作人员介入判断"
    Config = InterventionConfig

    async def run(self, ctx: NodeContext) -> NodeResult:
        m = ctx.message
        if m.sender_role == "staff" or (
            m.sender_role == "operator" and m.message_type != "operator_tone_hard"
        ):
            return await self._staff_intervened(ctx)
        classification = ctx.data.get("classification")
        sentiment = ctx.data.get("sentiment") or Sentiment("neutral", 0.0)
        if classification is None:
            return NodeResult(output={"needed": False})
        item = ctx.data.get("input")
        need = judge(
            m.sender_role or "user",
            classification,
            sentiment,
            ctx.data.get("after_sales_response", "none"),
            item.context if item else (),
            bool(ctx.data.get("open_task")),
            m.text or "",
        )
        m.intervention_needed = need.needed
        m.intervention_kind = need.kind
        m.intervention_reason = need.reason or None
        ctx.data["intervention"] = need
        return NodeResult(
            branch="needed" if need.needed else "default",
            output={
                "needed": need.needed,
                "kind": need.kind,
                "reason": need.reason,
                "priority": need.priority,
                "suggestion": need.suggestion,
            },
        )

    async def _staff_intervened(self, ctx: NodeContext) -> NodeResult:
        m = ctx.message
        window = timedelta(seconds=self.config.waiting_window_seconds)  # type: ignore[attr-defined]
        scope = (Message.session_id == m.session_id) if m.is_private else (Message.group_id == m.group_id)
        earlier = aliased(Message)
        earlier_scope = (
            (earlier.session_id == m.session_id) if m.is_private else (earlier.group_id == m.group_id)
        )
        last_staff = (
            select(func.coalesce(func.max(earlier.id), 0))
            .where(earlier_scope, earlier.id < m.id, earlier.sender_role.in_(("staff", "operator")))
            .scalar_subquery()
        )
        waiting = (
            await ctx.session.execute(
                select(Message.sender_name, Message.message_type)
                .where(
                    scope,
                    Message.id < m.id,
                    Message.id > last_staff,
                    Message.sender_role == "user",
                    Message.received_at >= m.received_at - window,
                    (Message.intervention_needed.is_(True)) | (Message.message_type.in_(WAITING_TYPES)),
                )
                .order_by(Message.id.desc())
                .limit(5)
            )
        ).all()
        if not waiting:
            return NodeResult(output={"intervened": False})
        names = sorted({name for name, _ in waiting})
        addressed = [n for n in names if f"@{n}" in (m.text or "")] or names
        m.is_staff_intervention = True
        m.intervention_reason = f"工作人员已介入：回应 {'、'.join(addressed[:3])} 的消息"
        ctx.data["staff_intervened_for"] = addressed
        return NodeResult(branch="intervened", output={"intervened": True, "users": addressed})
