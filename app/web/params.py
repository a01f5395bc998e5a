"""Parsing helpers for query parameters shared by pages and API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.clock import as_utc
from app.config import get_settings
from app.errors import InvalidInput


def parse_time(value: str | None, name: str) -> datetime | None:
    """ISO 8601; a time without zone is read in the hub's TZ."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"{name} 不是有效的时间（ISO 8601，例如 2026-01-01T09:00）") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=get_settings().tz)
    return as_utc(moment)


def client_ip(request: Any) -> str:
    return request.client.host if request.client else ""


def check_list_filter(
    status: str | None,
    allowed: tuple[str, ...] | frozenset[str],
    page: int,
    page_size: int,
    max_page_size: int,
    since: datetime | None,
    until: datetime | None,
) -> None:
    """The checks every filtered, paginated list shares; errors name the parameter."""
    if status and status not in allowed:
        raise InvalidInput(f"status 取值无效：{status}（可选 {' | '.join(allowed)}）")
    if page < 1:
        raise InvalidInput("page 必须 ≥ 1")
    if not 1 <= page_size <= max_page_size:
        raise InvalidInput(f"page_size 必须在 1–{max_page_size} 之间")
    if since and until and since > until:
        raise InvalidInput("开始时间不能晚于结束时间")
