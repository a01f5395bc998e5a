"""Alert rules with a controllable clock: triggers and levels (§4.1), escalation moments (§4.2),
cancellation conditions (§4.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from app.alerts import config, rules
from app.alerts.charts import trend_svg
from app.alerts.config import AlertSettings
from app.alerts.delivery import accepted, http_request, people
from app.errors import InvalidInput

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
S = AlertSettings()
NEUTRAL = rules.Mood("neutral", 0.0)
NEG = rules.Mood("negative", -0.6)
POS = rules.Mood("positive", 0.8)


def unscaled(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


@dataclass
class FakeAlert:
    level: int = 1
    status: str = "open"
    suppressed: bool = False
    created_at: datetime = T0
    time_steps_done: int = 0
    unresolved_bumped: bool = False


def judge(
    text: str = "",
    message_type: str | None = "chat_daily",
    mood: rules.Mood = NEUTRAL,
    kind: str | None = None,
    recent: list[rules.Mood] | None = None,
) -> list[rules.Trigger]:
    return rules.judge_user_message(
        S, message_type=message_type, mood=mood, intervention_kind=kind, text=text, recent=recent or []
    )


def test_ordinary_messages_raise_nothing() -> None:
    assert judge("大家早上好") == []
    assert judge("今天天气不错", mood=POS) == []
    assert judge("这个怎么弄", message_type="chat_inquiry") == []
    # a single negative message is not yet "keeps worsening"
    assert judge("唉，好累", mood=NEG, recent=[NEUTRAL]) == []


def test_complaint_is_level_4() -> None:
    [t] = judge("你们是骗子，我要投诉", message_type="chat_complaint", mood=NEG)
    assert (t.alert_type, t.level) == ("complaint", 4)
    [t] = judge("割韭菜", message_type="chat_complain_discuss", kind="complaint", mood=NEG, recent=[])
    assert t.alert_type == "complaint"


def test_operator_conflict_is_level_4() -> None:
    found = judge("凭什么这样说我", message_type="chat_complain_discuss", mood=NEG, kind="conflict")
    assert found[0].alert_type == "operator_conflict" and found[0].level == 4


def test_sharply_worse_is_4_and_keeps_worsening_is_3() -> None:
    [sharp] = judge("气死我了", mood=rules.Mood("negative", -0.95), recent=[POS])
    assert (sharp.alert_type, sharp.level, sharp.reason) == ("negative_emotion", 4, "情绪急剧恶化")
    [keeps] = judge("还是不行", mood=NEG, recent=[NEG])
    assert (keeps.alert_type, keeps.level) == ("negative_emotion", 3)
    assert "持续恶化" in keeps.reason


def test_churn_risk_is_3_and_important_question_is_2() -> None:
    [churn] = judge("不干了，我要退群", mood=NEUTRAL)
    assert (churn.alert_type, churn.level) == ("churn_risk", 3)
    [q] = judge("我的收益怎么少了", message_type="chat_inquiry", kind="low_confidence")
    assert (q.alert_type, q.level) == ("important_question", 2)
    [op] = judge("我把作品删了", message_type="chat_private_operation", kind="low_confidence")
    assert (op.alert_type, op.level) == ("private_operation", 2)


def test_levels_come_from_settings_data() -> None:
    custom = config.parse({"type_levels": {"complaint": 3}})
    [t] = rules.judge_user_message(
        custom, message_type="chat_complaint", mood=NEG, intervention_kind=None, text="投诉", recent=[]
    )
    assert t.level == 3


def test_withdrawal_phrases() -> None:
    for text in ("解决了，谢谢", "没事了", "好了", "已经好了", "不用了", "搞定了", "是误会"):
        assert rules.withdrawn(text), text
    for text in ("还没解决", "解决了吗？", "好了吗", "没有好", "根本没解决", "怎么还没好"):
        assert not rules.withdrawn(text), text
    assert judge("解决了", message_type="chat_complaint", mood=NEG) == []


def test_cancellation_conditions() -> None:
    assert (
        rules.user_cancel_reason(S, text="解决了", mood=NEUTRAL, streak=1) == "用户表示问题已解决或撤回投诉"
    )
    assert rules.user_cancel_reason(S, text="谢谢你们", mood=POS, streak=1) == "用户情绪转为积极"
    assert rules.user_cancel_reason(S, text="嗯", mood=rules.Mood("positive", 0.1), streak=1) is None
    assert rules.user_cancel_reason(S, text="嗯", mood=NEUTRAL, streak=2) is None
    assert "连续 3 条" in (rules.user_cancel_reason(S, text="嗯", mood=NEUTRAL, streak=3) or "")
    assert rules.user_cancel_reason(S, text="太差了", mood=NEG, streak=0) is None


def test_time_escalation_steps_with_controllable_clock() -> None:
    alert = FakeAlert()
    assert rules.next_check(alert, S, unscaled) == T0 + timedelta(minutes=30)
    assert rules.due_steps(alert, S, T0 + timedelta(minutes=29), unscaled) == []
    due = rules.due_steps(alert, S, T0 + timedelta(minutes=61), unscaled)
    assert [s.kind for s in due] == ["time", "time"]
    assert "30 分钟" in due[0].reason
    alert.time_steps_done = 3
    assert rules.next_check(alert, S, unscaled) == T0 + timedelta(hours=2)
    [late] = rules.due_steps(alert, S, T0 + timedelta(hours=2, seconds=1), unscaled)
    assert late.kind == "unresolved" and "2 小时" in late.reason
    alert.unresolved_bumped = True
    assert rules.next_check(alert, S, unscaled) is None


def test_acknowledged_stops_time_steps_but_not_unresolved() -> None:
    alert = FakeAlert(status="acknowledged")
    assert rules.due_steps(alert, S, T0 + timedelta(minutes=95), unscaled) == []
    assert rules.next_check(alert, S, unscaled) == T0 + timedelta(hours=2)


def test_finished_or_suppressed_alerts_never_escalate() -> None:
    for alert in (FakeAlert(status="cancelled"), FakeAlert(status="resolved"), FakeAlert(suppressed=True)):
        assert rules.due_steps(alert, S, T0 + timedelta(days=1), unscaled) == []
        assert rules.next_check(alert, S, unscaled) is None


def test_short_durations_and_time_scale() -> None:
    fast = config.parse({"escalation_steps_seconds": [1, 2, 3], "unresolved_seconds": 5})
    half = lambda s: timedelta(seconds=s * 0.5)  # noqa: E731 (HUB_TIME_SCALE=0.5)
    alert = FakeAlert()
    assert rules.next_check(alert, fast, half) == T0 + timedelta(seconds=0.5)
    assert len(rules.due_steps(alert, fast, T0 + timedelta(seconds=1.6), half)) == 3
    assert len(rules.due_steps(alert, fast, T0 + timedelta(seconds=2.6), half)) == 4


def test_clamp_caps_at_4() -> None:
    assert rules.clamp(7) == 4 and rules.clamp(0) == 1


def test_settings_validation() -> None:
    with pytest.raises(InvalidInput):
        config.parse({"unresolved_seconds": 0.5})
    with pytest.raises(InvalidInput):
        config.parse({"escalation_steps_seconds": [60, 30]})
    with pytest.raises(InvalidInput):
        config.parse({"wecom_webhook_url": "ftp://x"})
    with pytest.raises(InvalidInput):
        config.parse({"nonsense": 1})
    assert config.merged(S, {"unresolved_seconds": 1}).unresolved_seconds == 1


def test_delivery_payloads() -> None:
    settings = config.parse(
        {
            "wecom_webhook_url": "http://x/wecom",
            "feishu_webhook_url": "http://x/feishu",
            "sms_url_template": "http://x/sms?to={phone}&msg={text}",
            "targets": {"manager": {"phones": ["13800000001"]}, "staff": {"phones": ["13800000002"]}},
        }
    )
    assert people(settings, ["all"], "phones") == ["13800000002", "13800000001"]
    assert people(settings, ["staff"], "phones") == ["13800000002"]

    @dataclass
    class A:
        id: int = 7
        level: int = 4

    url, body = http_request("wecom", settings, A(), "群机器人", "告警")  # type: ignore[arg-type]
    assert url == "http://x/wecom" and body["msgtype"] == "text" and body["text"]["content"] == "告警"
    assert body["text"]["mentioned_mobile_list"] == ["13800000002", "13800000001"]
    url, body = http_request("feishu", settings, A(), "群机器人", "告警")  # type: ignore[arg-type]
    assert body == {"msg_type": "text", "content": {"text": "告警"}}
    url, body = http_request("sms", settings, A(), "13800000001", "紧急 告警")  # type: ignore[arg-type]
    assert url == "http://x/sms?to=13800000001&msg=%E7%B4%A7%E6%80%A5%20%E5%91%8A%E8%AD%A6"
    assert body["phone"] == "13800000001" and body["alert_id"] == 7

    import httpx

    assert accepted("wecom", httpx.Response(200, json={"errcode": 0}))[0]
    assert not accepted("wecom", httpx.Response(200, json={"errcode": 93000, "errmsg": "invalid"}))[0]
    assert not accepted("sms", httpx.Response(503))[0]


def test_trend_chart_is_svg() -> None:
    svg = trend_svg([{"date": "2026-11-25", "created": 3, "cancelled": 1, "p0": 1}], "趋势<script>")
    assert svg.startswith("<svg") and "<script>" not in svg and "新增 3" in svg


def test_settings_form_and_mentions() -> None:
    from app.alerts.nodes import MENTION
    from app.alerts.pages import settings_from_form

    form = {
        "escalation_steps_seconds": "60，120, 180",
        "unresolved_seconds": "7200",
        "unanswered_day_seconds": "600",
        "unanswered_night_seconds": "1800",
        "worsening_window_seconds": "1800",
        "delivery_retry_seconds": "5",
        "fatigue_after": "3",
        "positive_streak": "2",
        "level_complaint": "3",
        "phones_staff": "138, 139",
        "names_staff": "客服小王",
    }
    change = settings_from_form(form)
    parsed = config.parse(change)
    assert parsed.escalation_steps_seconds == [60, 120, 180] and parsed.positive_streak == 2
    assert parsed.type_levels["complaint"] == 3 and parsed.type_levels["churn_risk"] == 3
    assert parsed.targets["staff"] == {"phones": ["138", "139"], "names": ["客服小王"]}
    with pytest.raises(InvalidInput):
        settings_from_form({**form, "unresolved_seconds": "两小时"})
    assert MENTION.findall("@号主A 您好，@小美：请跟进") == ["号主A", "小美"]
