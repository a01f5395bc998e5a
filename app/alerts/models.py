"""Alert tables: levels as data (seed 000 `alert_levels`), alerts, delivery attempts (PRODUCT.md §4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, JsonValue, UTCDateTime

OPEN, ACKNOWLEDGED, CANCELLED, RESOLVED = "open", "acknowledged", "cancelled", "resolved"
STATUSES = (OPEN, ACKNOWLEDGED, CANCELLED, RESOLVED)
ACTIVE = (OPEN, ACKNOWLEDGED)
STATUS_NAMES = {OPEN: "待处理", ACKNOWLEDGED: "已确认", CANCELLED: "告警已取消", RESOLVED: "已解决"}


class AlertLevel(Base):
    """The four levels with code, name, colour, channels and targets (editable data)."""

    __tablename__ = "alert_levels"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    level_value: Mapped[int] = mapped_column(Integer, unique=True)
    level_code: Mapped[str] = mapped_column(String(20), unique=True)
    level_name: Mapped[str] = mapped_column(String(50))
    color: Mapped[str] = mapped_column(String(20))
    notification_methods: Mapped[list[str]] = mapped_column(JsonValue, default=list)
    notification_targets: Mapped[list[str]] = mapped_column(JsonValue, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Alert(Base):
    """One problem of one user in one group; a recurrence raises it again (grouping)."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_key_status", "group_id", "user_name", "alert_type", "status"),
        Index("ix_alerts_status_check", "status", "next_check_at"),
        Index("ix_alerts_created_at", "created_at"),
        Index("ix_alerts_level_status", "level", "status"),
        Index("ix_alerts_user_created", "user_name", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_type: Mapped[str] = mapped_column(String(40))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"), default=None)
    group_name: Mapped[str] = mapped_column(String(200), default="")
    user_name: Mapped[str] = mapped_column(String(120), default="")
    level: Mapped[int] = mapped_column(Integer, default=1)
    initial_level: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    reason: Mapped[str] = mapped_column(String(500), default="")
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), default=None, index=True
    )
    last_message_id: Mapped[int | None] = mapped_column(BigId, default=None)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False)  # anti-fatigue: recorded, not pushed
    escalation_count: Mapped[int] = mapped_column(Integer, default=0)
    escalation_history: Mapped[list[dict[str, Any]]] = mapped_column(JsonValue, default=list)
    time_steps_done: Mapped[int] = mapped_column(Integer, default=0)
    unresolved_bumped: Mapped[bool] = mapped_column(Boolean, default=False)
    positive_streak: Mapped[int] = mapped_column(Integer, default=0)
    last_sentiment_score: Mapped[float | None] = mapped_column(Float, default=None)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    acknowledged_by: Mapped[str | None] = mapped_column(String(60), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(60), default=None)
    cancel_reason: Mapped[str | None] = mapped_column(String(255), default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    cancelled_by: Mapped[str | None] = mapped_column(String(60), default=None)


class AlertDelivery(Base):
    """One notification of one alert level on one channel to one target; attempts are counted."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        Index("ix_alert_deliveries_alert", "alert_id", "id"),
        Index("ix_alert_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_alert_deliveries_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    level: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending|sent|failed|skipped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    log: Mapped[list[dict[str, Any]]] = mapped_column(JsonValue, default=list)
    command_id: Mapped[int | None] = mapped_column(BigId, default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
