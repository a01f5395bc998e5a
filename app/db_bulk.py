"""PostgreSQL bulk inserts with one array parameter per column (`INSERT … SELECT … FROM unnest`).

A multi-row VALUES insert has a different text for every batch size and a parameter per value,
and an executemany sends one statement per row; this statement's text never changes, so the
server keeps it prepared and the driver never re-parses it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

Columns = tuple[tuple[str, str], ...]  # (column name, PostgreSQL type), from code, never from input
_ARRAY_TYPE = {"jsonb": "text"}  # JSON travels as text and is cast per row


@cache
def unnest_insert_sql(table: str, columns: Columns, returning: str | None) -> TextClause:
    names = ", ".join(name for name, _ in columns)
    values = ", ".join(f"{name}::jsonb" if kind == "jsonb" else name for name, kind in columns)
    arrays = ", ".join(f"CAST(:{name} AS {_ARRAY_TYPE.get(kind, kind)}[])" for name, kind in columns)
    source = f"unnest({arrays}) WITH ORDINALITY AS t({names}, n)"
    sql = f"INSERT INTO {table} ({names}) SELECT {values} FROM {source} ORDER BY n"  # noqa: S608
    return text(sql + (f" RETURNING {returning}" if returning else ""))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def column_arrays(columns: Columns, rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    return {
        name: [_json(row[name]) if kind == "jsonb" else row[name] for row in rows] for name, kind in columns
    }


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
    result = await session.execute(unnest_insert_sql(table, columns, returning), column_arrays(columns, rows))
    return list(result.all()) if returning else []
