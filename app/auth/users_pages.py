"""User and API-token administration (admin only)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from app.auth.guards import forget_cached_users, requires
from app.auth.models import ROLES
from app.auth.service import (
    audit,
    change_user,
    create_user,
    get_user,
    issue_token,
    list_tokens,
    list_users,
    revoke_token,
)
from app.db import get_db
from app.errors import HubError
from app.web.pages import page
from app.web.params import client_ip


class UserPages(Controller):
    path = "/users"
    include_in_schema = False
    guards = [requires("admin")]

    async def _render(
        self,
        request: Request[Any, Any, Any],
        error: str | None = None,
        new_token: str | None = None,
        status_code: int = 200,
    ) -> Template:
        async with get_db().session() as session:
            users = await list_users(session)
            tokens = await list_tokens(session)
        return page(
            request,
            "auth/users.html",
            "users",
            users=users,
            tokens=tokens,
            roles=ROLES,
            error=error,
            new_token=new_token,
            status_code=status_code,
        )

    @get("/")
    async def index(self, request: Request[Any, Any, Any]) -> Template:
        return await self._render(request)

    @post("/")
    async def create(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        form = await request.form()
        try:
            async with get_db().transaction() as session:
                user = await create_user(
                    session,
                    str(form.get("username", "")),
                    str(form.get("password", "")),
                    str(form.get("role", "")),
                    str(form.get("display_name", "")) or None,
                )
                await audit(
                    session,
                    request.user.username,
                    "user.create",
                    user.username,
                    {"role": user.role},
                    client_ip(request),
                )
        except HubError as exc:
            return await self._render(request, exc.message, status_code=exc.status_code)
        return Redirect("/users", status_code=303)

    @post("/{user_id:int}")
    async def update(self, request: Request[Any, Any, Any], user_id: int) -> Template | Redirect:
        form = await request.form()
        action = str(form.get("action", ""))
        try:
            async with get_db().transaction() as session:
                user = await get_user(session, user_id)
                if action == "role":
                    await change_user(session, user, role=str(form.get("role", "")))
                elif action == "toggle":
                    await change_user(session, user, active=not user.active)
                elif action == "password":
                    await change_user(session, user, password=str(form.get("password", "")))
                await audit(
                    session,
                    request.user.username,
                    f"user.{action or 'update'}",
                    user.username,
                    {"role": user.role, "active": user.active},
                    client_ip(request),
                )
        except HubError as exc:
            return await self._render(request, exc.message, status_code=exc.status_code)
        forget_cached_users()
        return Redirect("/users", status_code=303)

    @post("/tokens")
    async def create_token(self, request: Request[Any, Any, Any]) -> Template:
        form = await request.form()
        name = str(form.get("name", "")).strip()[:100]
        try:
            if not name:
                from app.errors import InvalidInput

                raise InvalidInput("请填写令牌用途")
            async with get_db().transaction() as session:
                row, token = await issue_token(
                    session, name, str(form.get("role", "")), request.user.username
                )
                await audit(
                    session,
                    request.user.username,
                    "token.create",
                    row.name,
                    {"role": row.role},
                    client_ip(request),
                )
        except HubError as exc:
            return await self._render(request, exc.message, status_code=exc.status_code)
        return await self._render(request, new_token=token)

    @post("/tokens/{token_id:int}/revoke")
    async def revoke(self, request: Request[Any, Any, Any], token_id: int) -> Redirect:
        async with get_db().transaction() as session:
            row = await revoke_token(session, token_id)
            await audit(session, request.user.username, "token.revoke", row.name, {}, client_ip(request))
        forget_cached_users()
        return Redirect("/users", status_code=303)
