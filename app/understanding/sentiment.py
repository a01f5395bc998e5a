"""Sentiment of a chat message: negative / neutral / positive with a score in −1…+1.

The shipped weight file (``model/sentiment.npz``) holds, over one character n-gram vocabulary:
- a binary *review* head, trained on public Chinese review data (polarity vocabulary);
- a 3-class *chat* head, trained on the TRAIN split of the project's labelled chat corpus;
- a small *stacker* (in the metadata) that weighs the two heads and the chat-style rules of
  ``sentiment_rules`` (emoji, sarcasm, negation, laughter, questions …), fitted on out-of-fold
  predictions of the corpus train split.
Decisive rules (bare acknowledgements, sarcasm, emoji-only lines) have the last word.
Only NumPy is needed at run time; the model is loaded once, lazily.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.understanding.linear import LinearModel
from app.understanding.sentiment_rules import RULE_KEYS, RuleHits, apply_rules
from app.understanding.textfeatures import char_ngrams, shape_tokens
from app.understanding.types import Sentiment

MODEL_PATH = Path(__file__).resolve().parent / "model" / "sentiment.npz"
REVIEW_CLASSES = ("review:negative", "review:positive")
CHAT_CLASSES = ("chat:negative", "chat:neutral", "chat:positive")
LABELS = ("negative", "neutral", "positive")
LABEL_ZH = {"negative": "负面", "neutral": "中性", "positive": "正面"}
ROLES = ("user", "staff", "operator", "robot")
STACK_INPUTS = ("chat:negative", "chat:neutral", "chat:positive", "review", "rules", *RULE_KEYS)
_RULE_SLOT = {f"§r:{key}": 5 + i for i, key in enumerate(RULE_KEYS)}
REVIEW_NEUTRAL_BAND = 0.3  # without a chat head: |polarity| below this is neutral
REVIEW_CLIP = 8.0
EMPHASIS_NEUTRAL_PENALTY = 0.5  # neutral-logit penalty for ！！！ / ？？？ (intensity 1.3)
NEUTRAL_LEAN = 0.15  # weight of the binary polarity in the score of a neutral line
RULES_FULL_LENGTH = 20  # characters: rules count fully in polarity() up to this length, then fade
LONG_TEXT = (20, 80)  # characters: from the first, the review head's direction blends in; full at the second


def features(text: str, sender_role: str = "user", hits: RuleHits | None = None) -> list[str]:
    """Model input: character 1–3-grams, line shape, sender role and the chat rules that fired."""
    if hits is None:
        hits = apply_rules(text.lower())
    role = sender_role if sender_role in ROLES else "user"
    return [*char_ngrams(hits.masked or text), *shape_tokens(text), f"§role:{role}", *hits.tokens]


def stack_inputs(review: float, chat: np.ndarray, hits: RuleHits) -> np.ndarray:
    """Stacker input vector, in the order of ``STACK_INPUTS``."""
    x = np.zeros(len(STACK_INPUTS))
    x[:3] = chat - (chat[0] + chat[1] + chat[2]) / 3
    x[3] = max(-REVIEW_CLIP, min(REVIEW_CLIP, review))
    x[4] = hits.delta
    for token in hits.tokens:
        x[_RULE_SLOT[token]] = 1.0
    return x


@dataclass(frozen=True)
class Stacker:
    weights: np.ndarray  # (3, len(STACK_INPUTS))
    bias: np.ndarray  # (3,)
    rule_prior: float = 0.0  # fixed (not fitted) weight of the hand-set rule polarity, on top of the fit
    long_text: tuple[int, int] = LONG_TEXT

    def long_text_gate(self, length: int) -> float:
        """0 for chat-length lines … 1 for review-length texts."""
        start, end = self.long_text
        return min(1.0, max(0.0, (length - start) / (end - start)))

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Stacker:
        """Align stored weights to the current inputs by name (an unknown input gets weight 0)."""
        column = {name: i for i, name in enumerate(meta["inputs"])}
        stored = np.asarray(meta["weights"], dtype=np.float64)
        weights = np.zeros((len(LABELS), len(STACK_INPUTS)))
        for j, name in enumerate(STACK_INPUTS):
            if name in column:
                weights[:, j] = stored[:, column[name]]
        bias = np.asarray(meta["bias"], dtype=np.float64) + np.array(
            [0.0, meta.get("neutral_bias", 0.0), 0.0]
        )
        start, end = meta.get("long_text", LONG_TEXT)
        return cls(weights, bias, float(meta.get("rule_prior", 0.0)), (int(start), int(end)))

    def probabilities(self, x: np.ndarray, intensity: float = 1.0) -> np.ndarray:
        """Class probabilities; ``intensity`` > 1 (！！！, ？？？) lowers the neutral logit."""
        # Three classes: plain floats are several times faster than NumPy on arrays this small.
        negative, neutral, positive = (self.weights @ x + self.bias).tolist()
        rules = self.rule_prior * float(x[4])
        negative, positive = negative - rules, positive + rules
        if intensity != 1.0:  # emphatic punctuation: emotional, so less likely neutral
            neutral -= EMPHASIS_NEUTRAL_PENALTY * (intensity - 1.0) / 0.3
        top = max(negative, neutral, positive)
        shifted = (math.exp(negative - top), math.exp(neutral - top), math.exp(positive - top))
        total = sum(shifted)
        return np.array([value / total for value in shifted])


@dataclass
class SentimentModel:
    linear: LinearModel
    review_cols: list[int]
    chat_cols: list[int]
    stacker: Stacker | None

    @classmethod
    def from_linear(cls, linear: LinearModel) -> SentimentModel:
        index = {c: i for i, c in enumerate(linear.classes)}
        chat = [index[c] for c in CHAT_CLASSES] if all(c in index for c in CHAT_CLASSES) else []
        stacker = Stacker.from_meta(linear.meta["stacker"]) if chat and "stacker" in linear.meta else None
        return cls(linear, [index[c] for c in REVIEW_CLASSES], chat, stacker)

    @property
    def meta(self) -> dict[str, Any]:
        return self.linear.meta

    def scores(self, feats: list[str]) -> np.ndarray:
        """``LinearModel.scores`` (same arithmetic) with one C-level dict probe per feature."""
        linear = self.linear
        found = set(map(linear.vocabulary.get, feats))
        found.discard(None)
        if not found:
            return linear.bias.copy()
        rows = np.fromiter(found, dtype=np.intp, count=len(found))
        return linear.weights[rows].sum(axis=0) / math.sqrt(len(found)) + linear.bias

    def raw(self, feats: list[str]) -> tuple[float, np.ndarray | None]:
        """Review logit (positive minus negative) and the chat head's three logits, if any."""
        scores = self.scores(feats)
        neg, pos = self.review_cols
        review = float(scores[pos] - scores[neg])
        return review, (scores[self.chat_cols].astype(np.float64) if self.chat_cols else None)


def _load_linear(path: Path) -> LinearModel:
    """``LinearModel.load`` for a fixed-width string vocabulary (``tolist`` is several times faster)."""
    with np.load(path, allow_pickle=False) as data:
        vocab: list[str] = data["vocabulary"].tolist()
        return LinearModel(
            classes=data["classes"].tolist(),
            vocabulary=dict(zip(vocab, range(len(vocab)), strict=True)),
            weights=np.asarray(data["weights"], dtype=np.float32),
            bias=np.asarray(data["bias"], dtype=np.float32),
            meta=json.loads(str(data["meta"])),
        )


_model: SentimentModel | None = None
_lock = threading.Lock()


def load_model(path: Path | None = None) -> SentimentModel:
    """The shipped model, loaded on first use and cached (an explicit path bypasses the cache)."""
    global _model
    if path is not None:
        return SentimentModel.from_linear(_load_linear(path))
    if _model is None:
        with _lock:
            if _model is None:
                if not MODEL_PATH.exists():
                    raise FileNotFoundError(
                        f"{MODEL_PATH} is missing: run `python -m app.understanding.training.train_sentiment`"
                    )
                _model = SentimentModel.from_linear(_load_linear(MODEL_PATH))
    return _model


def polarity(review: float, hits: RuleHits, length: int, trust: float = 1.0) -> float:
    """Binary polarity in −1…+1: the review head (scaled by ``trust``) plus the rules, which were made
    for short chat lines and so count for less in long texts."""
    rules = hits.delta * min(1.0, RULES_FULL_LENGTH / max(length, 1))
    return max(-1.0, min(1.0, (math.tanh(review / 2) * trust + rules) * hits.intensity))


def _review_only(review: float, hits: RuleHits, length: int) -> tuple[str, float, float]:
    """Without a chat head: review evidence, trusted less on short lines, plus the rules."""
    value = polarity(review, hits, length, min(1.0, length / 40))
    if abs(value) < REVIEW_NEUTRAL_BAND:
        return "neutral", value, 1.0 - abs(value)
    return ("positive" if value > 0 else "negative"), value, abs(value)


def decide(
    stacker: Stacker | None, length: int, review: float, chat: np.ndarray | None, hits: RuleHits
) -> tuple[str, float, float]:
    """(label, score, probability of the label) before the decisive rules."""
    if stacker is None or chat is None:
        return _review_only(review, hits, length)
    probs = stacker.probabilities(stack_inputs(review, chat, hits), hits.intensity)
    best = int(probs.argmax())
    score = float(probs[2] - probs[0]) * hits.intensity
    if best == 1:  # a neutral line still leans one way: a small share of the binary polarity
        score += NEUTRAL_LEAN * polarity(review, hits, length)
    gate = stacker.long_text_gate(length)
    if gate > 0:  # long text: the review head, trained on long reviews, sets the direction
        score = (1 - gate) * score + gate * polarity(review, hits, length)
        if best != 1 and score:
            best = 2 if score > 0 else 0
    return LABELS[best], max(-1.0, min(1.0, score)), float(probs[best])


def apply_force(label: str, score: float, hits: RuleHits) -> tuple[str, float]:
    """Decisive rules: acknowledgements are neutral, sarcasm negative, emoji-only lines follow the emoji."""
    if hits.force == "neutral":
        return "neutral", max(-0.2, min(0.2, hits.delta))
    if hits.force == "negative":
        return "negative", min(score, -0.5)
    if hits.force == "positive":
        return "positive", max(score, 0.5)
    return label, score


def _reason(label: str, score: float, model_label: str, confidence: float, hits: RuleHits) -> str:
    parts = [f"模型: {LABEL_ZH[model_label]} {confidence:.2f}"]
    if hits.tags:
        parts.append("规则: " + "、".join(hits.tags))
    return f"{LABEL_ZH[label]} {score:+.2f}（{'；'.join(parts)}）"


def analyse(text: str, sender_role: str = "user") -> Sentiment:
    """Sentiment of one chat message. Empty or whitespace-only text is neutral."""
    if not text or not text.strip():
        return Sentiment("neutral", 0.0, "空消息")
    model = load_model()
    hits = apply_rules(text.lower())
    review, chat = model.raw(features(text, sender_role, hits))
    model_label, score, confidence = decide(model.stacker, len(text), review, chat, hits)
    label, score = apply_force(model_label, score, hits)
    score = round(score, 3)
    return Sentiment(label, score, _reason(label, score, model_label, confidence, hits))
