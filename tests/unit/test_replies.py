"""Reply decision, delay control, robot selection rules and templates, without I/O.

Times are given in UTC; the hub's local zone is Asia/Shanghai (UTC+8), so 01:00 UTC is 09:00 local."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app import clock
from app.config import reset_settings
from app.errors import InvalidInput
from app.replies.delays import late_night_priority, next_local_time, plan_delay
from app.replies.selection import RobotChoice, _choose, current_shift, serves_shift, unusable_reason
from app.replies.service import decide, is_greeting, task_type_of
from app.replies.settings import (
    DelaySettings,
    SelectionRules,
    in_range,
    parse_range,
    validate_delays,
    validate_selection,
)
from app.replies.templates import fill, template_variables, validate_template_text
from app.robots.models import Robot

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(hour: int, minute: int = 0, day: int = 5) -> datetime:
    """A UTC instant at this local (Asia/Shanghai) wall-clock time."""
    return datetime(2026, 1, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


@pytest.fixture(autouse=True)
def shanghai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    reset_settings()
    yield
    reset_settings()


def robot(robot_id: str, role: str = "day_reply", **fields: object) -> Robot:
    base: dict[str, object] = {"id": hash(robot_id) % 1000, "name": robot_id, "role": role, "active": True}
    base["shift"] = {"day_reply": "day", "night_reply": "night"}.get(role, "all_day")
    base.update(fields)
    return Robot(robot_id=robot_id, **base)


# ── shifts and selection ────────────────────────────────────────────────────


def test_default_shifts_follow_local_time() -> None:
    assert current_shift(local(9, 0)) == "day"
    assert current_shift(local(20, 59)) == "day"
    assert current_shift(local(21, 0)) == "night"
    assert current_shift(local(3, 0)) == "night"
    assert current_shift(local(8, 59)) == "night"


def test_configured_shift_range_moves_the_boundary() -> None:
    rules = validate_selection({"day_shift_time_range": "08:30-22:00"})
    assert rules.night_shift_time_range == "22:00-08:30"
    assert current_shift(local(8, 45), rules) == "day"
    assert current_shift(local(21, 30), rules) == "day"
    assert current_shift(local(22, 0), rules) == "night"


def test_selection_rule_validation() -> None:
    defaults = validate_selection({})
    assert defaults == SelectionRules()
    assert defaults.as_dict()["after_sales_notify_robot"] == "notify"
    with pytest.raises(InvalidInput, match="晚班时间段应为"):
        validate_selection({"day_shift_time_range": "09:00-21:00", "night_shift_time_range": "22:00-09:00"})
    with pytest.raises(InvalidInput, match="HH:MM-HH:MM"):
        validate_selection({"day_shift_time_range": "9点到21点"})
    with pytest.raises(InvalidInput, match="fallback_statuses"):
        validate_selection({"fallback_statuses": ["bad"]})
    with pytest.raises(InvalidInput, match="未知的设置项"):
        validate_selection({"lunch_break": "12:00-13:00"})
    assert validate_selection({"fallback_statuses": "warning, critical"}).fallback_statuses == (
        "warning",
        "critical",
    )


def test_ranges_wrap_past_midnight() -> None:
    start, end = parse_range("21:00-09:00", "x")
    assert in_range(local(23).astimezone(SHANGHAI).time(), start, end)
    assert in_range(local(2).astimezone(SHANGHAI).time(), start, end)
    assert not in_range(local(12).astimezone(SHANGHAI).time(), start, end)


def test_preferred_robot_is_used_when_healthy() -> None:
    day, night = robot("day"), robot("night", "night_reply")
    chosen, reason, note = _choose([day, night], SelectionRules(), "白班回复机器人")
    assert chosen is day and reason is None and note is None


def test_offline_robot_falls_back_to_the_other_reply_robot() -> None:
    day, night = robot("day", online=False), robot("night", "night_reply", online=True)
    chosen, reason, _ = _choose([day, night], SelectionRules(), "白班回复机器人")
    assert chosen is night and reason == "白班回复机器人「day」离线，改用「night」"


def test_unhealthy_robot_falls_back_according_to_the_rules() -> None:
    day = robot("day", health_status="critical", health_score=30)
    night = robot("night", "night_reply", health_status="good", health_score=80)
    chosen, reason, _ = _choose([day, night], SelectionRules(), "白班回复机器人")
    assert chosen is night and "critical（30 分）" in (reason or "")
    warning = robot("day", health_status="warning", health_score=60)
    assert _choose([warning, night], SelectionRules(), "x")[0] is warning
    strict = SelectionRules(fallback_statuses=("warning", "critical"))
    assert _choose([warning, night], strict, "x")[0] is night


def test_no_usable_fallback_keeps_the_preferred_robot_and_says_so() -> None:
    day, night = robot("day", online=False), robot("night", "night_reply", active=False)
    chosen, reason, note = _choose([day, night], SelectionRules(), "白班回复机器人")
    assert chosen is day and reason is None and "没有可替补" in (note or "")
    assert unusable_reason(night, SelectionRules()) == "已停用"


def test_choice_output_for_the_trace() -> None:
    day, night = robot("day", online=False), robot("night", "night_reply")
    choice = RobotChoice(night, "reply", "day", day, "白班回复机器人「day」离线，改用「night」")
    out = choice.as_output()
    assert out["robot"] == "night" and out["preferred"] == "day" and out["fallback"] is True
    assert serves_shift(robot("all", shift="all_day"), "night")


# ── reply decision ──────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("role", "kind", "text", "reply", "template"),
    [
        ("robot", "chat_daily", "你好", False, None),
        ("staff", "staff_reply_user", "已经处理好了", False, None),
        ("operator", "operator_assign_user", "今天大家把视频发一下", True, "operator_assist"),
        ("operator", "operator_tone_hard", "赶紧弄，别磨蹭", False, None),
        ("operator", "operator_other", "收到", False, None),
        ("user", "chat_daily", "你好", True, "greeting"),
        ("user", "chat_daily", "在吗？", True, "greeting"),
        ("user", "chat_other", "你好", True, "greeting"),
        ("user", "chat_inquiry", "在吗", True, "greeting"),
        ("user", "chat_daily", "今天天气真好，出去玩了", False, None),
        ("user", "chat_inquiry", "这个收益什么时候结算", True, "inquiry_ack"),
        ("user", "chat_after_sales", "扫码登不上", True, "after_sales_ack"),
        ("user", "chat_complaint", "你们这什么破服务", True, "complaint"),
        ("user", "chat_private_operation", "我自己删了两个作品", True, "private_operation"),
        ("user", "chat_complain_discuss", "这家公司靠谱吗", False, None),
        ("user", "chat_other", "哈哈哈", False, None),
        ("user", None, "", False, None),
    ],
)
def test_reply_decision(role: str, kind: str | None, text: str, reply: bool, template: str | None) -> None:
    decision = decide(sender_role=role, message_type=kind, text=text)
    assert decision.reply is reply and decision.template == template and decision.reason


def test_after_sales_responses_are_left_to_the_after_sales_branch() -> None:
    decision = decide(
        sender_role="user", message_type="chat_after_sales", text="在的", after_sales_response="response"
    )
    assert not decision.reply and "售后分支" in decision.reason
    assert decide(sender_role="user", message_type="chat_after_sales", text="x").after_sales


def test_operator_assist_can_be_switched_off_and_at_me_is_answered() -> None:
    assert not decide(
        sender_role="operator", message_type="operator_assign_user", text="x", reply_to_operator=False
    ).reply
    assert decide(sender_role="user", message_type="chat_other", text="@小助手 嗯", at_me=True).reply


def test_greeting_and_task_type_detection() -> None:
    assert is_greeting("您好") and is_greeting("早上好～") and is_greeting("hi!")
    assert not is_greeting("你好，我想问下扫码的事")
    assert task_type_of("实名一直过不去") == "实名认证" and task_type_of("今天吃什么") is None


# ── delay table and late night ──────────────────────────────────────────────

SETTINGS = DelaySettings()


def plan(hour: int, kind: str = "chat_daily", role: str = "user", text: str = "你好", **kw: object):  # type: ignore[no-untyped-def]
    now = local(hour)
    return plan_delay(
        now=now,
        shift=current_shift(now),
        message_type=kind,
        sender_role=role,
        text=text,
        settings=kw.pop("settings", SETTINGS),  # type: ignore[arg-type]
        rng=random.Random(7),
        **kw,  # type: ignore[arg-type]
    )


def test_delay_table_by_case_and_shift() -> None:
    day = plan(10)
    assert day.case == "daily" and day.shift == "day" and 2 <= day.delay_seconds <= 8
    night = plan(22)
    assert night.case == "daily" and night.shift == "night" and 5 <= night.delay_seconds <= 30
    complex_day = plan(10, "chat_inquiry", text="怎么绑定手机")
    assert complex_day.case == "complex" and 5 <= complex_day.delay_seconds <= 15
    complex_night = plan(23, "chat_inquiry")
    assert complex_night.case == "complex" and 10 <= complex_night.delay_seconds <= 30
    long_text = plan(10, "chat_daily", text="好" * 40)
    assert long_text.case == "complex"
    urgent = plan(3, "chat_complaint", urgent=True)
    assert urgent.case == "urgent" and 1 <= urgent.delay_seconds <= 2
    after_sales = plan(23, "chat_after_sales", after_sales=True)
    assert after_sales.case == "after_sales" and 1 <= after_sales.delay_seconds <= 2


def test_late_night_priorities() -> None:
    high = plan(2, "chat_complaint")
    assert (high.case, high.priority) == ("late_high", "high") and 300 <= high.delay_seconds <= 600
    operator = plan(2, "operator_other", role="operator")
    assert operator.priority == "high"
    medium = plan(3, "chat_inquiry")
    assert (medium.case, medium.priority) == ("late_medium", "medium") and 600 <= medium.delay_seconds <= 1800
    assert late_night_priority("chat_daily", "user", False, SETTINGS) == "low"


def test_low_priority_late_night_reply_is_queued_for_nine() -> None:
    now = local(1, 30, day=5)
    low = plan_delay(
        now=now, shift="night", message_type="chat_daily", sender_role="user", text="你好", settings=SETTINGS
    )
    assert low.case == "late_low" and low.delay_seconds is None
    assert low.due_at(now) == local(9, 0, day=5)
    assert low.as_output()["send_at"].startswith("2026-01-05T09:00")


def test_the_nine_oclock_slot_is_the_next_one() -> None:
    after = datetime(2026, 1, 5, 9, 30, tzinfo=SHANGHAI)
    assert next_local_time(after, 9, 0) == datetime(2026, 1, 6, 9, 0, tzinfo=SHANGHAI)
    settings = validate_delays({"late_night_time_range": "23:00-06:00", "late_night_low_send_at": "08:00"})
    now = local(23, 30, day=5)
    low = plan_delay(
        now=now, shift="night", message_type="chat_daily", sender_role="user", text="", settings=settings
    )
    assert low.due_at(now) == local(8, 0, day=6)


def test_delays_honour_the_time_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_TIME_SCALE", "0.01")
    reset_settings()
    now = local(10)
    zero = validate_delays({"day_shift_operation_delay": [100, 100]})
    p = plan_delay(
        now=now, shift="day", message_type="chat_daily", sender_role="user", text="", settings=zero
    )
    assert p.delay_seconds == 100 and p.due_at(now) - now == timedelta(seconds=1)
    assert clock.scaled(100) == timedelta(seconds=1)


def test_delay_settings_validation() -> None:
    assert validate_delays({}) == DelaySettings()
    edited = validate_delays({"day_shift_operation_delay": "0-3", "urgent_message_delay": [0, 0]})
    assert edited.day_shift_operation_delay == (0, 3) and edited.urgent_message_delay == (0, 0)
    assert edited.as_dict()["day_shift_operation_delay"] == [0, 3]
    with pytest.raises(InvalidInput, match="不能为负"):
        validate_delays({"day_shift_operation_delay": [-1, 3]})
    with pytest.raises(InvalidInput, match="最小值不能大于最大值"):
        validate_delays({"night_shift_operation_delay": [30, 5]})
    with pytest.raises(InvalidInput, match="未知的消息类型"):
        validate_delays({"late_night_high_types": ["chat_nonsense"]})
    with pytest.raises(InvalidInput, match="同时"):
        validate_delays({"late_night_high_types": ["chat_inquiry"]})
    with pytest.raises(InvalidInput, match="HH:MM"):
        validate_delays({"late_night_low_send_at": "nine"})


# ── templates ───────────────────────────────────────────────────────────────


def test_template_rendering_with_variables_and_defaults() -> None:
    assert fill("{user_name}您好，{staff_name}马上来", {"user_name": "张三", "staff_name": "售后A"}) == (
        "张三您好，售后A马上来"
    )
    assert fill("{user_name}的{task_type}问题", {"user_name": "张三"}) == "张三的相关操作问题"
    assert fill("{user_name}好", {"user_name": None}) == "亲好"
    assert fill("保留{unknown}", {}) == "保留{unknown}"


def test_template_validation() -> None:
    assert template_variables("{user_name}，{task_type}") == ["user_name", "task_type"]
    assert validate_template_text("  好的 {staff_name}  ") == "好的 {staff_name}"
    with pytest.raises(InvalidInput, match="未知的变量"):
        validate_template_text("{nickname}你好")
    with pytest.raises(InvalidInput, match="花括号"):
        validate_template_text("{user_name 你好")
    with pytest.raises(InvalidInput, match="不能为空"):
        validate_template_text("   ")


def test_seeded_templates_are_valid() -> None:
    from app.replies.defaults import CATEGORIES, DEFAULT_TEMPLATES, DEFAULTS_BY_KEY

    for template in DEFAULT_TEMPLATES:
        validate_template_text(template["text"])
        assert template["category"] in CATEGORIES
    for key in ("comfort_staff_online", "comfort_staff_busy", "comfort_staff_offline", "conciliation"):
        assert key in DEFAULTS_BY_KEY
    assert DEFAULTS_BY_KEY["comfort_staff_online"]["text"] == "好的，请稍等，售后人员马上就来处理 👍"
