from __future__ import annotations

import dataclasses

import pytest

from app.understanding.classifier import (
    _answer_to_task,
    _own_after_sales_trouble,
    classify,
    compile_lexicons,
    featurise,
    task_topic,
)
from app.understanding.intervention import judge
from app.understanding.lexicon import DEFAULT_LEXICONS, DEFAULT_RESPONSE_WORDS, validate_lexicons
from app.understanding.metrics import accuracy, binary_scores, confusion, macro_f1, per_class
from app.understanding.responses import ANSWER_CONFIDENCE, answer_probabilities, core_text, detect_response
from app.understanding.types import (
    MESSAGE_TYPES,
    TYPES_BY_CATEGORY,
    Classification,
    ContextLine,
    MessageInput,
    Sentiment,
)

LEX = compile_lexicons(DEFAULT_LEXICONS)


def test_fifteen_types_in_three_categories() -> None:
    assert len(MESSAGE_TYPES) == 15
    assert {k: len(v) for k, v in TYPES_BY_CATEGORY.items()} == {"user": 8, "staff": 4, "operator": 3}


def test_rules_alone_pick_the_type_with_keyword_hits_within_the_category() -> None:
    from app.understanding.classifier import _classify_by_rules

    hits = LEX.hits("二维码扫码登不上", TYPES_BY_CATEGORY["user"])
    chosen = _classify_by_rules("user", hits)
    assert chosen.type == "chat_after_sales" and "扫码" in chosen.reason
    assert _classify_by_rules("staff", {}).type == "staff_other"


def test_media_without_text_is_other_of_the_senders_category() -> None:
    result = classify(MessageInput("", "operator", media_kind="image"), LEX)
    assert result.type == "operator_other" and "image" in result.reason


def test_features_carry_role_task_keywords_and_context() -> None:
    item = MessageInput("在的", "user", context=(ContextLine("staff", "@张三 麻烦扫一下码"),), open_task=True)
    features = featurise(item, LEX)
    assert "§role:user" in features and "§open_task" in features
    assert "§ctx_role:staff" in features and "§ctx_at" in features
    assert "ctxkw:staff_at_user" in features


def test_lexicon_validation_rejects_unknown_types_and_cleans_words() -> None:
    clean = validate_lexicons({"chat_daily": [" 早 ", "早", "", "x" * 40]})
    assert clean["chat_daily"] == ["早"] and clean["chat_complaint"] == []
    from app.errors import InvalidInput

    with pytest.raises(InvalidInput):
        validate_lexicons({"chat_weird": ["x"]})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("在的", "response"),
        ("好的👍", "response"),
        ("收到！马上弄", "response"),
        ("来了来了", "response"),
        ("不弄了", "refusal"),
        ("没空，别烦我", "refusal"),
        ("算了不搞了。。。", "refusal"),
        ("这个二维码怎么扫不上啊，一直报错", "none"),
        ("", "none"),
    ],
)
def test_after_sales_responses(text: str, expected: str) -> None:
    assert detect_response(text, True, DEFAULT_RESPONSE_WORDS)[0] == expected


def test_no_open_task_means_no_response() -> None:
    assert detect_response("好的", False, DEFAULT_RESPONSE_WORDS)[0] == "none"
    assert core_text("好的呀～👍！") == "好的"


def cls(code: str, confidence: float = 0.9) -> Classification:
    return Classification(code, confidence, "", "model")


def test_intervention_rules_apply_in_order() -> None:
    neutral, angry = Sentiment("neutral", 0.0), Sentiment("negative", -0.8)
    operator_line = (ContextLine("operator", "这周每人三条，周日前发完"),)
    assert judge("operator", cls("operator_tone_hard"), angry, "none", ()).kind == "conflict"
    assert not judge("operator", cls("operator_assign_user"), neutral, "none", ()).needed
    assert judge("user", cls("chat_complaint"), angry, "none", operator_line).kind == "conflict"
    assert judge("user", cls("chat_complaint"), angry, "none", ()).kind == "complaint"
    assert judge(
        "user", cls("chat_complain_discuss"), angry, "none", (), text="大家别傻了 这就是割韭菜"
    ).kind == ("complaint")
    assert not judge("user", cls("chat_complain_discuss"), angry, "none", (), text="唉 又加班").needed
    assert (
        judge("user", cls("chat_daily"), neutral, "response", (), open_task=True).kind == "after_sales_wait"
    )
    assert (
        judge("user", cls("chat_after_sales"), neutral, "none", (), open_task=True).kind == "after_sales_wait"
    )
    assert not judge("user", cls("chat_after_sales"), neutral, "none", (), open_task=False).needed
    assert judge("user", cls("chat_private_operation"), neutral, "none", ()).kind == "low_confidence"
    assert judge("user", cls("chat_inquiry"), neutral, "none", (), text="我的结算单怎么少了三百").kind == (
        "low_confidence"
    )
    assert not judge("user", cls("chat_inquiry"), neutral, "none", (), text="实名认证要准备什么").needed
    assert not judge("staff", cls("staff_reply_user"), angry, "none", ()).needed


def test_metrics() -> None:
    gold, pred = ["a", "a", "b", "c"], ["a", "b", "b", "c"]
    scores = {s.label: s for s in per_class(gold, pred, ["a", "b", "c"])}
    assert scores["a"].precision == 1.0 and scores["a"].recall == 0.5
    assert scores["b"].precision == 0.5 and scores["b"].recall == 1.0
    assert accuracy(gold, pred) == 0.75
    assert macro_f1(list(scores.values())) == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert confusion(gold, pred, ["a", "b", "c"]) == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    b = binary_scores([True, False, True], [True, True, False])
    assert (b.precision, b.recall) == (0.5, 0.5)


def test_short_answers_to_an_open_task_follow_the_tasks_topic() -> None:
    def typed(text: str, task_type: str | None) -> Classification:
        return classify(MessageInput(text, "user", open_task=True, open_task_type=task_type), LEX)

    for text in ("弄好了", "收到", "好 等我下班"):
        assert typed(text, "发作品").type == "chat_cooperation", text
        assert typed(text, "扫码登录").type == "chat_after_sales", text
    assert "跟随进行中的任务（发作品）" in typed("收到", "发作品").reason
    # A longer line keeps its own topic; "其他" tasks and unknown types decide nothing.
    assert typed("我的作品好像没通过审核 要重拍吗 我该怎么办呢", "扫码登录").type == "chat_cooperation"
    assert typed("收到", "其他").type == typed("收到", None).type
    no_task = classify(MessageInput("收到", "user", open_task_type="发作品"), LEX)
    assert "跟随进行中的任务" not in no_task.reason  # a type without an open task decides nothing


def test_task_topic_comes_from_the_task_type_then_the_staff_line_then_the_answer() -> None:
    def topic(text: str, task_type: str | None = None, *context: ContextLine) -> str | None:
        return task_topic(
            MessageInput(text, "user", context=context, open_task=True, open_task_type=task_type)
        )

    assert topic("收到 我现在剪一下", "扫码登录") == "chat_after_sales"
    staff_face = ContextLine("staff", "@周周 视频号认证需要刷个脸")  # 视频号 is an account, not a video
    assert topic("收到 我现在剪一下", None, staff_face) == "chat_after_sales"
    selfie = ContextLine("operator", "@小美 今天的自拍视频记得拍一下")
    assert topic("好的", None, staff_face, selfie) == "chat_cooperation"  # the latest line decides
    assert topic("好的", None, ContextLine("user", "今天拍了三条")) is None  # users do not set tasks
    assert topic("收到 我现在剪一下") == "chat_cooperation"
    assert topic("在呢 码发了吗") is None  # a code is sent, not a work
    assert topic("好的") is None


def test_answers_to_an_open_task_take_the_tasks_family() -> None:
    def typed(text: str, *context: ContextLine, open_task: bool = True) -> Classification:
        return classify(MessageInput(text, "user", context=context, open_task=open_task), LEX)

    # Read alone this is small talk; answering an open task it is about the task.
    assert typed("在的在的 辛苦啦🙏", open_task=False).type == "chat_daily"
    assert typed("在的在的 辛苦啦🙏").type == "chat_after_sales"
    selfie = ContextLine("staff", "@小美 今天的自拍视频记得拍一下哈")
    assert typed("在的在的 辛苦啦🙏", selfie).type == "chat_cooperation"
    assert typed("中午吃什么好纠结啊").type == "chat_daily"

    # When the type model reads a sure answer as small talk, the rule moves it to the task's family.
    as_daily = {"chat_daily": 0.7, "chat_after_sales": 0.2, "chat_cooperation": 0.1}
    item = MessageInput("在的在的 辛苦啦🙏", "user", context=(selfie,), open_task=True)
    moved = _answer_to_task(item, "chat_daily", as_daily, {}, DEFAULT_RESPONSE_WORDS)
    assert moved is not None and moved.type == "chat_cooperation"
    assert "回应进行中的任务（响应），类型跟随任务" in moved.reason
    no_topic = dataclasses.replace(item, context=())
    assert (
        _answer_to_task(no_topic, "chat_daily", as_daily, {}, DEFAULT_RESPONSE_WORDS).type
        == "chat_after_sales"
    )  # type: ignore[union-attr]
    # Not an answer, no open task, or a complaint: the model's type stands.
    chat = dataclasses.replace(item, text="中午吃什么好纠结啊")
    assert _answer_to_task(chat, "chat_daily", as_daily, {}, DEFAULT_RESPONSE_WORDS) is None
    idle = dataclasses.replace(item, open_task=False)
    assert _answer_to_task(idle, "chat_daily", as_daily, {}, DEFAULT_RESPONSE_WORDS) is None
    assert _answer_to_task(item, "chat_complaint", as_daily, {}, DEFAULT_RESPONSE_WORDS) is None


def test_an_unsure_answer_needs_a_type_an_answer_can_have() -> None:
    text = "行 那我先去接孩子了"
    probabilities = answer_probabilities(text, (), DEFAULT_RESPONSE_WORDS)
    assert probabilities is not None and 0.5 < probabilities["response"] < ANSWER_CONFIDENCE
    assert detect_response(text, True, DEFAULT_RESPONSE_WORDS)[0] == "response"
    assert detect_response(text, True, DEFAULT_RESPONSE_WORDS, (), "chat_after_sales")[0] == "response"
    label, reason = detect_response(text, True, DEFAULT_RESPONSE_WORDS, (), "chat_daily")
    assert label == "none" and "不够确定，且消息类型为日常聊天" in reason
    # A sure answer stands whatever the type.
    assert (
        detect_response("在的在的 辛苦啦🙏", True, DEFAULT_RESPONSE_WORDS, (), "chat_daily")[0] == "response"
    )


def test_every_after_sales_task_type_has_a_topic_entry() -> None:
    from app.aftersales.models import TASK_TYPES
    from app.understanding.classifier import TASK_FAMILY

    assert set(TASK_FAMILY) == set(TASK_TYPES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("实名认证一直失败怎么办", "chat_after_sales"),
        ("手机号换了，怎么重新绑定", "chat_after_sales"),
        ("我的号登录不上了，要扫码吗", "chat_after_sales"),
        ("实名认证要准备啥", "chat_inquiry"),  # abstract: no trouble of the asker's own
        ("结算一直显示处理中是为啥", "chat_inquiry"),  # trouble, but not with an after-sales step
    ],
)
def test_trouble_with_an_own_after_sales_step_is_after_sales(text: str, expected: str) -> None:
    assert classify(MessageInput(text, "user"), LEX).type == expected
    # When the model reads such a line as an inquiry, the rule moves it to after-sales.
    as_inquiry = {"chat_inquiry": 0.6, "chat_after_sales": 0.3, "chat_daily": 0.1}
    moved = _own_after_sales_trouble(MessageInput(text, "user"), "chat_inquiry", as_inquiry, {})
    assert (moved is not None) == (expected == "chat_after_sales")
    if moved is not None:
        assert moved.type == "chat_after_sales" and moved.confidence == 0.9
        assert "自己的售后步骤出了问题" in moved.reason


def test_llm_prompt_names_the_open_tasks_type() -> None:
    from app.understanding.llm import build_messages

    def prompt(item: MessageInput) -> str:
        return str(build_messages(item, "user")[-1]["content"])

    assert "未完成的售后任务：是（发作品）" in prompt(
        MessageInput("收到", open_task=True, open_task_type="发作品")
    )
    assert "未完成的售后任务：是\n" in prompt(MessageInput("收到", open_task=True))
    assert "未完成的售后任务：否" in prompt(MessageInput("收到"))
