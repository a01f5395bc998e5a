"""Console pages: task kanban (待处理 / 处理中 / 已完成), staff, settings and the daily report."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from litestar import Controller, Response, get, post
from litestar.plugins.htmx import HTMXRequest as Request
from litestar.response import Template
from sqlalchemy import select

from app import clock
from app.aftersales import conflicts as conflict_service
from app.aftersales.charts import bar_chart, stacked_bar
from app.aftersales.config import NUMBER_LIMITS, load_settings, save_settings
from app.aftersales.models import (
    COOPERATION_LEVELS,
    KANBAN_COLUMNS,
    RESPONSE_STATUSES,
    STAFF_STATUSES,
    STATUSES,
    TASK_KINDS,
    TASK_TYPES,
)
from app.aftersales.queries import TaskFilter, search_tasks
from app.aftersales.report import build_report, deliver_report, parse_day, to_csv, to_xlsx
from app.aftersales.screen import create_screen_token, list_screen_tokens, revoke_screen_token
from app.aftersales.service import (
    assign_manually,
    change_status,
    create_task,
    get_task,
    remind_now,
    task_dict,
)
from app.aftersales.staff import save_staff, staff_rows, sync_staff
from app.auth.guards import requires
from app.auth.service import audit
from app.chat.models import Group
from app.db import get_db
from app.errors import HubError, InvalidInput
from app.web.envelope import ok
from app.web.pages import page
from app.web.params import client_ip
from app.web.templating import localtime

COLUMN_LIMIT = 60


def _card(t: Any) -> dict[str, Any]:
    return task_dict(t) | {
        "created_local": localtime(t.created_at, "%m-%d %H:%M"),
        "response_local": localtime(t.user_response_time, "%H:%M:%S") if t.user_response_time else "",
    }


def _flash(request: Request, message: str = "", error: str | None = None) -> Template:
    response = page(request, "aftersales/_flash.html", "after_sales", message=message, error=error)
    response.headers["HX-Trigger"] = "aftersales-changed"
    return response


class AfterSalesPages(Controller):
    path = "/after-sales"
    include_in_schema = False

    @get("/")
    async def kanban(
        self,
        request: Request,
        q: str | None = None,
        group: str | None = None,
        staff: str | None = None,
        task_type: str | None = None,
        kind: str | None = None,
    ) -> Template:
        error = None
        columns: dict[str, dict[str, Any]] = {}
        async with get_db().transaction() as session:
            await sync_staff(session)
            settings = await load_settings(session)
            for key, (label, statuses) in KANBAN_COLUMNS.items():
                items: list[Any] = []
                total = 0
                for status in statuses:
                    f = TaskFilter(
                        None,
                        group or None,
                        status,
                        task_type or None,
                        kind or None,
                        staff or None,
                        q or None,
                        page_size=COLUMN_LIMIT,
                    )
                    try:
                        found, n = await search_tasks(session, f)
                    except HubError as exc:
                        error, found, n = exc.message, [], 0
                    items += found
                    total += n
                items.sort(key=lambda t: t.id, reverse=True)
                columns[key] = {
                    "label": label,
                    "items": [_card(t) for t in items[:COLUMN_LIMIT]],
                    "total": total,
                }
            staff_list = await staff_rows(session, settings)
            open_conflicts = await conflict_service.list_conflicts(session, "open")
        partial = request.htmx is not None and request.htmx.target == "board"
        return page(
            request,
            "aftersales/_board.html" if partial else "aftersales/index.html",
            "after_sales",
            columns=columns,
            staff=[{"id": s.id, "name": s.name, "status": st, "load": load} for s, st, load in staff_list],
            conflicts=[conflict_service.conflict_dict(c) for c in open_conflicts],
            filters={
                "q": q or "",
                "group": group or "",
                "staff": staff or "",
                "task_type": task_type or "",
                "kind": kind or "",
            },
            task_types=TASK_TYPES,
            kinds=TASK_KINDS,
            statuses=STATUSES,
            response_names=RESPONSE_STATUSES,
            cooperation_names=COOPERATION_LEVELS,
            staff_status_names=STAFF_STATUSES,
            can_act=bool(request.user and request.user.at_least("agent")),
            max_reminders=settings.max_reminders,
            error=error,
        )

    @post("/tasks", guards=[requires("agent")])
    async def create(self, request: Request) -> Template:
        form = await request.form()
        try:
            async with get_db().transaction() as session:
                name = str(form.get("group", "")).strip()
                group = (await session.execute(select(Group).where(Group.name == name))).scalar()
                task = await create_task(
                    session,
                    group_id=group.id if group else None,
                    group_name=name,
                    user=str(form.get("target_user", "")),
                    task_type=str(form.get("task_type", "其他")),
                    source="manual",
                    now=clock.now(),
                    created_by=request.user.username,
                    description=str(form.get("description", "")),
                    staff_at=form.get("staff_at") == "on",
                )
                await audit(
                    session, request.user.username, "after_sales.create", str(task.id), {}, client_ip(request)
                )
                message = f"已创建任务 #{task.id}，{task.assignment_reason or ''}"
        except HubError as exc:
            return _flash(request, error=exc.message)
        return _flash(request, message)

    @post("/tasks/{task_id:int}/assign", guards=[requires("agent")])
    async def assign(self, request: Request, task_id: int) -> Template:
        form = await request.form()
        raw = str(form.get("staff_id", "")).strip()
        try:
            async with get_db().transaction() as session:
                task = await get_task(session, task_id, for_update=True)
                staff = await assign_manually(
                    session, task, int(raw) if raw.isdigit() else None, None, request.user.username
                )
                await audit(
                    session,
                    request.user.username,
                    "after_sales.assign",
                    str(task_id),
                    {"staff": staff.name},
                    client_ip(request),
                )
        except HubError as exc:
            return _flash(request, error=exc.message)
        return _flash(request, f"任务 #{task_id} 已分配给 {staff.name}")

    @post("/tasks/{task_id:int}/status", guards=[requires("agent")])
    async def status(self, request: Request, task_id: int) -> Template:
        form = await request.form()
        status = str(form.get("status", ""))
        try:
            async with get_db().transaction() as session:
                task = await get_task(session, task_id, for_update=True)
                await change_status(session, task, status, request.user.username, str(form.get("note", "")))
                await audit(
                    session,
                    request.user.username,
                    "after_sales.status",
                    str(task_id),
                    {"status": status},
                    client_ip(request),
                )
        except HubError as exc:
            return _flash(request, error=exc.message)
        return _flash(request, f"任务 #{task_id} → {STATUSES.get(status, status)}")

    @post("/tasks/{task_id:int}/remind", guards=[requires("agent")])
    async def remind(self, request: Request, task_id: int) -> Template:
        try:
            async with get_db().transaction() as session:
                task = await get_task(session, task_id, for_update=True)
                command_id = await remind_now(session, task, request.user.username)
        except HubError as exc:
            return _flash(request, error=exc.message)
        if command_id is None:
            return _flash(request, error="没有可用的通知机器人，提醒未发送")
        return _flash(request, f"已通过通知机器人提醒任务 #{task_id} 的售后人员")

    @get("/tasks/{task_id:int}")
    async def detail(self, request: Request, task_id: int) -> Template:
        async with get_db().session() as session:
            task = await get_task(session, task_id)
            card = _card(task)
            history = list(reversed(task.history or []))
        return page(
            request, "aftersales/task.html", "after_sales", t=card, history=history, statuses=STATUSES
        )

    @post("/conflicts/{conflict_id:int}/resolve", guards=[requires("agent")])
    async def resolve_conflict(self, request: Request, conflict_id: int) -> Template:
        form = await request.form()
        try:
            async with get_db().transaction() as session:
                conflict = await conflict_service.get_conflict(session, conflict_id)
                await conflict_service.resolve(
                    session, conflict, request.user.username, str(form.get("resolution", "") or "已调和")
                )
                await audit(
                    session,
                    request.user.username,
                    "after_sales.conflict_resolve",
                    str(conflict_id),
                    {},
                    client_ip(request),
                )
        except HubError as exc:
            return _flash(request, error=exc.message)
        return _flash(request, f"群「{conflict.group_name}」冲突已调和")

    # ── staff ──

    @get("/staff")
    async def staff_page(self, request: Request) -> Template:
        async with get_db().transaction() as session:
            await sync_staff(session)
            settings = await load_settings(session)
            rows = await staff_rows(session, settings)
        return page(
            request,
            "aftersales/staff.html",
            "after_sales_staff",
            rows=[{"s": s, "status": st, "load": load} for s, st, load in rows],
            task_types=TASK_TYPES,
            staff_status_names=STAFF_STATUSES,
            settings=settings,
            can_act=bool(request.user and request.user.at_least("agent")),
        )

    @post("/staff", guards=[requires("agent")])
    async def staff_save(self, request: Request) -> Template:
        form = await request.form()
        raw_id = str(form.get("staff_id", "")).strip()
        override = str(form.get("status_override", ""))
        try:
            async with get_db().transaction() as session:
                staff = await save_staff(
                    session,
                    int(raw_id) if raw_id.isdigit() else None,
                    name=str(form.get("name", "")) or None,
                    skills=[str(v) for v in form.getall("skills")] if hasattr(form, "getall") else None,
                    status_override=override or None,
                    clear_override=override == "",
                    work_start=str(form.get("work_start", "")) or None,
                    work_end=str(form.get("work_end", "")) or None,
                    active=form.get("active") == "on" if raw_id.isdigit() else True,
                )
                await audit(
                    session, request.user.username, "after_sales.staff", str(staff.id), {}, client_ip(request)
                )
        except HubError as exc:
            return _flash(request, error=exc.message)
        return _flash(request, f"已保存售后人员「{staff.name}」")

    # ── settings and kiosk links ──

    @get("/settings")
    async def settings_page(self, request: Request) -> Template:
        async with get_db().session() as session:
            settings = await load_settings(session)
            tokens = await list_screen_tokens(session)
        return page(
            request,
            "aftersales/settings.html",
            "after_sales_settings",
            settings=asdict(settings),
            limits=NUMBER_LIMITS,
            tokens=tokens,
            new_url=None,
            can_edit=bool(request.user and request.user.at_least("supervisor")),
        )

    @post("/settings", guards=[requires("supervisor")])
    async def settings_save(self, request: Request) -> Template:
        form = await request.form()
        raw = {k: str(v) for k, v in form.items() if k != "_csrf"}
        try:
            async with get_db().transaction() as session:
                await save_settings(session, raw, request.user.username)
                await audit(
                    session, request.user.username, "after_sales.settings", "", {}, client_ip(request)
                )
        except HubError as exc:
            return _flash(request, error=exc.message)
        return _flash(request, "售后设置已保存")

    @post("/screen-tokens", guards=[requires("supervisor")])
    async def token_create(self, request: Request) -> Template:
        form = await request.form()
        try:
            async with get_db().transaction() as session:
                row, token = await create_screen_token(
                    session, str(form.get("name", "")), request.user.username
                )
                await audit(
                    session,
                    request.user.username,
                    "after_sales.screen_token",
                    str(row.id),
                    {},
                    client_ip(request),
                )
        except HubError as exc:
            return _flash(request, error=exc.message)
        base = str(request.base_url).rstrip("/")
        return page(
            request,
            "aftersales/_token_created.html",
            "after_sales_settings",
            url=f"{base}/after-sales/screen?token={token}",
        )

    @post("/screen-tokens/{token_id:int}/revoke", guards=[requires("supervisor")])
    async def token_revoke(self, request: Request, token_id: int) -> Template:
        try:
            async with get_db().transaction() as session:
                await revoke_screen_token(session, token_id)
                await audit(
                    session,
                    request.user.username,
                    "after_sales.screen_revoke",
                    str(token_id),
                    {},
                    client_ip(request),
                )
        except HubError as exc:
            return _flash(request, error=exc.message)
        return _flash(request, "已吊销该大屏链接，正在使用它的屏幕会在下次刷新时失效")


def report_charts(report: dict[str, Any]) -> dict[str, str]:
    return {
        "hourly": bar_chart(
            [(f"{h:02d}", v) for h, v in enumerate(report["hourly_created"])], "每小时新建任务"
        ),
        "types": bar_chart(list(report["by_type"].items()), "任务类型"),
        "cooperation": stacked_bar(
            [(COOPERATION_LEVELS[k], v) for k, v in report["cooperation"].items()], "用户配合度分布"
        ),
        "staff": bar_chart(
            [(s["staff"], s["efficiency_score"] or 0) for s in report["staff"]], "售后人员效率分", unit="分"
        ),
    }


class ReportPages(Controller):
    path = "/reports"
    include_in_schema = False

    @get("/daily-after-sales")
    async def daily(self, request: Request, date: str | None = None) -> Template:
        error = None
        try:
            day = parse_day(date)
        except InvalidInput as exc:
            error, day = exc.message, clock.local_now().date()
        async with get_db().session() as session:
            report = await build_report(session, day)
        return page(
            request,
            "aftersales/report.html",
            "after_sales_report",
            report=report,
            charts=report_charts(report),
            day=day.isoformat(),
            error=error,
            can_send=bool(request.user and request.user.at_least("supervisor")),
        )

    @post("/daily-after-sales/send", guards=[requires("supervisor")])
    async def send(self, request: Request) -> Template:
        form = await request.form()
        try:
            day = parse_day(str(form.get("date", "")) or None)
            async with get_db().transaction() as session:
                report = await deliver_report(session, day, request.user.username, store=False)
                await audit(
                    session,
                    request.user.username,
                    "after_sales.report_send",
                    day.isoformat(),
                    {},
                    client_ip(request),
                )
        except HubError as exc:
            return _flash(request, error=exc.message)
        if not report.get("sent"):
            return _flash(request, error="没有可用的通知机器人，日报未发送")
        return _flash(request, f"{day.isoformat()} 售后日报已交给通知机器人发送给管理层")


class ReportsApi(Controller):
    path = "/api/reports"
    tags = ["售后"]

    @get("/daily-after-sales", summary="售后日报（JSON，或 format=csv | xlsx 下载）")
    async def daily(self, date: str | None = None, format: str = "json") -> Response[Any]:
        day = parse_day(date)
        if format not in ("json", "csv", "xlsx"):
            raise InvalidInput("format 只能是 json | csv | xlsx")
        async with get_db().session() as session:
            report = await build_report(session, day)
        name = f"after-sales-{day.isoformat()}"
        if format == "csv":
            return Response(
                to_csv(report).encode("utf-8"),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
            )
        if format == "xlsx":
            return Response(
                to_xlsx(report),
                media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
            )
        return ok(report)

    @post(
        "/daily-after-sales/send", summary="立即生成并发送售后日报给管理层", guards=[requires("supervisor")]
    )
    async def send(self, request: Request, date: str | None = None) -> Response[Any]:
        day = parse_day(date)
        async with get_db().transaction() as session:
            report = await deliver_report(session, day, request.user.username, store=False)
            await audit(
                session,
                request.user.username,
                "after_sales.report_send",
                day.isoformat(),
                {},
                client_ip(request),
            )
        return ok(
            {"date": day.isoformat(), "sent": report.get("sent", False)},
            "已发送" if report.get("sent") else "没有可用的通知机器人",
        )
