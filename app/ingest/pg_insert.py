"""PostgreSQL bulk insert of stored messages (see app.db_bulk)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db_bulk import Columns, unnest_insert

COLUMNS: Columns = (
    ("robot_id", "bigint"),
    ("reported_by", "jsonb"),
    ("group_id", "bigint"),
    ("group_name", "text"),
    ("group_remark", "text"),
    ("sender_name", "text"),
    ("text", "text"),
    ("raw_text", "text"),
    ("room_type", "int"),
    ("text_type", "int"),
    ("media_kind", "text"),
    ("at_me", "boolean"),
    ("raw_payload", "jsonb"),
    ("received_at", "timestamptz"),
    ("dedup_key", "text"),
    ("status", "text"),
    ("attempts", "int"),
    ("is_staff_intervention", "boolean"),
    ("intervention_needed", "boolean"),
)


async def insert_messages(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """Insert `rows` (each with every column of COLUMNS); their ids in the order given.

    Rows of one batch have distinct dedup keys (repeats were merged before), which maps the
    returned ids back to the rows whatever order the server returns them in."""
    ids = {
        key: message_id
        for message_id, key in await unnest_insert(session, "messages", COLUMNS, rows, "id, dedup_key")
    }
    return [ids[row["dedup_key"]] for row in rows]
