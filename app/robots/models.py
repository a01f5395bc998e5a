"""Robot registry and the command results WorkTool calls back with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, Float, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.chat.models import Group
from app.db import Base, BigId, JsonValue, UTCDateTime

ROBOT_ROLES = {
    "monitor": "监控机器人",
    "notify": "通知机器人",
    "day_reply": "白班回复机器人",
    "night_reply": "晚班回复机器人",
}
DEFAULT_SHIFT = {"monitor": "all_day", "notify": "all_day", "day_reply": "day", "night_reply": "night"}
SHIFTS = {"all_day": "24 小时", "day": "白班 09:00–21:00", "night": "晚班 21:00–09:00"}

robot_groups = Table(
    "robot_groups",
    Base.metadata,
    Column("robot_id", ForeignKey("robots.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
)


class Robot(Base):
    __tablename__ = "robots"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    robot_id: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20), index=True)
    shift: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    # Polled through WorkTool's robotInfo/online (None: never polled or the poll failed).
    online: Mapped[bool | None] = mapped_column(Boolean, default=None)
    online_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The latest health check (app.robots.health); the history is in robot_health.
    health_score: Mapped[int | None] = mapped_column(Integer, default=None)
    health_status: Mapped[str | None] = mapped_column(String(20), default=None)
    health_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    health_recommendations: Mapped[list[str] | None] = mapped_column(JsonValue, default=None)

    groups: Mapped[list[Group]] = relationship(secondary=robot_groups, lazy="selectin", order_by=Group.name)

    @property
    def role_name(self) -> str:
        return ROBOT_ROLES.get(self.role, self.role)


class RobotHealth(Base):
    """One health check of one robot (history; the latest is also on the robot row)."""

    __tablename__ = "robot_health"
    __table_args__ = (Index("ix_robot_health_robot_checked", "robot_id", "checked_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    robot_id: Mapped[int] = mapped_column(ForeignKey("robots.id", ondelete="CASCADE"))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    health_score: Mapped[int] = mapped_column(Integer)
    health_status: Mapped[str] = mapped_column(String(20))
    online: Mapped[bool | None] = mapped_column(Boolean, default=None)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    command_count: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    success_rate: Mapped[float | None] = mapped_column(Float, default=None)
    average_response_time: Mapped[int | None] = mapped_column(Integer, default=None)  # ms
    recommendations: Mapped[list[str]] = mapped_column(JsonValue, default=list)


class CommandResult(Base):
    """A result callback from WorkTool (WORKTOOL.md §3), stored as received."""

    __tablename__ = "command_results"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    robot_id: Mapped[int] = mapped_column(ForeignKey("robots.id", ondelete="CASCADE"), index=True)
    worktool_message_id: Mapped[str] = mapped_column(String(100), index=True)
    command_type: Mapped[int | None] = mapped_column(Integer, default=None)
    error_code: Mapped[int] = mapped_column(Integer, default=0)
    error_reason: Mapped[str] = mapped_column(Text, default="")
    time_cost: Mapped[float | None] = mapped_column(default=None)
    run_time_ms: Mapped[int | None] = mapped_column(BigId, default=None)
    success_list: Mapped[list[str]] = mapped_column(JsonValue, default=list)
    fail_list: Mapped[list[str]] = mapped_column(JsonValue, default=list)
    raw_payload: Mapped[dict[str, Any]] = mapped_column(JsonValue)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    settled: Mapped[bool] = mapped_column(Boolean, default=False)
