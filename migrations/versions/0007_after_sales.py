"""after sales: after-sales tasks, staff, operator tracking, reports

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, app.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "after_sales_staff",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("person_id", BIG_ID, nullable=True),
        sa.Column("skills", _json(), nullable=False),
        sa.Column("status_override", sa.String(length=10), nullable=True),
        sa.Column("work_start", sa.String(length=5), nullable=False),
        sa.Column("work_end", sa.String(length=5), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _time("last_active_at"),
        _time("last_assigned_at"),
        _time("created_at", False),
        _time("updated_at", False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_after_sales_staff_person_id_people"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_after_sales_staff")),
        sa.UniqueConstraint("name", name=op.f("uq_after_sales_staff_name")),
    )
    op.create_table(
        "after_sales_tasks",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("task_type", sa.String(length=20), nullable=False),
        sa.Column("group_id", BIG_ID, nullable=True),
        sa.Column("group_name", sa.String(length=200), nullable=False),
        sa.Column("target_user", sa.String(length=120), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("source_message_id", BIG_ID, nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("assigned_staff_id", BIG_ID, nullable=True),
        sa.Column("assigned_staff_name", sa.String(length=120), nullable=True),
        sa.Column("assignment_reason", sa.String(length=300), nullable=True),
        sa.Column("auto_assigned_by", sa.String(length=60), nullable=True),
        _time("auto_assigned_at"),
        sa.Column("user_response_status", sa.String(length=12), nullable=False),
        _time("user_response_time"),
        sa.Column("user_response_text", sa.String(length=500), nullable=True),
        sa.Column("user_response_message_id", BIG_ID, nullable=True),
        sa.Column("user_cooperation_level", sa.String(length=10), nullable=False),
        _time("staff_at_user_time"),
        _time("staff_follow_up_time"),
        _time("deadline"),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        _time("next_check_at"),
        sa.Column("history", _json(), nullable=False),
        _time("created_at", False),
        _time("updated_at", False),
        _time("completed_at"),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_after_sales_tasks_group_id_groups"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["source_message_id"],
            ["messages.id"],
            name=op.f("fk_after_sales_tasks_source_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["assigned_staff_id"],
            ["after_sales_staff.id"],
            name=op.f("fk_after_sales_tasks_assigned_staff_id_after_sales_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_after_sales_tasks")),
    )
    with op.batch_alter_table("after_sales_tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_after_sales_tasks_group_user_status", ["group_id", "target_user", "status"], unique=False
        )
        batch_op.create_index("ix_after_sales_tasks_status_check", ["status", "next_check_at"], unique=False)
        batch_op.create_index("ix_after_sales_tasks_created_at", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_after_sales_tasks_user_response_status", ["user_response_status"], unique=False
        )
        batch_op.create_index(
            "ix_after_sales_tasks_assigned_status", ["assigned_staff_id", "status"], unique=False
        )
    op.create_table(
        "after_sales_conflicts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("group_id", BIG_ID, nullable=True),
        sa.Column("group_name", sa.String(length=200), nullable=False),
        sa.Column("operator_name", sa.String(length=120), nullable=True),
        sa.Column("user_name", sa.String(length=120), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("trigger_message_id", BIG_ID, nullable=True),
        sa.Column("conciliation_command_id", BIG_ID, nullable=True),
        sa.Column("history", _json(), nullable=False),
        _time("started_at", False),
        _time("resolved_at"),
        sa.Column("resolved_by", sa.String(length=60), nullable=True),
        sa.Column("resolution", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_after_sales_conflicts_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trigger_message_id"],
            ["messages.id"],
            name=op.f("fk_after_sales_conflicts_trigger_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_after_sales_conflicts")),
    )
    with op.batch_alter_table("after_sales_conflicts", schema=None) as batch_op:
        batch_op.create_index("ix_after_sales_conflicts_group_status", ["group_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_after_sales_conflicts_started_at"), ["started_at"], unique=False)
    op.create_table(
        "after_sales_reports",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("report_date", sa.String(length=10), nullable=False),
        sa.Column("data", _json(), nullable=False),
        _time("generated_at", False),
        _time("sent_at"),
        sa.Column("send_error", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_after_sales_reports")),
        sa.UniqueConstraint("report_date", name=op.f("uq_after_sales_reports_report_date")),
    )
    op.create_table(
        "after_sales_screen_tokens",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        _time("created_at", False),
        sa.Column("created_by", sa.String(length=60), nullable=False),
        _time("revoked_at"),
        _time("last_used_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_after_sales_screen_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_after_sales_screen_tokens_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("after_sales_screen_tokens")
    op.drop_table("after_sales_reports")
    with op.batch_alter_table("after_sales_conflicts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_after_sales_conflicts_started_at"))
        batch_op.drop_index("ix_after_sales_conflicts_group_status")
    op.drop_table("after_sales_conflicts")
    with op.batch_alter_table("after_sales_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_after_sales_tasks_assigned_status")
        batch_op.drop_index("ix_after_sales_tasks_user_response_status")
        batch_op.drop_index("ix_after_sales_tasks_created_at")
        batch_op.drop_index("ix_after_sales_tasks_status_check")
        batch_op.drop_index("ix_after_sales_tasks_group_user_status")
    op.drop_table("after_sales_tasks")
    op.drop_table("after_sales_staff")
