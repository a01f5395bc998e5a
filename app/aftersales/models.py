"""After-sales tables: tasks, staff records, conflicts, daily reports, big-screen viewer tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, JsonValue, UTCDateTime

TASK_TYPES = ("扫码登录", "实名认证", "视频号认证", "绑定手机", "发作品", "自拍视频", "其他")
TASK_KINDS = {"after_sales": "售后任务", "tracking": "运营跟踪"}
STATUSES = {
    "pending": "待处理",
    "waiting_user_response": "等待用户响应",
    "in_progress": "处理中",
    "completed": "已完成",
    "timeout": "超时未响应",
    "cancelled": "已取消",
}
OPEN_STATUSES = ("pending", "waiting_user_response", "in_progress")
WAITING_STATUSES = ("pending", "waiting_user_response")  # a user's reply is checked (PRODUCT §3.4)
RESPONSE_STATUSES = {"pending": "待响应", "responded": "已响应", "refused": "拒绝配合", "timeout": "超时"}
COOPERATION_LEVELS = {"high": "高", "medium": "中", "low": "低", "unknown": "未知"}
STAFF_STATUSES = {"online": "在线", "busy": "忙碌", "offline": "离线"}
SOURCES = {
    "staff_at": "工作人员 @ 用户",
    "user_message": "用户售后消息",
    "operator_assign": "运营安排",
    "manual": "手动创建",
}
KANBAN_COLUMNS = {
    "todo": ("待处理", ("pending", "waiting_user_response", "timeout")),
    "doing": ("处理中", ("in_progress",)),
    "done": ("已完成", ("completed", "cancelled")),
}


class AfterSalesStaff(Base):
    """An after-sales agent: skills (task types), working hours, status (derived or overridden)."""

    __tablename__ = "after_sales_staff"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), default=None)
    skills: Mapped[list[str]] = mapped_column(JsonValue, default=list)
    status_override: Mapped[str | None] = mapped_column(String(10), default=None)
    work_start: Mapped[str] = mapped_column(String(5), default="09:00")
    work_end: Mapped[str] = mapped_column(String(5), default="21:00")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_active_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AfterSalesTask(Base):
    __tablename__ = "after_sales_tasks"
    __table_args__ = (
        Index("ix_after_sales_tasks_group_user_status", "group_id", "target_user", "status"),
        Index("ix_after_sales_tasks_status_check", "status", "next_check_at"),
        Index("ix_after_sales_tasks_created_at", "created_at"),
        Index("ix_after_sales_tasks_user_response_status", "user_response_status"),
        Index("ix_after_sales_tasks_assigned_status", "assigned_staff_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="after_sales")
    task_type: Mapped[str] = mapped_column(String(20))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"), default=None)
    group_name: Mapped[str] = mapped_column(String(200), default="")
    target_user: Mapped[str] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(String(20))
    source_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), default=None
    )
    created_by: Mapped[str] = mapped_column(String(120), default="system")
    description: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[str] = mapped_column(String(10), default="medium")
    status: Mapped[str] = mapped_column(String(24), default="pending")
    assigned_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("after_sales_staff.id", ondelete="SET NULL"), default=None
    )
    assigned_staff_name: Mapped[str | None] = mapped_column(String(120), default=None)
    assignment_reason: Mapped[str | None] = mapped_column(String(300), default=None)
    auto_assigned_by: Mapped[str | None] = mapped_column(String(60), default=None)
    auto_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    user_response_status: Mapped[str] = mapped_column(String(12), default="pending")
    user_response_time: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    user_response_text: Mapped[str | None] = mapped_column(String(500), default=None)
    user_response_message_id: Mapped[int | None] = mapped_column(BigId, default=None)
    user_cooperation_level: Mapped[str] = mapped_column(String(10), default="unknown")
    staff_at_user_time: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    staff_follow_up_time: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JsonValue, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class AfterSalesConflict(Base):
    """An operator–user conflict (PRODUCT §7), tracked from detection to resolution."""

    __tablename__ = "after_sales_conflicts"
    __table_args__ = (Index("ix_after_sales_conflicts_group_status", "group_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), default=None)
    group_name: Mapped[str] = mapped_column(String(200), default="")
    operator_name: Mapped[str | None] = mapped_column(String(120), default=None)
    user_name: Mapped[str | None] = mapped_column(String(120), default=None)
    reason: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | resolved
    trigger_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), default=None
    )
    conciliation_command_id: Mapped[int | None] = mapped_column(BigId, default=None)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JsonValue, default=list)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(60), default=None)
    resolution: Mapped[str | None] = mapped_column(String(300), default=None)


class AfterSalesReport(Base):
    """A generated daily report (the scheduled job's record; on-demand reports are computed fresh)."""

    __tablename__ = "after_sales_reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    report_date: Mapped[str] = mapped_column(String(10), unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(JsonValue)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    send_error: Mapped[str | None] = mapped_column(String(300), default=None)


class ScreenToken(Base):
    """A revocable viewer token for the big-screen kiosk link (no login prompt)."""

    __tablename__ = "after_sales_screen_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(60))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
