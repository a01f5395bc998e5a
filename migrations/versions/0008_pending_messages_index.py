"""pending messages index: messages still to be processed, per group, in id order

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'received'")


def upgrade() -> None:
    # Processing looks up the pending messages of the groups it holds, in id order. A partial
    # index holds only those: a processed message's entry is dead and, once an index scan has
    # met it, skipped without a heap visit, so the look-up does not grow with the table.
    op.create_index(
        "ix_messages_pending_group",
        "messages",
        ["group_id", "id"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_messages_pending_group", table_name="messages")
