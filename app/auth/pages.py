"""Login and logout pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from app.auth.guards import check_csrf, ensure_csrf_token, forget_cached_users, requires
from app.auth.service import audit, authenticate, list_audit
from app.db import get_db
from app.errors import Forbidden
from app.web.pages import page
from app.web.params import client_ip


def safe_next(target: str | None) -> str:
    """Only same-site relative paths; anything else goes to the dashboard."""
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


class AuthPages(Controller):
    include_in_schema = False

    @get("/login", opt={"public": True})
    async def login_form(
        self, request: Request[Any, Any, Any], next: str | None = None
    ) -> Template | Redirect:
        session = request.scope.get("session") or {}
        if isinstance(session, dict) and session.get("user_id"):
            return Redirect(safe_next(next), status_code=303)
        return page(request, "auth/login.html", next=safe_next(next), error=None)

    @post("/login", opt={"public": True}, status_code=200)
    async def login(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        form = await request.form()
        next_url = safe_next(form.get("next"))
        try:
            await check_csrf(request)
        except Forbidden as exc:
            return page(request, "auth/login.html", next=next_url, error=exc.message, status_code=403)
        username = str(form.get("username", ""))[:60]
        password = str(form.get("password", ""))[:200]
        async with get_db().transaction() as session:
            user = await authenticate(session, username, password)
            await audit(
                session, username or "?", "login" if user else "login_failed", "", {}, client_ip(request)
            )
        if user is None:
            return page(
                request,
                "auth/login.html",
                next=next_url,
                error="用户名或密码错误",
                username=username,
                status_code=401,
            )
        request.clear_session()
        request.set_session({"user_id": user.id})
        ensure_csrf_token(request)
        return Redirect(next_url, status_code=303)

    @post("/logout", status_code=303)
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        async with get_db().transaction() as session:
            await audit(session, request.user.username, "logout", "", {}, client_ip(request))
        request.clear_session()
        forget_cached_users()
        return Redirect("/login", status_code=303)


class AuditPages(Controller):
    include_in_schema = False

    @get("/audit", guards=[requires("supervisor")])
    async def audit_log(
        self,
        request: Request[Any, Any, Any],
        actor: str | None = None,
        action: str | None = None,
        page_no: int = 1,
    ) -> Template:
        page_no = max(page_no, 1)
        async with get_db().session() as session:
            entries, total = await list_audit(session, actor or None, action or None, page_no, 50)
        return page(
            request,
            "auth/audit.html",
            "audit",
            entries=entries,
            total=total,
            page_no=page_no,
            pages=max(1, (total + 49) // 50),
            filters={"actor": actor or "", "action": action or ""},
        )
