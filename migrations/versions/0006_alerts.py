"""alerts: alerts, levels, escalation history, deliveries

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 02:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = app.db.UTCDateTime(timezone=True)

# Seed 000 `alert_levels` with the channels and targets of PRODUCT.md §4.1.
LEVELS = [
    (1, "info", "信息告警", "green", ["robot", "wecom"], ["staff"], "仅需记录或提醒，企业微信通知相关人员"),
    (
        2,
        "warning",
        "警告告警",
        "yellow",
        ["robot", "wecom", "console"],
        ["staff", "supervisor"],
        "企业微信 + 控制台提醒",
    ),
    (
        3,
        "error",
        "严重告警",
        "orange",
        ["robot", "wecom", "feishu", "phone", "console"],
        ["staff", "supervisor", "manager"],
        "企业微信 + 电话",
    ),
    (
        4,
        "critical",
        "紧急告警 (P0)",
        "red",
        ["robot", "wecom", "feishu", "phone", "sms", "console"],
        ["all", "manager"],
        "企业微信 + 电话 + 短信，控制台弹窗并响铃",
    ),
]


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    levels = op.create_table(
        "alert_levels",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("level_value", sa.Integer(), nullable=False),
        sa.Column("level_code", sa.String(length=20), nullable=False),
        sa.Column("level_name", sa.String(length=50), nullable=False),
        sa.Column("color", sa.String(length=20), nullable=False),
        sa.Column("notification_methods", _json(), nullable=False),
        sa.Column("notification_targets", _json(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_levels")),
        sa.UniqueConstraint("level_code", name=op.f("uq_alert_levels_level_code")),
        sa.UniqueConstraint("level_value", name=op.f("uq_alert_levels_level_value")),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        levels,
        [
            {
                "level_value": value,
                "level_code": code,
                "level_name": name,
                "color": color,
                "notification_methods": methods,
                "notification_targets": targets,
                "description": description,
                "created_at": now,
                "updated_at": now,
            }
            for value, code, name, color, methods, targets, description in LEVELS
        ],
    )
    op.create_table(
        "alerts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("alert_type", sa.String(length=40), nullable=False),
        sa.Column("group_id", BIG_ID, nullable=True),
        sa.Column("group_name", sa.String(length=200), nullable=False),
        sa.Column("user_name", sa.String(length=120), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("initial_level", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("message_id", BIG_ID, nullable=True),
        sa.Column("last_message_id", BIG_ID, nullable=True),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("suppressed", sa.Boolean(), nullable=False),
        sa.Column("escalation_count", sa.Integer(), nullable=False),
        sa.Column("escalation_history", _json(), nullable=False),
        sa.Column("time_steps_done", sa.Integer(), nullable=False),
        sa.Column("unresolved_bumped", sa.Boolean(), nullable=False),
        sa.Column("positive_streak", sa.Integer(), nullable=False),
        sa.Column("last_sentiment_score", sa.Float(), nullable=True),
        sa.Column("next_check_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("acknowledged_by", sa.String(length=60), nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("resolved_by", sa.String(length=60), nullable=True),
        sa.Column("cancel_reason", sa.String(length=255), nullable=True),
        sa.Column("cancelled_at", TS, nullable=True),
        sa.Column("cancelled_by", sa.String(length=60), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_alerts_group_id_groups"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_alerts_message_id_messages"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_key_status", ["group_id", "user_name", "alert_type", "status"])
        batch_op.create_index("ix_alerts_status_check", ["status", "next_check_at"])
        batch_op.create_index("ix_alerts_created_at", ["created_at"])
        batch_op.create_index("ix_alerts_level_status", ["level", "status"])
        batch_op.create_index("ix_alerts_user_created", ["user_name", "created_at"])
        batch_op.create_index(batch_op.f("ix_alerts_message_id"), ["message_id"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("alert_id", BIG_ID, nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("log", _json(), nullable=False),
        sa.Column("command_id", BIG_ID, nullable=True),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_deliveries_alert_id_alerts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_deliveries")),
    )
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_alert_deliveries_alert", ["alert_id", "id"])
        batch_op.create_index("ix_alert_deliveries_status_next", ["status", "next_attempt_at"])
        batch_op.create_index("ix_alert_deliveries_created_at", ["created_at"])


def downgrade() -> None:
    op.drop_table("alert_deliveries")
    op.drop_table("alerts")
    op.drop_table("alert_levels")
