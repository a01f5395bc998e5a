"""robot operations: robot roles, shifts, selection rules, reply delays, templates, health

Shift, selection-rule and delay settings live in system_settings (keys robot_selection_rules and
reply_delay_settings); this migration adds the robot health columns and history and the reply
template library (seeded).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 02:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


ROBOT_COLUMNS = (
    ("online", sa.Boolean),
    ("online_checked_at", None),
    ("health_score", sa.Integer),
    ("health_status", None),
    ("health_checked_at", None),
    ("health_recommendations", None),
)


def upgrade() -> None:
    with op.batch_alter_table("robots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("online", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("online_checked_at", app.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("health_score", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("health_status", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("health_checked_at", app.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("health_recommendations", _json(), nullable=True))

    op.create_table(
        "robot_health",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("robot_id", BIG_ID, nullable=False),
        sa.Column("checked_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("health_score", sa.Integer(), nullable=False),
        sa.Column("health_status", sa.String(length=20), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=True),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("command_count", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("success_rate", sa.Float(), nullable=True),
        sa.Column("average_response_time", sa.Integer(), nullable=True),
        sa.Column("recommendations", _json(), nullable=False),
        sa.ForeignKeyConstraint(
            ["robot_id"], ["robots.id"], name=op.f("fk_robot_health_robot_id_robots"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_robot_health")),
    )
    with op.batch_alter_table("robot_health", schema=None) as batch_op:
        batch_op.create_index("ix_robot_health_robot_checked", ["robot_id", "checked_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_robot_health_checked_at"), ["checked_at"], unique=False)

    templates = op.create_table(
        "reply_templates",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("keywords", _json(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=60), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reply_templates")),
        sa.UniqueConstraint("key", name=op.f("uq_reply_templates_key")),
    )
    with op.batch_alter_table("reply_templates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reply_templates_category"), ["category"], unique=False)

    from app.replies.defaults import DEFAULT_TEMPLATES

    now = datetime.now(UTC)
    op.bulk_insert(
        templates,
        [
            {
                **t,
                "active": True,
                "sort_order": i,
                "created_at": now,
                "updated_at": now,
                "updated_by": "system",
            }
            for i, t in enumerate(DEFAULT_TEMPLATES)
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("reply_templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reply_templates_category"))
    op.drop_table("reply_templates")
    with op.batch_alter_table("robot_health", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_robot_health_checked_at"))
        batch_op.drop_index("ix_robot_health_robot_checked")
    op.drop_table("robot_health")
    with op.batch_alter_table("robots", schema=None) as batch_op:
        for name, _ in reversed(ROBOT_COLUMNS):
            batch_op.drop_column(name)
