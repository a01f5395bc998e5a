"""Sentiment of chat messages: shipped model, chat-style rules, score range. No SnowNLP needed."""

from __future__ import annotations

import time

import pytest

from app.understanding import sentiment
from app.understanding.sentiment import MODEL_PATH, analyse, load_model
from app.understanding.sentiment_rules import apply_rules, is_acknowledgement
from app.understanding.types import SENTIMENT_LABELS, Sentiment


def test_model_loads_fresh_and_has_both_heads() -> None:
    start = time.perf_counter()
    model = load_model(MODEL_PATH)  # explicit path: bypasses the cache, so this is a real load
    elapsed = time.perf_counter() - start
    print(f"sentiment model load: {elapsed:.3f} s")
    assert set(sentiment.REVIEW_CLASSES) <= set(model.linear.classes)
    assert model.chat_cols, "the shipped model should include the chat head"
    assert model.meta["public"]["holdout"] > 0 and model.meta["features"] == len(model.linear.vocabulary)
    assert load_model() is load_model()  # cached


@pytest.mark.parametrize(
    "text",
    ["谢谢老师，辛苦了🙏", "太好了，问题解决了，感谢！", "你们服务真好，非常满意👍", "老师人真好❤️"],
)
def test_clear_positive(text: str) -> None:
    result = analyse(text)
    assert result.label == "positive", result
    assert result.score > 0


@pytest.mark.parametrize(
    "text",
    [
        "你们这服务太差了，一直没人管",
        "垃圾平台，骗子，退钱！",
        "怎么还没到账！！！",
        "气死我了，要投诉你们😡",
    ],
)
def test_clear_negative(text: str) -> None:
    result = analyse(text)
    assert result.label == "negative", result
    assert result.score < 0


@pytest.mark.parametrize(
    "text", ["今天几点开始直播？", "请问怎么绑定手机号", "明天上午十点发作品", "我已经扫码了"]
)
def test_neutral_questions_and_facts(text: str) -> None:
    assert analyse(text).label == "neutral"


@pytest.mark.parametrize("text", ["好的", "收到", "在的", "嗯嗯", "好的👍", "收到！", "OK"])
def test_short_acknowledgements_are_neutral_not_negative(text: str) -> None:
    result = analyse(text)
    assert result.label == "neutral"
    assert result.score >= 0
    assert is_acknowledgement(text.lower())


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_is_neutral(text: str) -> None:
    assert analyse(text) == Sentiment("neutral", 0.0, "空消息")


@pytest.mark.parametrize("text", ["不是不满意", "没有不开心", "并不是不喜欢"])
def test_double_negation_is_not_negative(text: str) -> None:
    result = analyse(text)
    assert result.label != "negative", result
    assert "双重否定" in result.reason


@pytest.mark.parametrize("text", ["效果不太好", "感觉不怎么样", "不太满意"])
def test_negated_positive_is_negative(text: str) -> None:
    assert analyse(text).label == "negative"


@pytest.mark.parametrize("text", ["不好意思，刚才在忙", "没关系的"])
def test_polite_phrases_are_not_negative(text: str) -> None:
    assert analyse(text).label != "negative"


@pytest.mark.parametrize(
    "text", ["又封号了👍", "呵呵", "真是服了，又被封了", "太厉害了吧又扣钱了", "好棒哦，第三次被限流了"]
)
def test_sarcasm_is_negative(text: str) -> None:
    result = analyse(text)
    assert result.label == "negative", result
    assert "讽刺" in result.reason


def test_praise_without_negative_context_is_not_sarcasm() -> None:
    assert "讽刺" not in analyse("太厉害了，谢谢老师👍").reason
    assert analyse("太厉害了，谢谢老师👍").label == "positive"


@pytest.mark.parametrize(
    ("text", "label"), [("😡😡", "negative"), ("👎", "negative"), ("👍👍👍", "positive")]
)
def test_emoji_only_messages(text: str, label: str) -> None:
    assert analyse(text).label == label


def test_laughing_crying_emoji_alone_is_neutral() -> None:
    result = analyse("😂")
    assert result.label == "neutral"
    assert "😂" in result.reason


def test_negative_emoji_pulls_down() -> None:
    assert analyse("今天又要排队😤").score < analyse("今天又要排队").score


def test_laughter_is_positive_evidence() -> None:
    hits = apply_rules("哈哈哈好的没问题")
    assert hits.delta > 0 or hits.force == "neutral"
    assert analyse("哈哈哈太好了").label == "positive"


def test_ellipsis_and_repeated_marks() -> None:
    assert apply_rules("好吧。。。").delta < 0
    assert apply_rules("在吗？？？").delta < 0
    plain, loud = analyse("怎么还没到账"), analyse("怎么还没到账！！！")
    assert loud.score <= plain.score


@pytest.mark.parametrize(
    "text",
    [
        "好的",
        "又封号了👍",
        "谢谢",
        "😂😂",
        "你们到底行不行啊？？？",
        "x" * 500,
        "房间很干净，早餐丰富，服务周到。" * 20,
    ],
)
def test_score_range_and_reason(text: str) -> None:
    result = analyse(text)
    assert result.label in SENTIMENT_LABELS
    assert -1.0 <= result.score <= 1.0
    assert result.reason


def test_sender_role_is_accepted() -> None:
    for role in ("user", "staff", "operator", "robot", "unknown"):
        assert analyse("赶紧的，别磨蹭了！", role).label in SENTIMENT_LABELS


def test_features_match_training_shape() -> None:
    feats = sentiment.features("不好意思😂", "staff")
    assert "§role:staff" in feats
    assert "§r:polite" in feats and "§r:ambig_emoji" in feats
    assert not any("不好" in f for f in feats)  # the polite phrase is blanked for the n-grams
