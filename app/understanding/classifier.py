"""Message-type classification: lexicon rules and the trained model, restricted to the sender's
category, with the optional LLM tier for low-confidence cases (PRODUCT §3.2)."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from app.understanding.lexicon import DEFAULT_RESPONSE_WORDS
from app.understanding.linear import LinearModel
from app.understanding.responses import ANSWER_CONFIDENCE, LABEL_NAMES, answer_probabilities, core_text
from app.understanding.textfeatures import char_ngrams, normalise, shape_tokens
from app.understanding.types import (
    CATEGORY_OF_ROLE,
    OTHER_TYPE,
    TYPES_BY_CATEGORY,
    TYPES_BY_CODE,
    Classification,
    MessageInput,
)

MODEL_DIR = Path(__file__).parent / "model"
# Short answers to an open task take the task's topic (corpus label guide): the task type decides
# between the two task-answer types, which the text alone often cannot.
TASK_FAMILY: dict[str, str | None] = {
    "扫码登录": "chat_after_sales",
    "实名认证": "chat_after_sales",
    "视频号认证": "chat_after_sales",
    "绑定手机": "chat_after_sales",
    "发作品": "chat_cooperation",
    "自拍视频": "chat_cooperation",
    "其他": None,
}
TASK_ANSWER_TYPES = ("chat_after_sales", "chat_cooperation")
SHORT_ANSWER_CHARS = 10
# Characters and character pairs: trigrams fit the training rows' exact wording more than new lines.
TYPE_NGRAMS = (1, 2)
# A question that names an after-sales step and says it went wrong for the asker is about their own
# process (label guide: "it needs doing, it failed, a code expired"), not an abstract inquiry.
AFTER_SALES_STEP = re.compile(
    r"扫码|扫一?下码|二维码|登录|登陆|登不|实名|人脸|刷脸|认证|绑定|换绑|手机号|验证码|掉线|解封"
)
OWN_TROUBLE = re.compile(
    r"失败|不上|不了|不行|过期|掉了|掉线|换了|没收到|收不到|出错|报错|异常|我的号|我这个号|我号|显示|提示|一直"
)
# The topic of a task answer when the task's type is unknown: shooting and posting work, as opposed to
# an AFTER_SALES_STEP ("视频号" is an account, not a video; "码发了吗" asks for a QR code).
COOPERATION_WORK = re.compile(r"拍|剪|视频(?!号)|作品|(?<!码)发了|脚本|镜头|灵感|上镜|口播|直播|[一两三几]条")
QUESTION = re.compile(r"[?？吗呢]\s*$|^(请问|怎么|为什么|咋)")


@dataclass(frozen=True)
class CompiledLexicons:
    words: dict[str, tuple[str, ...]]
    patterns: dict[str, re.Pattern[str]]

    def hits(self, text: str, allowed: tuple[str, ...] | None = None) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        lowered = normalise(text)
        for code, pattern in self.patterns.items():
            if allowed is not None and code not in allowed:
                continue
            matches = pattern.findall(lowered)
            if matches:
                found[code] = sorted(set(matches))
        return found


def compile_lexicons(lexicons: dict[str, list[str]]) -> CompiledLexicons:
    words = {code: tuple(normalise(w) for w in lexicons.get(code, []) if w.strip()) for code in TYPES_BY_CODE}
    patterns = {
        code: re.compile("|".join(re.escape(w) for w in sorted(ws, key=len, reverse=True)))
        for code, ws in words.items()
        if ws
    }
    return CompiledLexicons(words, patterns)


def context_tokens(message: MessageInput, lexicons: CompiledLexicons) -> list[str]:
    if not message.context:
        return ["§ctx_none"]
    last = message.context[-1]
    tokens = [f"§ctx_role:{last.role}"]
    if "@" in last.content:
        tokens.append("§ctx_at")
    if QUESTION.search(last.content.strip()):
        tokens.append("§ctx_question")
    tokens.extend(f"ctxkw:{code}" for code in lexicons.hits(last.content))
    # What the line answers: short acknowledgements take their topic from it (corpus README).
    tokens.extend(f"ctx2:{gram}" for gram in char_ngrams(last.content, (2,)))
    return tokens


def featurise(
    message: MessageInput, lexicons: CompiledLexicons, hits: dict[str, list[str]] | None = None
) -> list[str]:
    category = CATEGORY_OF_ROLE.get(message.sender_role, "user")
    features = char_ngrams(message.text, TYPE_NGRAMS) + shape_tokens(message.text)
    features.append(f"§role:{category}")
    if message.open_task:
        features.append("§open_task")
    if message.media_kind not in ("text", "quote"):
        features.append(f"§media:{message.media_kind}")
    features.extend(f"kw:{code}" for code in (hits if hits is not None else lexicons.hits(message.text)))
    features.extend(context_tokens(message, lexicons))
    return features


@dataclass(frozen=True)
class TypeModel:
    """One model per sender category (user / staff / operator), each with its own vocabulary and
    n-gram weights: a message is only ever compared with the types of its sender's category."""

    by_category: dict[str, LinearModel]

    @staticmethod
    def path(category: str, directory: Path | None = None) -> Path:
        return (directory or MODEL_DIR) / f"types-{category}.npz"

    def probabilities(self, features: list[str], category: str) -> dict[str, float]:
        return self.by_category[category].probabilities(features)

    def save(self, directory: Path | None = None) -> list[Path]:
        (directory or MODEL_DIR).mkdir(parents=True, exist_ok=True)
        for category, model in self.by_category.items():
            model.save(self.path(category, directory))
        return [self.path(category, directory) for category in self.by_category]

    def to_bytes(self) -> bytes:
        """One zip of the per-category model files (a model trained in the console, kept in the database)."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for category, model in self.by_category.items():
                part = io.BytesIO()
                model.save(part)
                archive.writestr(self.path(category).name, part.getvalue())
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, payload: bytes) -> TypeModel:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            return cls(
                {
                    category: LinearModel.load(io.BytesIO(archive.read(cls.path(category).name)))
                    for category in TYPES_BY_CATEGORY
                }
            )

    @classmethod
    def load(cls) -> TypeModel | None:
        paths = {category: cls.path(category) for category in TYPES_BY_CATEGORY}
        if not all(path.exists() for path in paths.values()):
            return None
        return cls({category: LinearModel.load(path) for category, path in paths.items()})


@lru_cache(maxsize=1)
def load_type_model() -> TypeModel | None:
    return TypeModel.load()


def _reason(prefix: str, confidence: float, hits: dict[str, list[str]], chosen: str) -> str:
    words = hits.get(chosen, [])
    keyword_part = f"；关键词：{'、'.join(words[:4])}" if words else ""
    return f"{prefix}（置信度 {confidence:.0%}）{keyword_part}"


def classify(
    message: MessageInput,
    lexicons: CompiledLexicons,
    model: TypeModel | None = None,
    response_words: dict[str, list[str]] | None = None,
) -> Classification:
    category = CATEGORY_OF_ROLE.get(message.sender_role, "user")
    allowed = TYPES_BY_CATEGORY[category]
    if not message.text.strip():
        kind = message.media_kind
        return Classification(OTHER_TYPE[category], 0.5, f"无文字内容（{kind}），按其他处理", "rules")
    model = model if model is not None else load_type_model()
    all_hits = lexicons.hits(message.text)
    hits = {code: words for code, words in all_hits.items() if code in allowed}
    if model is None:
        return _classify_by_rules(category, hits)
    probabilities = model.probabilities(featurise(message, lexicons, all_hits), category)
    chosen = max(probabilities, key=probabilities.__getitem__)
    confidence = probabilities[chosen]
    return (
        _own_after_sales_trouble(message, chosen, probabilities, hits)
        or _answer_to_open_task(message, chosen, probabilities, hits)
        or _answer_to_task(message, chosen, probabilities, hits, response_words or DEFAULT_RESPONSE_WORDS)
        or Classification(
            chosen, round(confidence, 4), _reason("模型判断", confidence, hits, chosen), "model"
        )
    )


def _own_after_sales_trouble(
    message: MessageInput, chosen: str, probabilities: dict[str, float], hits: dict[str, list[str]]
) -> Classification | None:
    if chosen != "chat_inquiry":
        return None
    step, trouble = AFTER_SALES_STEP.search(message.text), OWN_TROUBLE.search(message.text)
    if not (step and trouble):
        return None
    confidence = probabilities["chat_after_sales"] + probabilities[chosen]
    prefix = f"自己的售后步骤出了问题（{step.group(0)}、{trouble.group(0)}）"
    return Classification(
        "chat_after_sales",
        round(confidence, 4),
        _reason(prefix, confidence, hits, "chat_after_sales"),
        "model",
    )


def _answer_to_open_task(
    message: MessageInput, chosen: str, probabilities: dict[str, float], hits: dict[str, list[str]]
) -> Classification | None:
    family = TASK_FAMILY.get(message.open_task_type or "") if message.open_task else None
    if not family or chosen not in TASK_ANSWER_TYPES or chosen == family:
        return None
    if not _is_short_answer(message.text):
        return None
    confidence = probabilities[chosen] + probabilities[family]
    reason = _reason(f"简短回答，跟随进行中的任务（{message.open_task_type}）", confidence, hits, family)
    return Classification(family, round(confidence, 4), reason, "model")


def _answer_to_task(
    message: MessageInput,
    chosen: str,
    probabilities: dict[str, float],
    hits: dict[str, list[str]],
    response_words: dict[str, list[str]],
) -> Classification | None:
    """A user who answers or refuses their open task talks about the task (label guide): the type is
    the task's family, even when the words alone read as small talk ("在的在的 辛苦啦🙏")."""
    if not message.open_task or chosen == "chat_complaint" or message.sender_role != "user":
        return None
    answer = answer_probabilities(message.text, message.context, response_words)
    if answer is None:
        return None
    label = max(answer, key=answer.__getitem__)
    if label == "none" or (chosen not in TASK_ANSWER_TYPES and answer[label] < ANSWER_CONFIDENCE):
        return None
    family = task_topic(message) or (chosen if chosen in TASK_ANSWER_TYPES else "chat_after_sales")
    if family == chosen:
        return None
    confidence = answer[label]
    reason = _reason(f"回应进行中的任务（{LABEL_NAMES[label]}），类型跟随任务", confidence, hits, family)
    return Classification(family, round(confidence, 4), reason, "model")


def task_topic(message: MessageInput) -> str | None:
    """The open task's family: from its type, else the last staff / operator line that names a step
    or a piece of work, else the answer's own words."""
    known = TASK_FAMILY.get(message.open_task_type or "")
    if known:
        return known
    for line in reversed(message.context):
        if line.role != "user" and (topic := _topic_of(line.content)):
            return topic
    return _topic_of(message.text)


def _topic_of(text: str) -> str | None:
    step, work = AFTER_SALES_STEP.search(text), COOPERATION_WORK.search(text)
    if step and work:
        return "chat_after_sales" if step.start() < work.start() else "chat_cooperation"
    return "chat_after_sales" if step else "chat_cooperation" if work else None


def _is_short_answer(text: str) -> bool:
    return len(core_text(text)) <= SHORT_ANSWER_CHARS


def _classify_by_rules(category: str, hits: dict[str, list[str]]) -> Classification:
    if not hits:
        return Classification(OTHER_TYPE[category], 0.3, "未命中任何关键词", "rules")
    chosen = max(hits, key=lambda code: (len(hits[code]), -TYPES_BY_CODE[code].priority))
    confidence = 0.75 if len(hits) == 1 else 0.55
    return Classification(chosen, confidence, _reason("关键词规则", confidence, hits, chosen), "rules")
