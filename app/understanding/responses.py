"""After-sales response detection (节点 2.5): did a user with an open task answer or refuse?

A small trained model decides between response / refusal / none; the editable response and
refusal words are among its features and are the fall-back when no model is shipped. When the model
is unsure and the message's type says it is about something else (small talk, a question, peer talk),
the message is not an answer to the task: both models have to agree before an unsure line counts.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from app.understanding.linear import LinearModel
from app.understanding.textfeatures import EMOJI, char_ngrams, normalise, shape_tokens
from app.understanding.types import TYPES_BY_CODE, ContextLine

MODEL_PATH = Path(__file__).parent / "model" / "responses.npz"
FILLERS = re.compile(r"[\s,，.。!！?？~～…、:：;；\"'“”‘’()（）【】\[\]啊呀呢哈哦嘛吧啦噢喔哟滴]+")
MAX_RESPONSE_CHARS = 10
# Fixed cues (not the editable word lists): hesitation / unwillingness (§3.4 "vague deferral … with no
# commitment"), negation, and asking something instead of answering.
REFUSAL_CUES = re.compile(
    r"不方便|弄不了|搞不了|没时间|懒得|不想|考虑|再说|想想|再看|不在身边|问问|改天|过两天|下次|算了|不弄|不搞"
    r"|不扫|不拍|别烦|没空|不行|不了"
)
NEGATION = re.compile(r"[不没别]")
ASKING = re.compile(r"[?？吗]|怎么|咋|啥|什么|哪")
LABEL_NAMES = {"response": "响应", "refusal": "拒绝", "none": "非响应"}
# From this probability on, a response / refusal stands whatever the message's type; below it, the
# type must be one an answer to a task can have (5-fold CV on train, extra rows near each fold left
# out: 219 → 224 of the 234 open-task rows right; 0.7 gives 221, 0.9 gives 225).
ANSWER_CONFIDENCE = 0.8
ANSWER_TYPES = ("chat_after_sales", "chat_cooperation", "chat_complaint")


@lru_cache(maxsize=4096)
def core_text(text: str) -> str:
    """The words left after emoji, punctuation and 语气词 are removed."""
    return FILLERS.sub("", EMOJI.sub("", normalise(text)))


def response_features(text: str, context: tuple[ContextLine, ...], words: dict[str, list[str]]) -> list[str]:
    core = core_text(text)
    features = char_ngrams(text) + shape_tokens(text) + [f"§core_len{min(len(core), 12)}"]
    lowered = normalise(text)
    for kind in ("response", "refusal"):
        for word in words.get(kind, []):
            w = core_text(word)
            if w and w in lowered:
                features.append(f"rw:{kind}")
                if core.startswith(w):
                    features.append(f"rw_start:{kind}")
                if core == w:
                    features.append(f"rw_exact:{kind}")
    if REFUSAL_CUES.search(text):
        features.append("§refuse_cue")
    if NEGATION.search(text):
        features.append("§neg")
    if ASKING.search(text):
        features.append("§ask")
    if context:
        features.append(f"§ctx_role:{context[-1].role}")
        if "@" in context[-1].content:
            features.append("§ctx_at")
        # The task line being answered: tells task answers from unrelated chat.
        features.extend(f"ctx2:{gram}" for gram in char_ngrams(context[-1].content, (2,)))
    return features


@lru_cache(maxsize=1)
def load_response_model() -> LinearModel | None:
    return LinearModel.load(MODEL_PATH) if MODEL_PATH.exists() else None


def answer_probabilities(
    text: str, context: tuple[ContextLine, ...], words: dict[str, list[str]]
) -> dict[str, float] | None:
    """response / refusal / none → probability from the shipped model; None without a model.
    The type and response nodes both ask about the same message: the last answer is kept."""
    global _last_answer
    model = load_response_model()
    if model is None:
        return None
    key = (text, context)
    last = _last_answer
    if last is not None and last[0] == key and last[1] is words and last[2] is model:
        return last[3]
    probabilities = model.probabilities(response_features(text, context, words))
    _last_answer = (key, words, model, probabilities)
    return probabilities


_last_answer: tuple[tuple[str, tuple[ContextLine, ...]], object, object, dict[str, float]] | None = None


def detect_response(
    text: str,
    open_task: bool,
    words: dict[str, list[str]],
    context: tuple[ContextLine, ...] = (),
    message_type: str | None = None,
) -> tuple[str, str]:
    """→ (response | refusal | none, reason). ``message_type``: the message's type when known."""
    if not open_task:
        return "none", "无进行中的售后任务"
    if not core_text(text) and not EMOJI.search(text):
        return "none", "没有文字内容"
    probabilities = answer_probabilities(text, context, words)
    if probabilities is None:
        return _by_words(text, words)
    label = max(probabilities, key=probabilities.__getitem__)
    reason = f"模型判断：{LABEL_NAMES[label]}（{probabilities[label]:.0%}）"
    if (
        label != "none"
        and probabilities[label] < ANSWER_CONFIDENCE
        and message_type in TYPES_BY_CODE
        and message_type not in ANSWER_TYPES
    ):
        return "none", f"{reason}不够确定，且消息类型为{TYPES_BY_CODE[message_type].name}，不算回应任务"
    return label, reason


def _by_words(text: str, words: dict[str, list[str]]) -> tuple[str, str]:
    lowered = normalise(text)
    for word in words.get("refusal", []):
        if word and normalise(word) in lowered:
            return "refusal", f"拒绝配合：「{word}」"
    core = core_text(text)
    for word in sorted(words.get("response", []), key=len, reverse=True):
        w = core_text(word)
        if w and core.startswith(w) and len(core) <= MAX_RESPONSE_CHARS:
            return "response", f"响应：「{word}」"
    return "none", "既非响应也非拒绝"
