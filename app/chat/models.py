"""Groups, the people registry, chat sessions and messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, JsonValue, UTCDateTime

ROOM_TYPES = {1: "外部群", 2: "外部联系人", 3: "内部群", 4: "内部联系人"}
PRIVATE_ROOM_TYPES = frozenset({2, 4})

# WorkTool textType → media kind stored on the message.
MEDIA_KINDS = {
    0: "unknown",
    1: "text",
    2: "image",
    3: "voice",
    4: "card",
    5: "video",
    6: "location",
    7: "mini_program",
    8: "link",
    9: "file",
    10: "warning",
    11: "tencent_doc",
    12: "solitaire",
    13: "chat_record",
    14: "collection_form",
    15: "quote",
}

PERSON_ROLES = ("operator", "assistant", "after_sales", "user")
SENDER_ROLES = ("operator", "staff", "user", "robot")
MESSAGE_STATUSES = ("received", "processed", "failed")


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    remark: Mapped[str] = mapped_column(String(200), default="")
    room_type: Mapped[int] = mapped_column(Integer, default=1)
    conflict_state: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    message_count: Mapped[int] = mapped_column(Integer, default=0)


class Person(Base):
    """People registry (人员登记): who is an operator, an assistant or after-sales."""

    __tablename__ = "people"
    __table_args__ = (
        UniqueConstraint("display_name", "group_id", name="uq_people_name_group"),
        Index("ix_people_role", "role"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    display_name: Mapped[str] = mapped_column(String(120), index=True)
    aliases: Mapped[list[str]] = mapped_column(JsonValue, default=list)
    role: Mapped[str] = mapped_column(String(20))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), default=None)
    skills: Mapped[list[str]] = mapped_column(JsonValue, default=list)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChatSession(Base):
    """One per user per group; one per private chat (robot + contact)."""

    __tablename__ = "chat_sessions"
    __table_args__ = (Index("ix_chat_sessions_group_last", "group_id", "last_message_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    session_key: Mapped[str] = mapped_column(String(400), unique=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), default=None)
    robot_id: Mapped[int | None] = mapped_column(ForeignKey("robots.id", ondelete="SET NULL"), default=None)
    user_name: Mapped[str] = mapped_column(String(120), index=True)
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    sender_role: Mapped[str] = mapped_column(String(20), default="user")
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    first_message_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_message_id: Mapped[int | None] = mapped_column(BigId, default=None)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_status_id", "status", "id"),
        Index("ix_messages_group_received", "group_id", "received_at"),
        Index("ix_messages_group_id", "group_id", "id"),
        Index("ix_messages_sender_received", "sender_name", "received_at"),
        Index("ix_messages_dedup", "dedup_key", "received_at"),
        Index("ix_messages_robot_received", "robot_id", "received_at"),
        # Only the messages still to be processed, per group in id order (processing's look-ups).
        Index(
            "ix_messages_pending_group",
            "group_id",
            "id",
            postgresql_where=sql_text("status = 'received'"),
            sqlite_where=sql_text("status = 'received'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    robot_id: Mapped[int] = mapped_column(ForeignKey("robots.id", ondelete="RESTRICT"))
    reported_by: Mapped[list[int]] = mapped_column(JsonValue, default=list)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"), default=None)
    group_name: Mapped[str] = mapped_column(String(200), default="")
    group_remark: Mapped[str] = mapped_column(String(200), default="")
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("chat_sessions.id", ondelete="SET NULL"), default=None, index=True
    )
    sender_name: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text, default="")
    raw_text: Mapped[str] = mapped_column(Text, default="")
    room_type: Mapped[int] = mapped_column(Integer)
    text_type: Mapped[int] = mapped_column(Integer)
    media_kind: Mapped[str] = mapped_column(String(20))
    at_me: Mapped[bool] = mapped_column(Boolean, default=False)
    raw_payload: Mapped[dict[str, Any]] = mapped_column(JsonValue)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    dedup_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="received")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    sender_role: Mapped[str | None] = mapped_column(String(20), default=None)
    sender_person_id: Mapped[int | None] = mapped_column(BigId, default=None)
    message_type: Mapped[str | None] = mapped_column(String(40), default=None, index=True)
    type_confidence: Mapped[float | None] = mapped_column(Float, default=None)
    type_reason: Mapped[str | None] = mapped_column(String(300), default=None)
    type_tier: Mapped[str | None] = mapped_column(String(10), default=None)
    after_sales_response: Mapped[str | None] = mapped_column(String(10), default=None)
    sentiment_label: Mapped[str | None] = mapped_column(String(12), default=None)
    sentiment_score: Mapped[float | None] = mapped_column(Float, default=None)
    is_staff_intervention: Mapped[bool] = mapped_column(Boolean, default=False)
    intervention_needed: Mapped[bool] = mapped_column(Boolean, default=False)
    intervention_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    intervention_kind: Mapped[str | None] = mapped_column(String(30), default=None)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    @property
    def is_private(self) -> bool:
        return self.room_type in PRIVATE_ROOM_TYPES


class MessageCorrection(Base):
    """A staff member's correction of a message's type or sentiment (labelled data for retraining)."""

    __tablename__ = "message_corrections"
    __table_args__ = (Index("ix_message_corrections_message", "message_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(20))  # message_type | sentiment
    old_value: Mapped[str | None] = mapped_column(String(40), default=None)
    new_value: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text, default="")
    sender_role: Mapped[str | None] = mapped_column(String(20), default=None)
    corrected_by: Mapped[str] = mapped_column(String(60))
    corrected_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
