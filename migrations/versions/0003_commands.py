"""commands: the durable outbound command queue

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "commands",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("robot_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("targets", _json(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at_list", _json(), nullable=False),
        sa.Column("due_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worktool_message_id", sa.String(length=100), nullable=True),
        sa.Column("message_id", BIG_ID, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("result", _json(), nullable=True),
        sa.Column("time_cost", sa.Float(), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=60), nullable=False),
        sa.Column("sent_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("settled_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_check_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("send_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("notified_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_commands_message_id_messages"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["robot_id"], ["robots.id"], name=op.f("fk_commands_robot_id_robots"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commands")),
        sa.UniqueConstraint("send_token", name=op.f("uq_commands_send_token")),
    )
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.create_index("ix_commands_status_due", ["status", "due_at"], unique=False)
        batch_op.create_index("ix_commands_status_check", ["status", "next_check_at"], unique=False)
        batch_op.create_index("ix_commands_robot_id_id", ["robot_id", "id"], unique=False)
        batch_op.create_index("ix_commands_created_at", ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_commands_message_id"), ["message_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_commands_worktool_message_id"), ["worktool_message_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_commands_worktool_message_id"))
        batch_op.drop_index(batch_op.f("ix_commands_message_id"))
        batch_op.drop_index("ix_commands_created_at")
        batch_op.drop_index("ix_commands_robot_id_id")
        batch_op.drop_index("ix_commands_status_check")
        batch_op.drop_index("ix_commands_status_due")
    op.drop_table("commands")
