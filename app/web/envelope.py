"""The one envelope for /api answers: {"code": 0, "message": …, "data": …}."""

from __future__ import annotations

from typing import Any

from litestar import Response

OK_MESSAGE = "ok"


def ok(data: Any = None, message: str = OK_MESSAGE, status_code: int = 200) -> Response[dict[str, Any]]:
    return Response({"code": 0, "message": message, "data": data}, status_code=status_code)


def ok_page(items: list[Any], total: int, page: int, page_size: int) -> Response[dict[str, Any]]:
    """A page of a filtered list: data = {"items", "total", "page", "page_size"}."""
    return ok({"items": items, "total": total, "page": page, "page_size": page_size})


def error_body(message: str, error: str | None = None) -> dict[str, Any]:
    return {"code": -1, "message": message, "error": error or message, "data": None}
