"""PostgreSQL bulk inserts from one JSON parameter (`INSERT … SELECT … FROM json_to_recordset`).

A multi-row VALUES insert has a different text for every batch size and a parameter per value,
and an executemany sends one statement per row; this statement's text never changes, so the
server keeps it prepared and the driver never re-parses it. The rows travel as one JSON array
(encoded by msgspec), which costs the client about half the CPU of one array parameter per
column (the driver dumps those element by element, in Python).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import msgspec
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

Columns = tuple[tuple[str, str], ...]  # (column name, PostgreSQL type), from code, never from input
_encoder = msgspec.json.Encoder()


@cache
def bulk_insert_sql(table: str, columns: Columns, returning: str | None) -> TextClause:
    names = ", ".join(name for name, _ in columns)
    types = ", ".join(f"{name} {kind}" for name, kind in columns)
    # WITH ORDINALITY + ORDER BY: ids are assigned in the order of the rows given.
    source = (
        f"ROWS FROM (json_to_recordset(CAST(:rows AS json)) AS ({types})) WITH ORDINALITY AS t({names}, n)"
    )
    sql = f"INSERT INTO {table} ({names}) SELECT {names} FROM {source} ORDER BY n"  # noqa: S608
    return text(sql + (f" RETURNING {returning}" if returning else ""))


def rows_json(columns: Columns, rows: Sequence[dict[str, Any]]) -> str:
    """The rows as one JSON array of objects with exactly `columns` (JSON columns nested as is)."""
    names = [name for name, _ in columns]
    return _encoder.encode([{name: row[name] for name in names} for row in rows]).decode()


async def unnest_insert(
    session: AsyncSession,
    table: str,
    columns: Columns,
    rows: Sequence[dict[str, Any]],
    returning: str | None = None,
) -> list[Any]:
    """Insert `rows` (dicts with every column); the `returning` rows, in no guaranteed order."""
    if not rows:
        return []
    result = await session.execute(
        bulk_insert_sql(table, columns, returning), {"rows": rows_json(columns, rows)}
    )
    return list(result.all()) if returning else []
