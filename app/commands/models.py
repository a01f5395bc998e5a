"""The commands table: one row per outbound WorkTool action (PRODUCT.md §8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, defaultload, mapped_column, relationship

from app.db import Base, BigId, JsonValue, UTCDateTime
from app.robots.models import Robot


class Command(Base):
    """An outbound action. `send_token` is the idempotency key of the current attempt: it is stored
    (claimed) in its own transaction before the HTTP call, so a second job for the same attempt
    never sends, and a claim left behind by a crash is verified before anything is resent."""

    __tablename__ = "commands"
    __table_args__ = (
        Index("ix_commands_status_due", "status", "due_at"),
        Index("ix_commands_status_check", "status", "next_check_at"),
        Index("ix_commands_robot_id_id", "robot_id", "id"),
        Index("ix_commands_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    robot_id: Mapped[int] = mapped_column(ForeignKey("robots.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20), default="send_text")
    targets: Mapped[list[str]] = mapped_column(JsonValue, default=list)
    text: Mapped[str] = mapped_column(Text)
    at_list: Mapped[list[str]] = mapped_column(JsonValue, default=list)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(12), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worktool_message_id: Mapped[str | None] = mapped_column(String(100), default=None, index=True)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), default=None, index=True
    )
    error: Mapped[str | None] = mapped_column(Text, default=None)
    error_code: Mapped[int | None] = mapped_column(Integer, default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JsonValue, default=None)
    time_cost: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(60), default="system")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    send_token: Mapped[str | None] = mapped_column(String(32), default=None, unique=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    robot: Mapped[Robot] = relationship(lazy="joined", innerjoin=True)


# Commands need their robot's id and name, never its group list (a query per robot otherwise).
WITH_ROBOT = defaultload(Command.robot).raiseload(Robot.groups)
