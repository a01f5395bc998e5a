"""Alert settings, stored in system_settings["alerts"] and edited through PUT /api/settings/alerts.

Every duration is in seconds (≥ 1) and passes through clock.scaled_seconds (HUB_TIME_SCALE) where
it is used. The level rules (alert type → initial level) are data here too.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput
from app.system.service import get_setting, put_setting

SETTING_KEY = "alerts"

ALERT_TYPES: dict[str, str] = {
    "complaint": "用户投诉",
    "operator_conflict": "运营冲突",
    "negative_emotion": "负面情绪",
    "churn_risk": "流失风险",
    "unanswered": "长时间未回复",
    "important_question": "重要问题",
    "private_operation": "号主私自操作",
    "after_sales_refusal": "售后拒绝配合",
    "after_sales_timeout": "售后超时",
    "robot_failure": "机器人故障",
    "manual": "人工告警",
}

DEFAULT_TYPE_LEVELS: dict[str, int] = {
    "complaint": 4,
    "operator_conflict": 4,
    "negative_emotion": 3,  # keeps worsening; "sharply worse" is raised at 4 by the rule itself
    "churn_risk": 3,
    "after_sales_refusal": 3,
    "unanswered": 2,
    "important_question": 2,
    "private_operation": 2,
    "after_sales_timeout": 2,
    "robot_failure": 2,
    "manual": 1,
}


class AlertSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # §4.2 escalation while unacknowledged: one level at each offset after creation.
    escalation_steps_seconds: list[float] = msgspec.field(default_factory=lambda: [1800.0, 3600.0, 5400.0])
    unresolved_seconds: float = 7200.0
    # §4.1 unanswered: a user's question with no staff or robot answer for this long.
    unanswered_day_seconds: float = 600.0
    unanswered_night_seconds: float = 1800.0
    # negative messages of one user within this window count as "keeps worsening".
    worsening_window_seconds: float = 1800.0
    sharp_drop_score: float = -0.75  # a score this low right after a positive message: sharply worse
    positive_cancel_score: float = 0.3  # §4.3 (2) sentiment turned positive
    positive_streak: int = 3  # §4.3 (3) consecutive non-negative messages
    fatigue_after: int = 3  # §4.2 anti-fatigue: from alert number fatigue_after + 1 of a user in a day
    delivery_retry_seconds: float = 5.0  # back-off before the 2nd try; doubled before the 3rd
    delivery_attempts: int = 3
    delivery_timeout_seconds: float = 5.0  # real seconds per HTTP call
    type_levels: dict[str, int] = msgspec.field(default_factory=lambda: dict(DEFAULT_TYPE_LEVELS))
    # channels: URL templates ({phone} {text} {level} {alert_id} are filled in, URL-encoded)
    wecom_webhook_url: str = ""
    feishu_webhook_url: str = ""
    sms_url_template: str = ""
    phone_url_template: str = ""
    # who is who: role → phone numbers and WeCom display names (@ in the staff group)
    targets: dict[str, dict[str, list[str]]] = msgspec.field(default_factory=dict)


DURATION_FIELDS = (
    "unresolved_seconds",
    "unanswered_day_seconds",
    "unanswered_night_seconds",
    "worsening_window_seconds",
    "delivery_retry_seconds",
)


def validate(settings: AlertSettings) -> AlertSettings:
    for name in DURATION_FIELDS:
        value = getattr(settings, name)
        if not 1 <= value <= 30 * 86400:
            raise InvalidInput(f"{name} 必须在 1–2592000 秒之间")
    steps = settings.escalation_steps_seconds
    if len(steps) > 3 or any(not 1 <= s <= 30 * 86400 for s in steps) or list(steps) != sorted(steps):
        raise InvalidInput("escalation_steps_seconds 最多 3 个递增的秒数（每个 1–2592000）")
    if not 1 <= settings.delivery_attempts <= 10:
        raise InvalidInput("delivery_attempts 必须在 1–10 之间")
    if not 0.5 <= settings.delivery_timeout_seconds <= 60:
        raise InvalidInput("delivery_timeout_seconds 必须在 0.5–60 之间")
    if not 1 <= settings.positive_streak <= 20 or not 1 <= settings.fatigue_after <= 100:
        raise InvalidInput("positive_streak 应在 1–20，fatigue_after 应在 1–100")
    for kind, level in settings.type_levels.items():
        if kind not in ALERT_TYPES or not 1 <= level <= 4:
            raise InvalidInput(f"type_levels 无效：{kind}={level}")
    for url in (
        settings.wecom_webhook_url,
        settings.feishu_webhook_url,
        settings.sms_url_template,
        settings.phone_url_template,
    ):
        if url and not url.startswith(("http://", "https://")):
            raise InvalidInput(f"URL 必须以 http:// 或 https:// 开头：{url}")
    for role in settings.targets:
        if role not in ("staff", "supervisor", "manager", "all"):
            raise InvalidInput(f"targets 只能包含 staff / supervisor / manager / all：{role}")
    return settings


def parse(value: Any) -> AlertSettings:
    try:
        return validate(msgspec.convert(value or {}, AlertSettings))
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"告警设置无效：{exc}") from exc


def merged(current: AlertSettings, change: dict[str, Any]) -> AlertSettings:
    return parse({**msgspec.to_builtins(current), **change})


_CACHE_KEY = "alert_settings"


async def load(session: AsyncSession) -> AlertSettings:
    """The stored settings (defaults where none), read once per session (a processing batch)."""
    cached: AlertSettings | None = session.info.get(_CACHE_KEY)
    if cached is not None:
        return cached
    stored = await get_setting(session, SETTING_KEY, None)
    settings = AlertSettings()
    if stored:
        try:
            settings = msgspec.convert(stored, AlertSettings)
        except msgspec.ValidationError:
            settings = AlertSettings()
    session.info[_CACHE_KEY] = settings
    return settings


async def save(session: AsyncSession, change: dict[str, Any], by: str) -> AlertSettings:
    settings = merged(await load(session), change)
    await put_setting(session, SETTING_KEY, msgspec.to_builtins(settings), by)
    session.info[_CACHE_KEY] = settings
    return settings


def type_level(settings: AlertSettings, alert_type: str) -> int:
    return settings.type_levels.get(alert_type, DEFAULT_TYPE_LEVELS.get(alert_type, 1))
