"""Staff intervention (工作人员介入, PRODUCT §3.5): should staff step in for this message?

The rules apply in order; the first that matches wins (corpus/README.md documents them):
conflict → complaint → after-sales wait → low confidence → none. Staff messages never need it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.understanding.types import Classification, ContextLine, Sentiment

DISTRUST = re.compile(
    r"骗|割韭菜|维权|律师|别往里投|别投钱|跑路|坑|传销|身份证.{0,8}(出事|乱用|被用)|曝光|举报"
)
OWN_AFFAIRS = re.compile(
    r"(我|我的|俺).{0,12}(结算|钱|收益|提现|到账|打款|分成|工资|合同|解约|违约|限流|封号|账号|号被|扣|异常|违规)"
)


@dataclass(frozen=True, slots=True)
class InterventionNeed:
    needed: bool
    kind: str | None = None  # conflict | complaint | after_sales_wait | low_confidence
    reason: str = ""
    priority: int = 0  # 1 = most urgent
    suggestion: str = ""


NONE = InterventionNeed(False)
CONFLICT_OPERATOR = InterventionNeed(
    True, "conflict", "运营语气强硬，可能伤害号主配合度", 1, "由工作人员发送调和消息并关注号主情绪"
)
CONFLICT_USER = InterventionNeed(
    True, "conflict", "号主对运营的安排表达不满", 1, "发送调和消息并通知工作人员"
)
COMPLAINT = InterventionNeed(
    True, "complaint", "用户投诉或散布不信任，机器人不宜单独处理", 1, "由工作人员安抚并跟进问题"
)
AFTER_SALES_WAIT = InterventionNeed(
    True, "after_sales_wait", "用户已回应售后任务，等待工作人员处理", 2, "通知负责的售后人员尽快跟进"
)
LOW_CONFIDENCE = InterventionNeed(
    True, "low_confidence", "涉及用户自己的账号、收益或私自操作，需要人工确认", 3, "请工作人员查看并回复"
)


def judge(
    sender_role: str,
    classification: Classification,
    sentiment: Sentiment,
    response: str,
    context: tuple[ContextLine, ...],
    open_task: bool = False,
    text: str = "",
) -> InterventionNeed:
    kind = classification.type
    if sender_role == "operator":
        return CONFLICT_OPERATOR if kind == "operator_tone_hard" else NONE
    if sender_role != "user":
        return NONE
    if sentiment.label == "negative" and any(line.role == "operator" for line in context):
        return CONFLICT_USER
    if kind == "chat_complaint" or (kind == "chat_complain_discuss" and DISTRUST.search(text)):
        return COMPLAINT
    if open_task and (
        response in ("response", "refusal") or kind in ("chat_after_sales", "chat_cooperation")
    ):
        return AFTER_SALES_WAIT
    if kind == "chat_private_operation" or (kind == "chat_inquiry" and OWN_AFFAIRS.search(text)):
        return LOW_CONFIDENCE
    return NONE
