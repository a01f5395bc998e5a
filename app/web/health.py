"""Liveness and readiness probes (public, for load balancers and monitoring)."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.datastructures import State
from sqlalchemy import text

from app.db import get_db


@get("/health", opt={"public": True}, tags=["运维"], summary="存活检查")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", opt={"public": True}, tags=["运维"], summary="就绪检查（数据库；配置时含 Redis）")
async def ready(state: State) -> Response[dict[str, Any]]:
    checks: dict[str, str] = {}
    healthy = True
    try:
        async with get_db().session() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        healthy = False
        checks["database"] = f"error: {type(exc).__name__}"
    if state.settings.redis_url:
        try:
            from redis.asyncio import Redis

            client = Redis.from_url(state.settings.redis_url, socket_timeout=2)
            try:
                await client.ping()
            finally:
                await client.aclose()
            checks["redis"] = "ok"
        except Exception as exc:
            healthy = False
            checks["redis"] = f"error: {type(exc).__name__}"
    return Response(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, status_code=200 if healthy else 503
    )
