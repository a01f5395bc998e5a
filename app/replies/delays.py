"""Delay control (PRODUCT.md §5): when a reply goes out, from the delay table and the late-night
priority rules. Pure functions of the settings, the local time and a random source (testable with
a fixed clock and seed). Delays are configured seconds; callers scale them (clock.scaled)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app import clock
from app.replies.settings import DelaySettings, in_range

CASE_NAMES = {
    "urgent": "紧急（P0 告警相关）",
    "after_sales": "售后任务提醒",
    "complex": "复杂问题",
    "daily": "日常社群消息",
    "late_high": "深夜高优先级",
    "late_medium": "深夜中优先级",
    "late_low": "深夜低优先级（次日处理）",
}


@dataclass(frozen=True)
class DelayPlan:
    case: str  # urgent | after_sales | complex | daily | late_high | late_medium | late_low
    shift: str  # day | night
    priority: str | None  # late night: high | medium | low
    delay_seconds: float | None  # configured seconds (before HUB_TIME_SCALE); None for a fixed time
    send_at_local: datetime | None = None  # late_night low: the local time it is queued for
    reason: str = ""

    def due_at(self, now: datetime) -> datetime:
        """UTC due time: now + scaled delay, or the queued wall-clock time."""
        if self.send_at_local is not None:
            return clock.as_utc(self.send_at_local)
        return now + clock.scaled(self.delay_seconds or 0.0)

    def as_output(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "case_name": CASE_NAMES.get(self.case, self.case),
            "shift": self.shift,
            "late_night_priority": self.priority,
            "delay_seconds": self.delay_seconds,
            "send_at": self.send_at_local.isoformat() if self.send_at_local else None,
            "reason": self.reason,
        }


def late_night_priority(
    message_type: str | None, sender_role: str | None, urgent: bool, s: DelaySettings
) -> str:
    """high: complaints, operator involved, real-name / scan-code tasks, urgent help; medium:
    ordinary questions and help requests; low: small talk, spam, greetings (types configurable)."""
    if urgent or sender_role == "operator" or (message_type or "") in s.late_night_high_types:
        return "high"
    if (message_type or "") in s.late_night_medium_types:
        return "medium"
    return "low"


def next_local_time(now_local: datetime, hour: int, minute: int) -> datetime:
    candidate = now_local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return candidate if candidate > now_local else candidate + timedelta(days=1)


def _draw(pair: tuple[float, float], rng: random.Random) -> float:
    low, high = pair
    return round(rng.uniform(low, high), 3) if high > low else float(low)


def plan_delay(
    *,
    now: datetime,
    shift: str,
    message_type: str | None,
    sender_role: str | None,
    text: str,
    settings: DelaySettings,
    urgent: bool = False,
    after_sales: bool = False,
    rng: random.Random | None = None,
) -> DelayPlan:
    """The delay of one reply. Urgent and after-sales reminders go fast at any hour; late night
    follows the priority rules; otherwise the day/night table, complex questions slower."""
    rng = rng or random.Random()
    local = clock.to_local(now)
    if urgent:
        return DelayPlan(
            "urgent", shift, None, _draw(settings.urgent_message_delay, rng), reason="P0 告警相关"
        )
    if after_sales:
        return DelayPlan(
            "after_sales", shift, None, _draw(settings.after_sales_notify_delay, rng), reason="售后任务"
        )
    start, end = settings.late_night_range
    if in_range(local.time(), start, end):
        priority = late_night_priority(message_type, sender_role, urgent, settings)
        if priority == "high":
            return DelayPlan(
                "late_high",
                shift,
                priority,
                _draw(settings.late_night_high_delay, rng),
                reason="深夜·高优先级",
            )
        if priority == "medium":
            return DelayPlan(
                "late_medium",
                shift,
                priority,
                _draw(settings.late_night_medium_delay, rng),
                reason="深夜·中优先级",
            )
        send_at = settings.low_send_at
        at = next_local_time(local, send_at.hour, send_at.minute)
        return DelayPlan(
            "late_low", shift, priority, None, at, reason=f"深夜·低优先级，排到 {send_at:%H:%M} 发送"
        )
    complex_ = (message_type or "") in settings.complex_types or (
        settings.complex_min_length > 0 and len(text or "") >= settings.complex_min_length
    )
    if complex_:
        pair = settings.day_shift_complex_delay if shift == "day" else settings.night_shift_complex_delay
        return DelayPlan("complex", shift, None, _draw(pair, rng), reason="复杂问题")
    pair = settings.day_shift_operation_delay if shift == "day" else settings.night_shift_operation_delay
    return DelayPlan("daily", shift, None, _draw(pair, rng), reason="日常社群消息")
