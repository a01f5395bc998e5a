"""The alert object of the API contract, also the context of the row partial."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.alerts.config import ALERT_TYPES
from app.alerts.models import ACTIVE, STATUS_NAMES, Alert, AlertDelivery
from app.web.templating import localtime, render_partial

LEVEL_META: dict[int, tuple[str, str, str]] = {
    1: ("info", "信息告警", "green"),
    2: ("warning", "警告告警", "yellow"),
    3: ("error", "严重告警", "orange"),
    4: ("critical", "紧急告警 (P0)", "red"),
}


def type_name(alert_type: str) -> str:
    return ALERT_TYPES.get(alert_type, alert_type)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def alert_dict(a: Alert) -> dict[str, Any]:
    code, name, color = LEVEL_META.get(a.level, ("info", "", "green"))
    return {
        "id": a.id,
        "level": a.level,
        "level_code": code,
        "level_name": name,
        "color": color,
        "initial_level": a.initial_level,
        "status": a.status,
        "status_name": STATUS_NAMES.get(a.status, a.status),
        "type": a.alert_type,
        "type_name": type_name(a.alert_type),
        "group": a.group_name,
        "group_id": a.group_id,
        "user": a.user_name,
        "reason": a.reason,
        "message_id": a.message_id,
        "last_message_id": a.last_message_id,
        "occurrences": a.occurrences,
        "suppressed": a.suppressed,
        "escalation_count": a.escalation_count,
        "escalation_history": list(a.escalation_history or []),
        "next_check_at": _iso(a.next_check_at),
        "acknowledged_at": _iso(a.acknowledged_at),
        "acknowledged_by": a.acknowledged_by,
        "resolved_at": _iso(a.resolved_at),
        "resolved_by": a.resolved_by,
        "cancel_reason": a.cancel_reason,
        "cancelled_at": _iso(a.cancelled_at),
        "cancelled_by": a.cancelled_by,
        "created_at": _iso(a.created_at),
        "updated_at": _iso(a.updated_at),
        "last_seen_at": _iso(a.last_seen_at),
    }


def delivery_dict(d: AlertDelivery) -> dict[str, Any]:
    from app.alerts.delivery import CHANNEL_NAMES, DELIVERY_STATUS_NAMES

    return {
        "id": d.id,
        "alert_id": d.alert_id,
        "level": d.level,
        "channel": d.channel,
        "channel_name": CHANNEL_NAMES.get(d.channel, d.channel),
        "target": d.target,
        "status": d.status,
        "status_name": DELIVERY_STATUS_NAMES.get(d.status, d.status),
        "attempts": d.attempts,
        "error": d.error,
        "log": list(d.log or []),
        "command_id": d.command_id,
        "next_attempt_at": _iso(d.next_attempt_at),
        "created_at": _iso(d.created_at),
        "delivered_at": _iso(d.delivered_at),
    }


def alert_row(a: Alert) -> dict[str, Any]:
    return alert_dict(a) | {
        "created_local": localtime(a.created_at, "%m-%d %H:%M:%S"),
        "cancelled_local": localtime(a.cancelled_at, "%m-%d %H:%M") if a.cancelled_at else "",
        "active": a.status in ACTIVE,
    }


def render_row(a: Alert, can_act: bool = True) -> str:
    return render_partial("alerts/_row.html", a=alert_row(a), can_act=can_act)
