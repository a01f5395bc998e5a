"""Staff intervention (工作人员介入, PRODUCT §3.5): should staff step in for this message?

The rules apply in order; the first that matches wins (corpus/README.md documents them):
conflict → complaint → after-sales wait → low confidence → none. Staff messages never need it.

Two sub-decisions are not keyword-shaped, so a small trained model (``model/intervention.npz``, two
binary heads over character n-grams, trained on the corpus TRAIN split by
``training/train_intervention.py``) makes them, with the regexes below as one of its features and as
the fall-back when no model is shipped:
- is a ``chat_inquiry`` about the user's **own** money / contract / account (→ low_confidence)?
- does a ``chat_complain_discuss`` line spread distrust or rally others (→ complaint)?
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from app.understanding.linear import LinearModel
from app.understanding.textfeatures import char_ngrams, shape_tokens
from app.understanding.types import Classification, ContextLine, Sentiment

DISTRUST = re.compile(
    r"骗|割韭菜|维权|律师|别往里投|别投钱|跑路|坑|传销|身份证.{0,8}(出事|乱用|被用)|曝光|举报"
)
OWN_AFFAIRS = re.compile(
    r"(我|我的|俺).{0,12}(结算|钱|收益|提现|到账|打款|分成|工资|合同|解约|违约|限流|封号|账号|号被|扣|异常|违规)"
)

MODEL_PATH = Path(__file__).parent / "model" / "intervention.npz"
# head name → (regex that is also a feature, threshold on the head's "yes" probability, regex alone suffices)
HEADS = {"own": (OWN_AFFAIRS, 0.5, False), "distrust": (DISTRUST, 0.3, True)}
HEAD_CLASSES = {head: (f"{head}:no", f"{head}:yes") for head in HEADS}


def head_features(head: str, text: str) -> list[str]:
    features = char_ngrams(text) + shape_tokens(text)
    if HEADS[head][0].search(text):
        features.append(f"§rx:{head}")
    return features


@lru_cache(maxsize=1)
def load_intervention_model() -> LinearModel | None:
    return LinearModel.load(MODEL_PATH) if MODEL_PATH.exists() else None


def head_says(head: str, text: str) -> bool:
    """The trained head's decision (``regex`` alone when no model is shipped)."""
    pattern, threshold, regex_suffices = HEADS[head]
    matched = bool(pattern.search(text))
    model = load_intervention_model()
    if model is None:
        return matched
    if matched and regex_suffices:
        return True
    return model.probabilities(head_features(head, text), HEAD_CLASSES[head])[f"{head}:yes"] > threshold


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
    if kind == "chat_complaint" or (kind == "chat_complain_discuss" and head_says("distrust", text)):
        return COMPLAINT
    if open_task and (
        response in ("response", "refusal") or kind in ("chat_after_sales", "chat_cooperation")
    ):
        return AFTER_SALES_WAIT
    if kind == "chat_private_operation" or (kind == "chat_inquiry" and head_says("own", text)):
        return LOW_CONFIDENCE
    return NONE
