"""After-sales settings, stored in system settings (key `aftersales.settings`) and editable in the console.

Durations are in seconds as configured; every use goes through clock.scaled() (HUB_TIME_SCALE).
"""

from __future__ import annotations

import importlib
import logging
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput
from app.system.service import get_setting, put_setting

log = logging.getLogger(__name__)

SETTING_KEY = "aftersales.settings"
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

DEFAULT_TEMPLATES = {
    "comfort_staff_online": "好的，请稍等，售后人员马上就来处理 👍",
    "comfort_staff_busy": "好的，请稍等，售后人员正在处理其他任务，马上就来 ⏳",
    "comfort_staff_offline": "好的，请稍等，已通知售后人员，马上会来处理 🔔",
    "conciliation": "我们马上配合他，去帮助他完成实名或者扫码登录等相关工作",
}
TEMPLATE_NAMES = {
    "comfort_staff_online": "安抚（售后在线）",
    "comfort_staff_busy": "安抚（售后忙碌）",
    "comfort_staff_offline": "安抚（售后离线）",
    "conciliation": "冲突调和",
}
STATUS_TEMPLATE = {
    "online": "comfort_staff_online",
    "busy": "comfort_staff_busy",
    "offline": "comfort_staff_offline",
}


@dataclass(frozen=True)
class AfterSalesSettings:
    response_wait_seconds: float = 300.0  # silence after staff @ before the first reminder
    reminder_interval_seconds: float = 300.0  # between reminders
    max_reminders: int = 2  # reminders before the task times out
    staff_follow_up_seconds: float = 300.0  # user responded, no staff answer → remind (§3.5 case 4)
    task_deadline_seconds: float = 86400.0  # deadline of a new task
    staff_active_seconds: float = 1800.0  # a staff message within this keeps them online
    busy_threshold: int = 3  # in-progress tasks from which an online agent counts as busy
    report_time: str = "21:30"  # local time the daily report is generated and sent
    staff_group: str = "售后工作群"  # where the notify robot posts staff notices
    manager_group: str = "管理群"  # where the daily report goes
    managers: list[str] = field(default_factory=list)  # @-mentioned with the report
    templates: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TEMPLATES))


NUMBER_LIMITS: dict[str, tuple[float, float]] = {
    "response_wait_seconds": (1, 7 * 86400),
    "reminder_interval_seconds": (1, 7 * 86400),
    "max_reminders": (0, 10),
    "staff_follow_up_seconds": (1, 7 * 86400),
    "task_deadline_seconds": (60, 30 * 86400),
    "staff_active_seconds": (60, 7 * 86400),
    "busy_threshold": (1, 100),
}


def parse_settings(raw: dict[str, Any] | None) -> AfterSalesSettings:
    """Stored or submitted values over the defaults; raises InvalidInput naming the field."""
    raw = dict(raw or {})
    base = AfterSalesSettings()
    values: dict[str, Any] = {}
    for f in fields(AfterSalesSettings):
        if f.name not in raw or raw[f.name] in (None, ""):
            continue
        value = raw[f.name]
        if f.name in NUMBER_LIMITS:
            low, high = NUMBER_LIMITS[f.name]
            try:
                number = float(value)
            except (TypeError, ValueError) as exc:
                raise InvalidInput(f"{f.name} 必须是数字") from exc
            if not low <= number <= high:
                raise InvalidInput(f"{f.name} 必须在 {low:g}–{high:g} 之间")
            values[f.name] = int(number) if isinstance(getattr(base, f.name), int) else number
        elif f.name == "report_time":
            if not HHMM.match(str(value).strip()):
                raise InvalidInput("report_time 必须是 HH:MM")
            values[f.name] = str(value).strip()
        elif f.name in ("staff_group", "manager_group"):
            text = str(value).strip()
            if not text or len(text) > 200:
                raise InvalidInput(f"{f.name} 不能为空，且不超过 200 个字符")
            values[f.name] = text
        elif f.name == "managers":
            names = value if isinstance(value, list) else re.split(r"[,，、\s]+", str(value))
            values[f.name] = [str(n).strip() for n in names if str(n).strip()][:20]
        elif f.name == "templates":
            if not isinstance(value, dict):
                raise InvalidInput("templates 必须是对象")
            merged = dict(DEFAULT_TEMPLATES)
            for key, text in value.items():
                if key not in DEFAULT_TEMPLATES:
                    raise InvalidInput(f"未知的模板：{key}")
                text = str(text).strip()
                if not text or len(text) > 500:
                    raise InvalidInput(f"模板「{TEMPLATE_NAMES[key]}」不能为空，且不超过 500 个字符")
                merged[key] = text
            values[f.name] = merged
    return AfterSalesSettings(**{**asdict(base), **values})


async def load_settings(session: AsyncSession) -> AfterSalesSettings:
    try:
        return parse_settings(await get_setting(session, SETTING_KEY, {}))
    except InvalidInput:
        return AfterSalesSettings()


async def save_settings(session: AsyncSession, raw: dict[str, Any], by: str) -> AfterSalesSettings:
    current = asdict(await load_settings(session))
    if "templates" in raw and isinstance(raw["templates"], dict):
        raw = {**raw, "templates": {**current["templates"], **raw["templates"]}}
    settings = parse_settings({**current, **raw})
    await put_setting(session, SETTING_KEY, asdict(settings), by)
    return settings


async def render_text(session: AsyncSession, key: str, settings: AfterSalesSettings, **variables: str) -> str:
    """A reply template: the shared template library when it exists, else the after-sales settings."""
    render_template = _library()
    if render_template is not None:
        try:
            text = await render_template(session, key, **variables)
            if text:
                return str(text)
        except Exception:  # a missing key or a broken library must not lose the reply
            log.warning("reply template %s unavailable, using the after-sales default", key, exc_info=True)
    return fill(settings.templates.get(key) or DEFAULT_TEMPLATES[key], variables)


def fill(template: str, variables: dict[str, str]) -> str:
    """{name} placeholders; unknown ones stay as written."""
    return re.sub(r"\{(\w+)\}", lambda m: str(variables.get(m.group(1), m.group(0))), template)


def _library() -> Any:
    """The shared reply-template library (app.replies.templates), when installed."""
    try:
        module = importlib.import_module("app.replies.templates")
    except ImportError:
        return None
    return getattr(module, "render_template", None)
