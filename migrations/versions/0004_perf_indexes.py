"""perf indexes: indexes for processing hot paths

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 02:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Recent context and "earlier messages of this group" read the newest rows below an id.
    op.create_index("ix_messages_group_id", "messages", ["group_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_messages_group_id", table_name="messages")
