"""Authentication middleware, the login guard and role guards, and CSRF checks."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from app import clock
from app.auth.models import User
from app.auth.service import CurrentUser, find_token
from app.config import get_settings
from app.db import get_db
from app.errors import Forbidden, Unauthorized

CSRF_FIELD = "_csrf"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
USER_CACHE_SECONDS = 10.0

_user_cache: dict[int, tuple[float, CurrentUser | None]] = {}
_token_cache: dict[str, tuple[float, CurrentUser | None]] = {}


def forget_cached_users() -> None:
    _user_cache.clear()
    _token_cache.clear()


async def _user_from_session(user_id: int) -> CurrentUser | None:
    cached = _user_cache.get(user_id)
    if cached and time.monotonic() - cached[0] < USER_CACHE_SECONDS:
        return cached[1]
    async with get_db().session() as session:
        user = await session.get(User, user_id)
    current = (
        CurrentUser(user.id, user.username, user.display_name, user.role, "session")
        if user is not None and user.active
        else None
    )
    _user_cache[user_id] = (time.monotonic(), current)
    return current


async def user_from_bearer(token: str) -> CurrentUser | None:
    settings = get_settings()
    if settings.api_token and hmac.compare_digest(token, settings.api_token):
        return CurrentUser(None, "api", "自动化接口", "admin", "bootstrap")
    cached = _token_cache.get(token)
    if cached and time.monotonic() - cached[0] < USER_CACHE_SECONDS:
        return cached[1]
    async with get_db().transaction() as session:
        row = await find_token(session, token)
        if row is not None:
            row.last_used_at = clock.now()
    current = CurrentUser(None, f"token:{row.name}", row.name, row.role, "token") if row else None
    _token_cache[token] = (time.monotonic(), current)
    return current


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


class HubAuthenticationMiddleware(AbstractAuthenticationMiddleware):
    """Resolves the caller from a bearer token or the session; anonymous is allowed here and
    refused by the login guard on every route that is not explicitly public."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        token = bearer_token(connection)
        if token:
            return AuthenticationResult(user=await user_from_bearer(token), auth="bearer")
        session = connection.scope.get("session") or {}
        user_id = session.get("user_id") if isinstance(session, dict) else None
        user = await _user_from_session(int(user_id)) if user_id else None
        return AuthenticationResult(user=user, auth="session" if user else None)


def ensure_csrf_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    session = connection.scope.get("session")
    if not isinstance(session, dict):
        session = {}
        connection.scope["session"] = session
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return str(token)


async def check_csrf(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    session = connection.scope.get("session") or {}
    expected = session.get("csrf") if isinstance(session, dict) else None
    supplied = connection.headers.get(CSRF_HEADER)
    if not supplied and hasattr(connection, "form"):
        content_type = connection.headers.get("content-type", "")
        if "form" in content_type:
            form = await connection.form()  # type: ignore[attr-defined]
            supplied = form.get(CSRF_FIELD)
    if not expected or not supplied or not hmac.compare_digest(str(expected), str(supplied)):
        raise Forbidden("表单已过期或缺少 CSRF 令牌，请刷新页面后重试")


async def require_login(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Global guard: every route needs a user unless its opt says public."""
    if handler.opt.get("public"):
        return
    if not isinstance(connection.user, CurrentUser):
        raise Unauthorized()
    if connection.auth == "session" and connection.scope.get("method") in UNSAFE_METHODS:
        await check_csrf(connection)


def requires(role: str) -> Callable[..., Any]:
    """Guard: the caller's role ranks at least `role` (admin > supervisor > agent > qa > viewer)."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
        user = connection.user
        if not isinstance(user, CurrentUser) or not user.at_least(role):
            raise Forbidden(f"需要「{role}」及以上角色")

    return guard
