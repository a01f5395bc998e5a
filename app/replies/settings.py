"""Robot selection rules (shifts) and reply delay settings, stored in system_settings.

robot_selection_rules (PRODUCT.md §2, seed 004 §1.4):
    day_shift_time_range     "09:00-21:00"   local time (TZ); the night shift is the rest of the day
    night_shift_time_range   "21:00-09:00"   derived from the day shift; given only for display
    after_sales_notify_robot "notify"        a role name or a robot's robotId
    p0_alert_notify_robot    "notify"        a role name or a robot's robotId
    fallback_statuses        ["critical"]    health statuses that make the hub use the other robot

reply_delay_settings (PRODUCT.md §5, seed 004 §2.2, seed 001 §3.2): [min, max] seconds (min ≥ 0),
each drawn at random, scaled by HUB_TIME_SCALE where used; late night (00:00–06:00 by default)
follows the priority rules: high and medium get their delays, low is queued for 09:00.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput
from app.system.service import get_setting, put_setting

SELECTION_KEY = "robot_selection_rules"
DELAYS_KEY = "reply_delay_settings"
MAX_DELAY_SECONDS = 86400.0
HEALTH_STATUSES = ("excellent", "good", "warning", "critical")
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def parse_clock(value: str, what: str) -> time:
    match = _TIME.match(value or "")
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise InvalidInput(f"{what}格式应为 HH:MM，例如 09:00")
    return time(int(match[1]), int(match[2]))


def parse_range(value: str, what: str) -> tuple[time, time]:
    match = _RANGE.match(value or "")
    if not match:
        raise InvalidInput(f"{what}格式应为 HH:MM-HH:MM，例如 09:00-21:00")
    start = parse_clock(f"{match[1]}:{match[2]}", what)
    end = parse_clock(f"{match[3]}:{match[4]}", what)
    if start == end:
        raise InvalidInput(f"{what}的开始和结束时间不能相同")
    return start, end


def fmt_range(start: time, end: time) -> str:
    return f"{start:%H:%M}-{end:%H:%M}"


def in_range(moment: time, start: time, end: time) -> bool:
    """Whether a local time of day falls in [start, end), ranges may wrap past midnight."""
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end


# ── selection rules ─────────────────────────────────────────────────────────


@dataclass(frozen=True)
class SelectionRules:
    day_shift_time_range: str = "09:00-21:00"
    night_shift_time_range: str = "21:00-09:00"
    after_sales_notify_robot: str = "notify"
    p0_alert_notify_robot: str = "notify"
    fallback_statuses: tuple[str, ...] = ("critical",)

    @property
    def day_range(self) -> tuple[time, time]:
        return parse_range(self.day_shift_time_range, "白班时间段")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["fallback_statuses"] = list(self.fallback_statuses)
        return data


def validate_selection(raw: dict[str, Any], base: SelectionRules | None = None) -> SelectionRules:
    """Merge `raw` over `base` (defaults) and validate; the night shift is the day's complement."""
    merged = {**(base or SelectionRules()).as_dict(), **{k: v for k, v in raw.items() if v is not None}}
    unknown = set(merged) - set(SelectionRules.__dataclass_fields__)
    if unknown:
        raise InvalidInput(f"未知的设置项：{'、'.join(sorted(unknown))}")
    start, end = parse_range(str(merged["day_shift_time_range"]), "白班时间段")
    night = fmt_range(end, start)
    given_night = raw.get("night_shift_time_range")
    if given_night:
        n_start, n_end = parse_range(str(given_night), "晚班时间段")
        if (n_start, n_end) != (end, start):
            raise InvalidInput(f"晚班时间段应为白班以外的时段：{night}")
    statuses = merged["fallback_statuses"]
    if isinstance(statuses, str):
        statuses = [s.strip() for s in statuses.replace("，", ",").split(",") if s.strip()]
    if not isinstance(statuses, list | tuple) or any(s not in HEALTH_STATUSES for s in statuses):
        raise InvalidInput(f"fallback_statuses 只能包含 {', '.join(HEALTH_STATUSES)}")
    for name in ("after_sales_notify_robot", "p0_alert_notify_robot"):
        value = str(merged[name]).strip()
        if not value or len(value) > 100:
            raise InvalidInput(f"{name} 不能为空（角色名如 notify，或机器人的 robotId）")
        merged[name] = value
    return SelectionRules(
        day_shift_time_range=fmt_range(start, end),
        night_shift_time_range=night,
        after_sales_notify_robot=merged["after_sales_notify_robot"],
        p0_alert_notify_robot=merged["p0_alert_notify_robot"],
        fallback_statuses=tuple(dict.fromkeys(statuses)),
    )


async def load_selection_rules(session: AsyncSession) -> SelectionRules:
    cache = session.info.get(SELECTION_KEY)
    if isinstance(cache, SelectionRules):
        return cache
    raw = await get_setting(session, SELECTION_KEY, None)
    try:
        rules = validate_selection(raw) if isinstance(raw, dict) else SelectionRules()
    except InvalidInput:
        rules = SelectionRules()
    session.info[SELECTION_KEY] = rules
    return rules


async def save_selection_rules(session: AsyncSession, raw: dict[str, Any], by: str) -> SelectionRules:
    rules = validate_selection(raw, await load_selection_rules(session))
    await put_setting(session, SELECTION_KEY, rules.as_dict(), by)
    session.info[SELECTION_KEY] = rules
    return rules


# ── delay settings ──────────────────────────────────────────────────────────

DELAY_FIELDS: dict[str, str] = {
    "day_shift_operation_delay": "白班 · 日常社群消息",
    "night_shift_operation_delay": "晚班 · 日常社群消息",
    "urgent_message_delay": "紧急消息（P0 告警相关，全天）",
    "after_sales_notify_delay": "售后任务提醒（全天）",
    "day_shift_complex_delay": "白班 · 复杂问题",
    "night_shift_complex_delay": "晚班 · 复杂问题",
    "late_night_high_delay": "深夜 · 高优先级",
    "late_night_medium_delay": "深夜 · 中优先级",
}

HIGH_TYPES = ("chat_complaint", "chat_after_sales", "chat_private_operation", "operator_assign_user")
MEDIUM_TYPES = ("chat_inquiry", "chat_cooperation")
COMPLEX_TYPES = ("chat_inquiry", "chat_cooperation", "chat_private_operation")


@dataclass(frozen=True)
class DelaySettings:
    day_shift_operation_delay: tuple[float, float] = (2, 8)
    night_shift_operation_delay: tuple[float, float] = (5, 30)
    urgent_message_delay: tuple[float, float] = (1, 2)
    after_sales_notify_delay: tuple[float, float] = (1, 2)
    day_shift_complex_delay: tuple[float, float] = (5, 15)
    night_shift_complex_delay: tuple[float, float] = (10, 30)
    late_night_time_range: str = "00:00-06:00"
    late_night_high_delay: tuple[float, float] = (300, 600)
    late_night_medium_delay: tuple[float, float] = (600, 1800)
    late_night_low_send_at: str = "09:00"  # low priority: not replied at night, queued for this time
    late_night_high_types: tuple[str, ...] = HIGH_TYPES
    late_night_medium_types: tuple[str, ...] = MEDIUM_TYPES
    complex_types: tuple[str, ...] = COMPLEX_TYPES
    complex_min_length: int = 40  # a longer question counts as complex whatever its type
    reply_to_operator: bool = True  # assisting reply to operators' work assignments

    @property
    def late_night_range(self) -> tuple[time, time]:
        return parse_range(self.late_night_time_range, "深夜时段")

    @property
    def low_send_at(self) -> time:
        return parse_clock(self.late_night_low_send_at, "深夜低优先级的发送时间")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def _pair(value: Any, name: str) -> tuple[float, float]:
    label = DELAY_FIELDS.get(name, name)
    if isinstance(value, str):
        parts = [p for p in re.split(r"\s*[-–~～,，]\s*", value.strip()) if p]
        value = parts if len(parts) == 2 else [value.strip()] * 2 if value.strip() else []
    if isinstance(value, dict):
        value = [value.get("min"), value.get("max")]
    if isinstance(value, int | float):
        value = [value, value]
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise InvalidInput(f"{label}：应为 [最小秒数, 最大秒数]")
    try:
        low, high = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        raise InvalidInput(f"{label}：秒数必须是数字") from None
    if low < 0 or high < 0:
        raise InvalidInput(f"{label}：秒数不能为负（最小 0）")
    if low > high:
        raise InvalidInput(f"{label}：最小值不能大于最大值")
    if high > MAX_DELAY_SECONDS:
        raise InvalidInput(f"{label}：不能超过 {int(MAX_DELAY_SECONDS)} 秒")
    return (int(low) if low.is_integer() else low, int(high) if high.is_integer() else high)


def _types(value: Any, name: str) -> tuple[str, ...]:
    from app.understanding.types import TYPES_BY_CODE

    if isinstance(value, str):
        value = [v.strip() for v in value.replace("，", ",").split(",") if v.strip()]
    if not isinstance(value, list | tuple):
        raise InvalidInput(f"{name} 应为消息类型列表")
    unknown = [v for v in value if v not in TYPES_BY_CODE]
    if unknown:
        raise InvalidInput(f"{name} 包含未知的消息类型：{'、'.join(map(str, unknown))}")
    return tuple(dict.fromkeys(value))


def validate_delays(raw: dict[str, Any], base: DelaySettings | None = None) -> DelaySettings:
    merged = {**(base or DelaySettings()).as_dict(), **{k: v for k, v in raw.items() if v is not None}}
    unknown = set(merged) - set(DelaySettings.__dataclass_fields__)
    if unknown:
        raise InvalidInput(f"未知的设置项：{'、'.join(sorted(unknown))}")
    values: dict[str, Any] = {name: _pair(merged[name], name) for name in DELAY_FIELDS}
    start, end = parse_range(str(merged["late_night_time_range"]), "深夜时段")
    values["late_night_time_range"] = fmt_range(start, end)
    values["late_night_low_send_at"] = (
        f"{parse_clock(str(merged['late_night_low_send_at']), '发送时间'):%H:%M}"
    )
    for name in ("late_night_high_types", "late_night_medium_types", "complex_types"):
        values[name] = _types(merged[name], name)
    overlap = set(values["late_night_high_types"]) & set(values["late_night_medium_types"])
    if overlap:
        raise InvalidInput(f"消息类型不能同时是深夜高优先级和中优先级：{'、'.join(sorted(overlap))}")
    try:
        values["complex_min_length"] = max(0, min(int(merged["complex_min_length"]), 4000))
    except (TypeError, ValueError):
        raise InvalidInput("complex_min_length 必须是整数") from None
    values["reply_to_operator"] = bool(merged["reply_to_operator"])
    return DelaySettings(**values)


async def load_delay_settings(session: AsyncSession) -> DelaySettings:
    cache = session.info.get(DELAYS_KEY)
    if isinstance(cache, DelaySettings):
        return cache
    raw = await get_setting(session, DELAYS_KEY, None)
    try:
        settings = validate_delays(raw) if isinstance(raw, dict) else DelaySettings()
    except InvalidInput:
        settings = DelaySettings()
    session.info[DELAYS_KEY] = settings
    return settings


async def save_delay_settings(session: AsyncSession, raw: dict[str, Any], by: str) -> DelaySettings:
    settings = validate_delays(raw, await load_delay_settings(session))
    await put_setting(session, DELAYS_KEY, settings.as_dict(), by)
    session.info[DELAYS_KEY] = settings
    return settings


@dataclass
class SettingsSnapshot:
    """Both settings for pages."""

    rules: SelectionRules = field(default_factory=SelectionRules)
    delays: DelaySettings = field(default_factory=DelaySettings)
