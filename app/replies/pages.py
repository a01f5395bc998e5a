"""Settings pages (回复设置): shifts and robot selection rules, reply delays, reply templates."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.plugins.htmx import HTMXRequest as Request
from litestar.response import Redirect, Template

from app.auth.guards import requires
from app.auth.service import audit
from app.db import get_db
from app.errors import HubError, InvalidInput
from app.replies.defaults import CATEGORIES, VARIABLES
from app.replies.delays import CASE_NAMES
from app.replies.settings import (
    DELAY_FIELDS,
    HEALTH_STATUSES,
    load_delay_settings,
    load_selection_rules,
    save_delay_settings,
    save_selection_rules,
)
from app.replies.templates import (
    create_template,
    fill,
    get_template,
    list_templates,
    update_template,
    validate_template_text,
)
from app.robots.models import ROBOT_ROLES
from app.robots.service import list_robots
from app.understanding.types import MESSAGE_TYPES
from app.web.pages import page
from app.web.params import client_ip

PREVIEW_VALUES = {
    "user_name": "张三",
    "staff_name": "售后小王",
    "task_type": "扫码登录",
    "group_name": "号主服务1群",
}


def _types(form: Any, name: str) -> list[str]:
    return [str(v) for v in form.getall(name, [])] if hasattr(form, "getall") else []


class ReplySettingsPages(Controller):
    path = "/settings/replies"
    include_in_schema = False

    async def _render(
        self, request: Request, error: str | None = None, saved: str | None = None, status_code: int = 200
    ) -> Template:
        async with get_db().session() as session:
            rules = await load_selection_rules(session)
            delays = await load_delay_settings(session)
            robots = await list_robots(session)
        return page(
            request,
            "replies/settings.html",
            "reply_settings",
            rules=rules,
            delays=delays,
            delay_fields=DELAY_FIELDS,
            delay_values=delays.as_dict(),
            case_names=CASE_NAMES,
            types=MESSAGE_TYPES,
            roles=ROBOT_ROLES,
            robots=[r for r in robots if r.active],
            health_statuses=HEALTH_STATUSES,
            error=error,
            saved=saved,
            status_code=status_code,
        )

    @get("/")
    async def index(self, request: Request, saved: str | None = None) -> Template:
        return await self._render(request, saved=saved)

    @post("/shifts", guards=[requires("supervisor")])
    async def save_shifts(self, request: Request) -> Template | Redirect:
        form = await request.form()
        raw = {
            "day_shift_time_range": f"{form.get('day_start', '')}-{form.get('day_end', '')}",
            "after_sales_notify_robot": str(form.get("after_sales_notify_robot", "")),
            "p0_alert_notify_robot": str(form.get("p0_alert_notify_robot", "")),
            "fallback_statuses": _types(form, "fallback_statuses"),
        }
        try:
            async with get_db().transaction() as session:
                rules = await save_selection_rules(session, raw, request.user.username)
                await audit(
                    session,
                    request.user.username,
                    "settings.shifts",
                    "班次",
                    rules.as_dict(),
                    client_ip(request),
                )
        except HubError as exc:
            return await self._render(request, error=exc.message, status_code=exc.status_code)
        return Redirect("/settings/replies?saved=shifts", status_code=303)

    @post("/delays", guards=[requires("supervisor")])
    async def save_delays(self, request: Request) -> Template | Redirect:
        form = await request.form()
        raw: dict[str, Any] = {}
        try:
            for name in DELAY_FIELDS:
                low, high = str(form.get(f"{name}_min", "")).strip(), str(form.get(f"{name}_max", "")).strip()
                if not low or not high:
                    raise InvalidInput(f"{DELAY_FIELDS[name]}：请填写最小和最大秒数")
                raw[name] = [low, high]
            raw["late_night_time_range"] = f"{form.get('late_start', '')}-{form.get('late_end', '')}"
            raw["late_night_low_send_at"] = str(form.get("late_night_low_send_at", ""))
            raw["late_night_high_types"] = _types(form, "late_night_high_types")
            raw["late_night_medium_types"] = _types(form, "late_night_medium_types")
            raw["complex_types"] = _types(form, "complex_types")
            raw["complex_min_length"] = str(form.get("complex_min_length", "0")).strip() or "0"
            raw["reply_to_operator"] = form.get("reply_to_operator") == "on"
            async with get_db().transaction() as session:
                await save_delay_settings(session, raw, request.user.username)
                await audit(
                    session, request.user.username, "settings.delays", "回复延迟", {}, client_ip(request)
                )
        except HubError as exc:
            return await self._render(request, error=exc.message, status_code=exc.status_code)
        return Redirect("/settings/replies?saved=delays", status_code=303)


class ReplyTemplatePages(Controller):
    path = "/settings/replies/templates"
    include_in_schema = False

    async def _render(
        self,
        request: Request,
        category: str | None = None,
        q: str | None = None,
        error: str | None = None,
        form: dict[str, Any] | None = None,
        status_code: int = 200,
    ) -> Template:
        async with get_db().session() as session:
            rows = await list_templates(session, category if category in CATEGORIES else None, q or None)
        partial = request.htmx is not None and request.htmx.target == "template-list"
        return page(
            request,
            "replies/_template_list.html" if partial else "replies/templates.html",
            "reply_settings",
            templates=rows,
            categories=CATEGORIES,
            variables=VARIABLES,
            filters={"category": category or "", "q": q or ""},
            error=error,
            form=form or {},
            status_code=status_code,
        )

    @get("/")
    async def index(self, request: Request, category: str | None = None, q: str | None = None) -> Template:
        return await self._render(request, category, q)

    @post("/", guards=[requires("supervisor")])
    async def create(self, request: Request) -> Template | Redirect:
        form = await request.form()
        try:
            async with get_db().transaction() as session:
                row = await create_template(
                    session,
                    key=str(form.get("key", "")),
                    category=str(form.get("category", "")),
                    title=str(form.get("title", "")),
                    text=str(form.get("text", "")),
                    keywords=str(form.get("keywords", "")),
                    by=request.user.username,
                )
                await audit(
                    session, request.user.username, "template.create", row.key, {}, client_ip(request)
                )
        except HubError as exc:
            return await self._render(
                request, error=exc.message, form=dict(form), status_code=exc.status_code
            )
        return Redirect(f"/settings/replies/templates#tpl-{row.key}", status_code=303)

    @post("/{key:str}", guards=[requires("supervisor")])
    async def update(self, request: Request, key: str) -> Template:
        """Save one template from its inline form; answers the row (htmx) with the outcome."""
        form = await request.form()
        error, saved = None, False
        async with get_db().transaction() as session:
            row = await get_template(session, key)
            try:
                async with session.begin_nested():
                    await update_template(
                        session,
                        row,
                        text=str(form.get("text", "")),
                        title=str(form.get("title", "")),
                        category=str(form.get("category", row.category)),
                        keywords=str(form.get("keywords", "")),
                        active=form.get("active") == "on",
                        by=request.user.username,
                    )
                    await audit(
                        session, request.user.username, "template.update", row.key, {}, client_ip(request)
                    )
                saved = True
            except HubError as exc:
                error = exc.message
                await session.refresh(row)
        return page(
            request,
            "replies/_template_row.html",
            "reply_settings",
            t=row,
            categories=CATEGORIES,
            error=error,
            saved=saved,
            status_code=200,
        )

    @post("/{key:str}/preview")
    async def preview(self, request: Request, key: str) -> Template:
        form = await request.form()
        try:
            text = fill(validate_template_text(str(form.get("text", ""))), PREVIEW_VALUES)
            error = None
        except HubError as exc:
            text, error = "", exc.message
        return page(request, "replies/_preview.html", "reply_settings", text=text, error=error)
