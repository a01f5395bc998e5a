"""Command queue rules without I/O: transitions, back-off, error texts, send decisions, settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.commands import states
from app.commands.config import load_command_settings
from app.commands.models import Command
from app.commands.service import (
    claim,
    manual_notice,
    ready_for_retry,
    release_claim,
    send_decision,
    set_result,
)
from app.config import ConfigError
from app.robots.models import Robot

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
STALE = timedelta(seconds=15)


def command(**fields: object) -> Command:
    robot = Robot(robot_id="wt-1", name="白班助手", role="day_reply")
    base: dict[str, object] = {
        "id": 7,
        "robot": robot,
        "kind": "send_text",
        "targets": ["抖音号主服务1群"],
        "text": "您好，已为您登记",
        "at_list": [],
        "due_at": NOW,
        "status": states.QUEUED,
        "attempts": 0,
    }
    return Command(**(base | fields))


def test_statuses_are_exactly_the_contract() -> None:
    assert states.STATUSES == ("queued", "sent", "succeeded", "failed", "timeout", "manual", "cancelled")
    assert set(states.STATUS_NAMES) == set(states.STATUSES) == set(states.TRANSITIONS)


@pytest.mark.parametrize(
    ("current", "new", "allowed"),
    [
        ("queued", "sent", True),
        ("queued", "cancelled", True),
        ("sent", "succeeded", True),
        ("sent", "timeout", True),
        ("sent", "cancelled", False),
        ("failed", "queued", True),
        ("timeout", "queued", True),
        ("manual", "queued", True),
        ("manual", "sent", False),
        ("succeeded", "queued", False),
        ("cancelled", "queued", False),
    ],
)
def test_transitions(current: str, new: str, allowed: bool) -> None:
    assert states.can_transition(current, new) is allowed


def test_final_states_have_no_automatic_way_out() -> None:
    assert not states.TRANSITIONS["succeeded"] and not states.TRANSITIONS["cancelled"]
    assert states.TRANSITIONS["manual"] == {"queued", "succeeded"}  # a person's retry, or a late success


def test_backoff_schedule_grows_and_is_capped() -> None:
    schedule = [states.retry_backoff_seconds(n, 30.0) for n in (1, 2, 3, 4, 5)]
    assert schedule == [30.0, 120.0, 480.0, 900.0, 900.0]
    assert states.retry_backoff_seconds(1, 0.0) == 0.0


def test_three_attempts_then_manual() -> None:
    assert states.will_retry(1, 3) and states.will_retry(2, 3)
    assert not states.will_retry(3, 3)
    assert not states.will_retry(1, 3, code=501011)  # bad robot id: retrying cannot help
    assert states.will_retry(1, 3, code=201102)


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (201101, "", "未找到聊天窗口（群名或联系人名不存在）（错误码 201101）"),
        (201102, "发送失败", "消息发送失败（错误码 201102）"),
        (201013, "", "群管理操作失败（错误码 201013）"),
        (501011, "robotId错误", "robotId 错误（机器人编号不存在）（错误码 501011）"),
        (501013, "", "机器人重复登录（错误码 501013）"),
        (999999, "奇怪的错误", "WorkTool 返回错误（错误码 999999）：奇怪的错误"),
        (None, "", "未知错误"),
    ],
)
def test_error_codes_map_to_chinese(code: int | None, reason: str, expected: str) -> None:
    assert states.error_text(code, reason) == expected


def test_every_documented_code_has_a_text() -> None:
    documented = [101011, 101012, 101013, *range(201101, 201109), 501011, 501012, 501013, 501000]
    assert all("WorkTool 返回错误" not in states.error_text(code) for code in documented)


def test_send_decision() -> None:
    assert send_decision(None, NOW, STALE) == ("missing", 0.0)
    assert send_decision(command(status="sent"), NOW, STALE)[0] == "skip"
    assert send_decision(command(due_at=NOW + timedelta(seconds=2)), NOW, STALE) == ("early", 2.0)
    assert send_decision(command(due_at=NOW + timedelta(milliseconds=20)), NOW, STALE)[0] == "send"
    assert send_decision(command(), NOW, STALE)[0] == "send"
    fresh = command(send_token="t" * 32, claimed_at=NOW - timedelta(seconds=1))
    assert send_decision(fresh, NOW, STALE)[0] == "in_flight"
    stale = command(send_token="t" * 32, claimed_at=NOW - timedelta(seconds=30))
    assert send_decision(stale, NOW, STALE)[0] == "recover"


def test_claim_is_one_attempt_with_a_fresh_token_and_release_gives_it_back() -> None:
    c = command()
    first = claim(c, NOW)
    assert c.send_token == first and len(first) == 32 and c.attempts == 1 and c.claimed_at == NOW
    release_claim(c, NOW)
    assert c.send_token is None and c.attempts == 0
    assert claim(c, NOW) != first


def test_a_new_attempt_forgets_the_previous_message_id_but_keeps_it_on_record() -> None:
    c = command(attempts=1, worktool_message_id="m-1", status="queued")
    claim(c, NOW)
    assert c.worktool_message_id is None and c.result == {"previous_message_ids": ["m-1"]}
    set_result(c, {"source": "callback"})
    assert c.result == {"source": "callback", "previous_message_ids": ["m-1"]}


def test_ready_for_retry() -> None:
    assert ready_for_retry(command(status="failed", next_check_at=NOW), NOW)
    assert not ready_for_retry(command(status="failed", next_check_at=NOW + timedelta(seconds=5)), NOW)
    assert not ready_for_retry(command(status="succeeded", next_check_at=NOW), NOW)
    assert not ready_for_retry(None, NOW)


def test_manual_notice_names_robot_targets_error_and_command() -> None:
    c = command(attempts=3, error="消息发送失败（错误码 201102）", text="长" * 100)
    notice = manual_notice(c)
    assert "白班助手" in notice and "抖音号主服务1群" in notice and "201102" in notice
    assert "已尝试 3 次" in notice and "#7" in notice and "长" * 60 + "…" in notice


def test_command_settings_defaults_and_validation() -> None:
    settings = load_command_settings({})
    assert (settings.confirm_seconds, settings.max_attempts, settings.retry_seconds) == (60.0, 3, 30.0)
    assert load_command_settings({"HUB_COMMAND_CONFIRM_SECONDS": "5"}).confirm_seconds == 5.0
    with pytest.raises(ConfigError, match="HUB_COMMAND_MAX_ATTEMPTS"):
        load_command_settings({"HUB_COMMAND_MAX_ATTEMPTS": "0"})
    with pytest.raises(ConfigError, match="HUB_WORKTOOL_TIMEOUT"):
        load_command_settings({"HUB_WORKTOOL_TIMEOUT": "abc"})
