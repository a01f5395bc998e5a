"""Robot health scoring without I/O: thresholds, deductions, recommendations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.config import reset_settings
from app.robots.health import HealthInputs, local_midnight, score_health, status_for

NOW = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
RECENT = NOW - timedelta(minutes=5)


@pytest.fixture(autouse=True)
def shanghai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    reset_settings()
    yield
    reset_settings()


def inputs(**fields: object) -> HealthInputs:
    base: dict[str, object] = {
        "online": True,
        "last_activity": RECENT,
        "registered_at": NOW - timedelta(days=3),
    }
    base["now"] = NOW
    base.update(fields)
    return HealthInputs(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("score", "status"),
    [
        (100, "excellent"),
        (90, "excellent"),
        (89, "good"),
        (75, "good"),
        (74, "warning"),
        (50, "warning"),
        (49, "critical"),
        (0, "critical"),
    ],
)
def test_documented_thresholds(score: int, status: str) -> None:
    assert status_for(score) == status


def test_a_healthy_robot_is_excellent_without_recommendations() -> None:
    result = score_health(inputs(command_count=20, succeeded=20, average_time=1.5, message_count=300))
    assert result.score == 100 and result.status == "excellent" and result.recommendations == []


def test_offline_robot_is_critical() -> None:
    result = score_health(inputs(online=False))
    assert result.score == 45 and result.status == "critical"
    assert result.recommendations[0].startswith("机器人离线")


def test_unknown_online_state_costs_a_little() -> None:
    result = score_health(inputs(online=None))
    assert result.score == 90 and result.status == "excellent"
    assert "WORKTOOL_API_BASE" in result.recommendations[0]


def test_low_success_rate_and_manual_commands() -> None:
    result = score_health(inputs(command_count=10, succeeded=8, manual=2, error_count=6))
    # success 80 % → (99 − 80) × 1.5 = 28.5; two manual commands → 10
    assert result.deductions == {"success_rate": 28.5, "manual": 10}
    assert result.score == 62 and result.status == "warning"
    assert any("成功率偏低（80.0%）" in r for r in result.recommendations)
    assert any("2 条指令待人工处理" in r for r in result.recommendations)


def test_success_rate_needs_a_few_commands_and_is_capped() -> None:
    assert score_health(inputs(command_count=2, succeeded=0)).score == 100
    assert score_health(inputs(command_count=10, succeeded=0)).deductions["success_rate"] == 45


@pytest.mark.parametrize(("seconds", "cut"), [(4.0, 0), (6.0, 5), (12.0, 10), (45.0, 20)])
def test_slow_commands(seconds: float, cut: int) -> None:
    result = score_health(inputs(average_time=seconds))
    assert result.deductions.get("slow", 0) == cut
    assert bool(cut) == any(r.startswith("优化响应速度") for r in result.recommendations)


def test_inactivity_only_counts_for_robots_older_than_a_day() -> None:
    idle = score_health(inputs(last_activity=NOW - timedelta(days=2)))
    assert idle.deductions == {"inactive": 10} and idle.status == "excellent"
    fresh = score_health(inputs(last_activity=None, registered_at=NOW - timedelta(hours=1)))
    assert fresh.score == 100


def test_everything_wrong_floors_at_zero_critical() -> None:
    result = score_health(
        inputs(online=False, command_count=10, succeeded=0, manual=9, average_time=60, last_activity=None)
    )
    assert result.score == 0 and result.status == "critical" and len(result.recommendations) >= 4


def test_success_rate_and_local_day() -> None:
    assert inputs(command_count=3, succeeded=2).success_rate == 66.67
    assert inputs().success_rate is None
    # 06:00 UTC is 14:00 in Asia/Shanghai: the local day started at 16:00 UTC the day before.
    assert local_midnight(NOW) == datetime(2026, 1, 4, 16, 0, tzinfo=UTC)
