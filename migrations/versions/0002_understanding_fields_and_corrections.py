"""understanding fields and corrections

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 23:11:23.460417
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_corrections",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("field", sa.String(length=20), nullable=False),
        sa.Column("old_value", sa.String(length=40), nullable=True),
        sa.Column("new_value", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sender_role", sa.String(length=20), nullable=True),
        sa.Column("corrected_by", sa.String(length=60), nullable=False),
        sa.Column("corrected_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_corrections_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_corrections")),
    )
    with op.batch_alter_table("message_corrections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_message_corrections_corrected_at"), ["corrected_at"], unique=False
        )
        batch_op.create_index("ix_message_corrections_message", ["message_id", "id"], unique=False)

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("type_reason", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("type_tier", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("after_sales_response", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("intervention_kind", sa.String(length=30), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("intervention_kind")
        batch_op.drop_column("after_sales_response")
        batch_op.drop_column("type_tier")
        batch_op.drop_column("type_reason")

    with op.batch_alter_table("message_corrections", schema=None) as batch_op:
        batch_op.drop_index("ix_message_corrections_message")
        batch_op.drop_index(batch_op.f("ix_message_corrections_corrected_at"))

    op.drop_table("message_corrections")
