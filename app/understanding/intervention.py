"""Staff intervention (工作人员介入, PRODUCT §3.5): should staff step in for this user message?"""

from __future__ import annotations

from dataclasses import dataclass

from app.understanding.types import Classification, ContextLine, Sentiment

LOW_CONFIDENCE = 0.5
STRONG_NEGATIVE = -0.6
HARSH_OPERATOR_WORDS = ("必须", "赶紧", "再不", "否则", "听不懂", "搞快点", "废物", "不想干", "怎么回事")


@dataclass(frozen=True, slots=True)
class InterventionNeed:
    needed: bool
    kind: str | None = None  # complaint | low_confidence | conflict | after_sales_wait
    reason: str = ""
    priority: int = 0  # 1 = most urgent
    suggestion: str = ""


NONE = InterventionNeed(False)


def operator_was_harsh(context: tuple[ContextLine, ...]) -> bool:
    return any(
        line.role == "operator" and any(w in line.content for w in HARSH_OPERATOR_WORDS) for line in context
    )


def judge(
    sender_role: str,
    classification: Classification,
    sentiment: Sentiment,
    response: str,
    context: tuple[ContextLine, ...],
) -> InterventionNeed:
    if sender_role != "user":
        return NONE
    if sentiment.label == "negative" and operator_was_harsh(context):
        return InterventionNeed(
            True, "conflict", "运营语气强硬且用户情绪负面", 1, "发送调和消息并通知工作人员"
        )
    if response == "response":
        return InterventionNeed(
            True, "after_sales_wait", "用户已响应售后任务，等待工作人员处理", 2, "通知负责的售后人员尽快跟进"
        )
    if classification.type == "chat_complaint" or sentiment.score <= STRONG_NEGATIVE:
        return InterventionNeed(
            True, "complaint", "用户投诉或情绪明显负面，机器人不宜单独处理", 1, "由工作人员安抚并跟进问题"
        )
    if (
        classification.type in ("chat_inquiry", "chat_after_sales")
        and classification.confidence < LOW_CONFIDENCE
    ):
        return InterventionNeed(
            True, "low_confidence", "问题识别置信度低，需要人工确认", 3, "请工作人员查看并回复"
        )
    return NONE
