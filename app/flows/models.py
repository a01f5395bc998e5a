"""Flow definitions (data, versioned) and execution traces."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, JsonValue, UTCDateTime


class FlowDefinition(Base):
    __tablename__ = "flow_definitions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_flow_definitions_name_version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JsonValue)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(60), default="system")


class FlowRun(Base):
    """One execution of a flow for one message (an attempt)."""

    __tablename__ = "flow_runs"
    __table_args__ = (Index("ix_flow_runs_message", "message_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    flow_name: Mapped[str] = mapped_column(String(60))
    flow_version: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(12))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class FlowStep(Base):
    """One node of one run: what went in, what came out, how long, which error."""

    __tablename__ = "flow_steps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("flow_runs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    node: Mapped[str] = mapped_column(String(60))
    node_type: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(12))
    branch: Mapped[str | None] = mapped_column(String(60), default=None)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    input_summary: Mapped[str] = mapped_column(String(300), default="")
    output: Mapped[dict[str, Any]] = mapped_column(JsonValue, default=dict)
    error: Mapped[str | None] = mapped_column(Text, default=None)
