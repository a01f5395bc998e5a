"""Alert management page (告警管理, §4.5): filters, badges, cancel / escalate modals, bulk cancel,
statistics and trends, live over SSE."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.plugins.htmx import HTMXRequest as Request
from litestar.response import Redirect, Template
from markupsafe import Markup
from sqlalchemy import func, select

from app import clock
from app.alerts import config, service
from app.alerts.charts import trend_svg
from app.alerts.config import ALERT_TYPES, DEFAULT_TYPE_LEVELS
from app.alerts.models import ACTIVE, STATUS_NAMES, Alert
from app.alerts.queries import AlertFilter, deliveries_of, search_alerts, stats
from app.alerts.views import LEVEL_META, alert_row, delivery_dict
from app.auth.guards import requires
from app.auth.service import audit
from app.db import get_db
from app.errors import HubError, InvalidInput
from app.web.pages import page
from app.web.params import client_ip, parse_time

PAGE_SIZE = 50


def _split(raw: Any) -> list[str]:
    return [p.strip() for p in str(raw or "").replace("，", ",").replace("\n", ",").split(",") if p.strip()]


def settings_from_form(form: Any) -> dict[str, Any]:
    """The settings form's fields as a change for config.save (validated there)."""

    def number(name: str) -> float:
        return number_of(str(form.get(name, "")).strip(), name)

    change: dict[str, Any] = {
        "escalation_steps_seconds": [
            number_of(v, "escalation_steps_seconds") for v in _split(form.get("escalation_steps_seconds"))
        ],
        "type_levels": {
            kind: int(form.get(f"level_{kind}", DEFAULT_TYPE_LEVELS.get(kind, 1))) for kind in ALERT_TYPES
        },
        "targets": {
            role: {"phones": _split(form.get(f"phones_{role}")), "names": _split(form.get(f"names_{role}"))}
            for role in ("staff", "supervisor", "manager", "all")
        },
    }
    for name in (
        "unresolved_seconds",
        "unanswered_day_seconds",
        "unanswered_night_seconds",
        "worsening_window_seconds",
        "delivery_retry_seconds",
    ):
        change[name] = number(name)
    for name in ("fatigue_after", "positive_streak"):
        change[name] = int(number(name))
    for name in ("wecom_webhook_url", "feishu_webhook_url", "sms_url_template", "phone_url_template"):
        change[name] = str(form.get(name, "")).strip()
    return change


async def save_level_channels(session: Any, form: Any) -> None:
    """The per-level channel and target checkboxes of the settings form (alert_levels rows)."""
    from app.alerts.delivery import CHANNEL_NAMES, TARGET_NAMES

    now = clock.now()
    for value, row in (await service.levels(session)).items():
        methods = [m for m in form.getall(f"methods_{value}", []) if m in CHANNEL_NAMES]
        targets = [t for t in form.getall(f"targets_{value}", []) if t in TARGET_NAMES]
        if not targets:
            raise InvalidInput(f"L{value} 至少需要一个通知对象")
        row.notification_methods, row.notification_targets, row.updated_at = methods, targets, now


def number_of(raw: str, name: str) -> float:
    try:
        return float(raw)
    except ValueError as exc:
        raise InvalidInput(f"{name} 必须是数字") from exc


def _level(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() else None


class AlertPages(Controller):
    path = "/alerts"
    include_in_schema = False

    @get("/")
    async def index(
        self,
        request: Request,
        level: str | None = None,
        status: str | None = None,
        type: str | None = None,
        group: str | None = None,
        user: str | None = None,
        since: str | None = None,
        until: str | None = None,
        days: int = 7,
        page_no: int = 1,
    ) -> Template:
        error: str | None = None
        items: list[Alert] = []
        total = 0
        async with get_db().session() as session:
            try:
                f = AlertFilter(
                    _level(level),
                    status or None,
                    type or None,
                    group or None,
                    user or None,
                    parse_time(since, "since"),
                    parse_time(until, "until"),
                    max(page_no, 1),
                    PAGE_SIZE,
                )
                items, total = await search_alerts(session, f)
            except HubError as exc:
                error = exc.message
            summary = await stats(session, 30 if days == 30 else 7)
        target = request.htmx.target if request.htmx else None
        context: dict[str, Any] = dict(
            items=[alert_row(a) for a in items],
            total=total,
            page_no=max(page_no, 1),
            pages=max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE),
            filters={
                "level": level or "",
                "status": status or "",
                "type": type or "",
                "group": group or "",
                "user": user or "",
                "since": since or "",
                "until": until or "",
            },
            statuses=STATUS_NAMES,
            types=ALERT_TYPES,
            level_meta=LEVEL_META,
            stats=summary,
            days=summary["days"],
            chart=Markup(trend_svg(summary["trend"], f"近 {summary['days']} 天告警趋势")),  # noqa: S704 (escaped)
            can_act=bool(request.user and request.user.at_least("agent")),
            error=error,
        )
        if target == "alert-table":
            return page(request, "alerts/_table.html", "alerts", **context)
        if target == "alert-stats":
            return page(request, "alerts/_stats.html", "alerts", **context)
        return page(request, "alerts/index.html", "alerts", **context)

    @get("/settings")
    async def settings_page(self, request: Request, saved: bool = False) -> Template:
        return await self._settings(request, saved=saved)

    @post("/settings", guards=[requires("supervisor")])
    async def save_settings(self, request: Request) -> Template | Redirect:
        form = await request.form()
        try:
            change = settings_from_form(form)
            async with get_db().transaction() as session:
                await config.save(session, change, request.user.username)
                if hasattr(form, "getall") and any(k.startswith("methods_") for k in form):
                    await save_level_channels(session, form)
                await audit(
                    session, request.user.username, "settings.alerts", "alerts", {}, client_ip(request)
                )
        except HubError as exc:
            return await self._settings(request, error=exc.message, status_code=400)
        return Redirect("/alerts/settings?saved=true", status_code=303)

    async def _settings(
        self, request: Request, saved: bool = False, error: str | None = None, status_code: int = 200
    ) -> Template:
        from app.alerts.delivery import CHANNEL_NAMES, TARGET_NAMES

        async with get_db().session() as session:
            current = await config.load(session)
            level_rows = list((await service.levels(session)).values())
        return page(
            request,
            "alerts/settings.html",
            "alerts",
            status_code=status_code,
            s=current,
            levels=level_rows,
            types=ALERT_TYPES,
            defaults=DEFAULT_TYPE_LEVELS,
            channel_names=CHANNEL_NAMES,
            target_names=TARGET_NAMES,
            saved=saved,
            error=error,
        )

    @get("/panel")
    async def panel(self, request: Request) -> Template:
        """The dashboard's live panel: open and acknowledged alerts, most severe first."""
        active = Alert.status.in_(ACTIVE)
        async with get_db().session() as session:
            query = select(Alert).where(active).order_by(Alert.level.desc(), Alert.id.desc()).limit(8)
            items = list((await session.execute(query)).scalars())
            total = int(await session.scalar(select(func.count(Alert.id)).where(active)) or 0)
        rows = [alert_row(a) for a in items]
        return page(request, "alerts/_panel.html", "dashboard", items=rows, total=total)

    @get("/{alert_id:int}")
    async def detail(self, request: Request, alert_id: int) -> Template:
        async with get_db().session() as session:
            alert = await service.get_alert(session, alert_id)
            deliveries = [delivery_dict(d) for d in await deliveries_of(session, alert_id)]
        return page(
            request,
            "alerts/detail.html",
            "alerts",
            a=alert_row(alert),
            deliveries=deliveries,
            can_act=bool(request.user and request.user.at_least("agent")),
        )

    @post("/{alert_id:int}/{action:str}", guards=[requires("agent")])
    async def act(self, request: Request, alert_id: int, action: str) -> Template:
        form = await request.form()
        return await self._act(request, [alert_id], action, form)

    @post("/modal/{action:str}", guards=[requires("agent")])
    async def modal_act(self, request: Request, action: str) -> Template:
        form = await request.form()
        raw = str(form.get("alert_id", "")).strip()
        if action not in ("cancel", "escalate") or not raw.isdigit():
            return page(request, "alerts/_flash.html", "alerts", error="请选择告警", message="")
        return await self._act(request, [int(raw)], action, form)

    @post("/bulk-cancel", guards=[requires("agent")])
    async def bulk(self, request: Request) -> Template:
        form = await request.form()
        ids = (
            [int(v) for v in form.getall("alert_ids", []) if str(v).isdigit()]
            if hasattr(form, "getall")
            else []
        )
        return await self._act(request, ids, "bulk-cancel", form)

    async def _act(self, request: Request, ids: list[int], action: str, form: Any) -> Template:
        error, message = None, ""
        user = request.user.username
        try:
            async with get_db().transaction() as session:
                if action == "bulk-cancel":
                    if not ids:
                        raise HubError("请先勾选要取消的告警")
                    result = await service.bulk_cancel(session, ids, str(form.get("cancel_reason", "")), user)
                    message = f"已取消 {len(result['cancelled'])} 条告警" + (
                        f"，{len(result['skipped'])} 条已结束未变" if result["skipped"] else ""
                    )
                elif action == "cancel":
                    await service.cancel(session, ids[0], str(form.get("cancel_reason", "")), user)
                    message = f"告警 #{ids[0]} 已取消"
                elif action == "escalate":
                    raw = str(form.get("escalate_to", "")).strip()
                    alert, old = await service.escalate(
                        session,
                        ids[0],
                        int(raw) if raw.isdigit() else None,
                        str(form.get("escalate_reason", "")),
                        user,
                    )
                    message = f"告警 #{ids[0]} 已从 {old} 级升级到 {alert.level} 级"
                elif action == "acknowledge":
                    await service.acknowledge(session, ids[0], user)
                    message = f"告警 #{ids[0]} 已确认"
                elif action == "resolve":
                    await service.resolve(session, ids[0], user)
                    message = f"告警 #{ids[0]} 已解决"
                else:
                    raise HubError("未知操作")
                await audit(
                    session, user, f"alert.{action}", ",".join(map(str, ids))[:100], {}, client_ip(request)
                )
        except HubError as exc:
            error = exc.message
        response = page(request, "alerts/_flash.html", "alerts", error=error, message=message)
        response.headers["HX-Trigger"] = "alerts-changed"
        return response
