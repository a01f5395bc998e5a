"""PostgreSQL bulk insert of stored messages: one array parameter per column (`unnest`).

A multi-row VALUES insert has a different text for every batch size, with twenty parameters a
row, and the driver re-parses it on every batch; this statement's text never changes.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

COLUMNS: tuple[tuple[str, str], ...] = (
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
_ARRAY_TYPE = {"jsonb": "text"}  # JSON travels as text and is cast per row
# Built once from the constant column list above; every value is a bound parameter.
INSERT_MESSAGES = text(
    "INSERT INTO messages ({cols}) SELECT {values} FROM unnest({arrays}) WITH ORDINALITY AS t({cols}, n) "  # noqa: S608
    "ORDER BY n RETURNING id, dedup_key".format(
        cols=", ".join(name for name, _ in COLUMNS),
        values=", ".join(f"{name}::jsonb" if kind == "jsonb" else name for name, kind in COLUMNS),
        arrays=", ".join(f"CAST(:{name} AS {_ARRAY_TYPE.get(kind, kind)}[])" for name, kind in COLUMNS),
    )
)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def insert_messages(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """Insert `rows` (each with every column of COLUMNS); their ids in the order given.

    Rows of one batch have distinct dedup keys (repeats were merged before), which maps the
    returned ids back to the rows whatever order the server returns them in."""
    params = {
        name: [_json(row[name]) if kind == "jsonb" else row[name] for row in rows] for name, kind in COLUMNS
    }
    ids = {key: message_id for message_id, key in await session.execute(INSERT_MESSAGES, params)}
    return [ids[row["dedup_key"]] for row in rows]
