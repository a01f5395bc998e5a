"""JSON API of after-sales (envelope {code, message, data}): tasks, assignment, response, staff, conflicts."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from litestar import Controller, Request, Response, get, post, put
from litestar.params import Parameter
from sqlalchemy import select

from app import clock
from app.aftersales import conflicts as conflict_service
from app.aftersales.config import load_settings, save_settings
from app.aftersales.models import OPEN_STATUSES, TASK_TYPES, AfterSalesTask
from app.aftersales.queries import TaskFilter, search_tasks
from app.aftersales.schemas import (
    Assign,
    AutoAssign,
    ConflictResolve,
    ScreenTokenCreate,
    StaffSave,
    StatusChange,
    TaskCreate,
)
from app.aftersales.screen import create_screen_token, list_screen_tokens, revoke_screen_token, token_dict
from app.aftersales.service import (
    assign_manually,
    auto_assign,
    change_status,
    create_task,
    get_task,
    iso,
    remind_now,
    task_dict,
)
from app.aftersales.staff import save_staff, staff_rows, sync_staff
from app.auth.guards import requires
from app.auth.service import audit
from app.chat.models import ChatSession, Group
from app.db import get_db
from app.errors import InvalidInput, NotFound
from app.web.envelope import ok, ok_page
from app.web.params import client_ip, parse_time


def staff_dict(staff: Any, status: str, load: int) -> dict[str, Any]:
    from app.aftersales.models import STAFF_STATUSES

    return {
        "id": staff.id,
        "staff_user_id": staff.id,
        "name": staff.name,
        "skills": list(staff.skills or []),
        "status": status,
        "status_name": STAFF_STATUSES.get(status, status),
        "status_override": staff.status_override,
        "work_start": staff.work_start,
        "work_end": staff.work_end,
        "active": staff.active,
        "current_tasks": load,
        "last_active_at": iso(staff.last_active_at),
        "last_assigned_at": iso(staff.last_assigned_at),
    }


def _task_id(raw: int | str | None) -> int | None:
    if raw is None:
        return None
    text = str(raw).strip().removeprefix("task_").lstrip("#")
    if not text.isdigit():
        raise InvalidInput("task_id 必须是任务编号")
    return int(text)


class AfterSalesApi(Controller):
    path = "/api/after-sales"
    tags = ["售后"]

    @get("/tasks", summary="查询售后任务（user / group / status / task_type 过滤）")
    async def list_tasks(
        self,
        user: str | None = None,
        group: str | None = Parameter(default=None, description="群名或群 id"),
        status: str | None = Parameter(default=None, description="任务状态，或 open（未完成）"),
        task_type: str | None = None,
        kind: str | None = Parameter(default=None, description="after_sales | tracking"),
        staff: str | None = Parameter(default=None, description="负责的售后人员"),
        q: str | None = None,
        since: str | None = None,
        until: str | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> Response[dict[str, Any]]:
        f = TaskFilter(
            user or None,
            group or None,
            status or None,
            task_type or None,
            kind or None,
            staff or None,
            q or None,
            parse_time(since, "since"),
            parse_time(until, "until"),
            page,
            page_size,
        )
        async with get_db().session() as session:
            items, total = await search_tasks(session, f)
        return ok_page([task_dict(t) for t in items], total, page, page_size)

    @get("/tasks/{task_id:int}", summary="售后任务详情（含状态历史）")
    async def get_one(self, task_id: int) -> Response[dict[str, Any]]:
        async with get_db().session() as session:
            task = await get_task(session, task_id)
            return ok(task_dict(task) | {"history": list(task.history or [])})

    @post("/tasks", summary="手动创建售后任务", guards=[requires("agent")], status_code=201)
    async def create(self, data: TaskCreate, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        if data.kind not in ("after_sales", "tracking"):
            raise InvalidInput("kind 只能是 after_sales 或 tracking")
        async with get_db().transaction() as session:
            group = (await session.execute(select(Group).where(Group.name == data.group.strip()))).scalar()
            now = clock.now()
            task = await create_task(
                session,
                group_id=group.id if group else None,
                group_name=data.group.strip(),
                user=data.target_user,
                task_type=data.task_type,
                source="manual",
                kind=data.kind,
                now=now,
                created_by=request.user.username,
                description=data.description,
                priority=data.priority,
                staff_at=data.staff_at,
            )
            await audit(
                session, request.user.username, "after_sales.create", str(task.id), {}, client_ip(request)
            )
            body = task_dict(task)
        return ok(body, "已创建售后任务", 201)

    @post("/tasks/{task_id:int}/assign", summary="手动分配（重新分配）", guards=[requires("agent")])
    async def assign(
        self, task_id: int, data: Assign, request: Request[Any, Any, Any]
    ) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            task = await get_task(session, task_id, for_update=True)
            staff = await assign_manually(
                session, task, data.staff_id, data.staff_name, request.user.username
            )
            await audit(
                session,
                request.user.username,
                "after_sales.assign",
                str(task_id),
                {"staff": staff.name},
                client_ip(request),
            )
            body = task_dict(task)
        return ok(body, f"已分配给 {staff.name}")

    @post("/tasks/{task_id:int}/status", summary="更改任务状态", guards=[requires("agent")])
    async def set_status(
        self, task_id: int, data: StatusChange, request: Request[Any, Any, Any]
    ) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            task = await get_task(session, task_id, for_update=True)
            await change_status(session, task, data.status, request.user.username, data.note)
            await audit(
                session,
                request.user.username,
                "after_sales.status",
                str(task_id),
                {"status": data.status},
                client_ip(request),
            )
            body = task_dict(task)
        return ok(body, "状态已更新")

    @post("/tasks/{task_id:int}/remind", summary="立即提醒负责的售后人员", guards=[requires("agent")])
    async def remind(self, task_id: int, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            task = await get_task(session, task_id, for_update=True)
            command_id = await remind_now(session, task, request.user.username)
            body = task_dict(task) | {"command_id": command_id}
        return ok(body, "已发送提醒" if command_id else "没有可用的通知机器人，提醒未发送")

    @post("/auto-assign", summary="自动分配售后任务（技能、状态、负载、轮询）", guards=[requires("agent")])
    async def auto_assign(
        self, data: AutoAssign, request: Request[Any, Any, Any]
    ) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            task = await self._task_for(session, _task_id(data.task_id), data.session_id)
            if data.task_type:
                if data.task_type not in TASK_TYPES:
                    from app.aftersales.textrules import task_type_of

                    task.task_type = task_type_of(data.task_type)
                else:
                    task.task_type = data.task_type
            if data.priority:
                if data.priority not in ("high", "medium", "low"):
                    raise InvalidInput("priority 只能是 high | medium | low")
                task.priority = data.priority
            now = clock.now()
            settings = await load_settings(session)
            choice = await auto_assign(session, task, now, settings, by=f"api:{request.user.username}")
            from app.aftersales.live import TASK_EVENT, publish_after_commit
            from app.aftersales.service import event_data

            publish_after_commit(session, TASK_EVENT, event_data(task))
            assigned = None
            if choice.staff is not None:
                assigned = {
                    "staff_user_id": choice.staff.id,
                    "staff_name": choice.staff.name,
                    "current_tasks": choice.staff.load + (0 if task.status not in OPEN_STATUSES else 1),
                }
            body = {
                "task_id": task.id,
                "task_type": task.task_type,
                "assigned_staff": assigned,
                "assignment_reason": choice.reason,
                "assigned_at": iso(now),
            }
        if assigned is None:
            return ok(body, "暂无可分配的售后人员")
        return ok(body, "自动分配成功")

    async def _task_for(
        self, session: Any, task_id: int | None, session_id: int | str | None
    ) -> AfterSalesTask:
        if task_id is not None:
            return await get_task(session, task_id, for_update=True)
        if session_id is None or not str(session_id).strip().removeprefix("session_").isdigit():
            raise InvalidInput("需要 task_id 或 session_id")
        chat = await session.get(ChatSession, int(str(session_id).strip().removeprefix("session_")))
        if chat is None:
            raise NotFound(f"会话 {session_id} 不存在")
        task = (
            await session.execute(
                select(AfterSalesTask)
                .where(
                    AfterSalesTask.group_id == chat.group_id,
                    AfterSalesTask.target_user == chat.user_name,
                    AfterSalesTask.status.in_(OPEN_STATUSES),
                )
                .order_by(AfterSalesTask.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if task is None:
            raise NotFound("该会话没有未完成的售后任务")
        return task  # type: ignore[no-any-return]

    @get("/{task_id:int}/user-response", summary="用户对售后任务的响应")
    async def user_response(self, task_id: int) -> Response[dict[str, Any]]:
        async with get_db().session() as session:
            t = await get_task(session, task_id)
        delay = None
        if t.user_response_time and t.staff_at_user_time:
            delay = round((t.user_response_time - t.staff_at_user_time).total_seconds(), 3)
        return ok(
            {
                "task_id": t.id,
                "target_user": t.target_user,
                "group": t.group_name,
                "status": t.status,
                "user_response_status": t.user_response_status,
                "user_response_time": iso(t.user_response_time),
                "response_text": t.user_response_text,
                "response_message_id": t.user_response_message_id,
                "response_delay_seconds": delay,
                "user_cooperation_level": t.user_cooperation_level,
                "staff_at_user_time": iso(t.staff_at_user_time),
                "staff_follow_up_time": iso(t.staff_follow_up_time),
                "reminders_sent": t.reminders_sent,
            }
        )

    # ── staff ──

    @get("/staff", summary="售后人员（技能、状态、工作负载、工作时间）")
    async def list_staff(self) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            await sync_staff(session)
            settings = await load_settings(session)
            rows = await staff_rows(session, settings)
            items = [staff_dict(s, status, load) for s, status, load in rows]
        return ok({"items": items, "total": len(items)})

    @post("/staff", summary="新增售后人员", guards=[requires("supervisor")], status_code=201)
    async def add_staff(self, data: StaffSave, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        return await self._save_staff(None, data, request, 201)

    @put(
        "/staff/{staff_id:int}",
        summary="修改售后人员（技能、状态覆盖、工作时间）",
        guards=[requires("agent")],
    )
    async def edit_staff(
        self, staff_id: int, data: StaffSave, request: Request[Any, Any, Any]
    ) -> Response[dict[str, Any]]:
        return await self._save_staff(staff_id, data, request, 200)

    async def _save_staff(
        self, staff_id: int | None, data: StaffSave, request: Request[Any, Any, Any], code: int
    ) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            staff = await save_staff(
                session,
                staff_id,
                name=data.name,
                skills=data.skills,
                status_override=data.status_override or None,
                work_start=data.work_start,
                work_end=data.work_end,
                active=data.active,
                clear_override=data.status_override == "",
            )
            await audit(
                session, request.user.username, "after_sales.staff", str(staff.id), {}, client_ip(request)
            )
            settings = await load_settings(session)
            row = next(r for r in await staff_rows(session, settings) if r[0].id == staff.id)
            body = staff_dict(*row)
        return ok(body, "已保存", code)

    # ── settings ──

    @get("/settings", summary="售后设置（时长为秒，受 HUB_TIME_SCALE 缩放）")
    async def get_settings(self) -> Response[dict[str, Any]]:
        async with get_db().session() as session:
            return ok(asdict(await load_settings(session)))

    @put("/settings", summary="修改售后设置", guards=[requires("supervisor")])
    async def put_settings(
        self, data: dict[str, Any], request: Request[Any, Any, Any]
    ) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            settings = await save_settings(session, data, request.user.username)
            await audit(session, request.user.username, "after_sales.settings", "", {}, client_ip(request))
        return ok(asdict(settings), "已保存")

    # ── conflicts (§7) ──

    @get("/conflicts", summary="运营与用户冲突（冲突调和中 / 已调和）")
    async def list_conflicts(self, status: str | None = None) -> Response[dict[str, Any]]:
        if status and status not in ("open", "resolved"):
            raise InvalidInput("status 只能是 open 或 resolved")
        async with get_db().session() as session:
            items = await conflict_service.list_conflicts(session, status or None)
        return ok({"items": [conflict_service.conflict_dict(c) for c in items], "total": len(items)})

    @post("/conflicts/{conflict_id:int}/resolve", summary="标记冲突已调和", guards=[requires("agent")])
    async def resolve_conflict(
        self, conflict_id: int, data: ConflictResolve, request: Request[Any, Any, Any]
    ) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            conflict = await conflict_service.get_conflict(session, conflict_id)
            await conflict_service.resolve(session, conflict, request.user.username, data.resolution)
            await audit(
                session,
                request.user.username,
                "after_sales.conflict_resolve",
                str(conflict_id),
                {},
                client_ip(request),
            )
            body = conflict_service.conflict_dict(conflict)
        return ok(body, "冲突已调和")

    # ── big-screen viewer tokens ──

    @get("/screen-tokens", summary="大屏访问链接（查看令牌）", guards=[requires("supervisor")])
    async def screen_tokens(self) -> Response[dict[str, Any]]:
        async with get_db().session() as session:
            items = [token_dict(t) for t in await list_screen_tokens(session)]
        return ok({"items": items})

    @post("/screen-tokens", summary="创建大屏访问链接", guards=[requires("supervisor")], status_code=201)
    async def new_screen_token(
        self, data: ScreenTokenCreate, request: Request[Any, Any, Any]
    ) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            row, token = await create_screen_token(session, data.name, request.user.username)
            await audit(
                session,
                request.user.username,
                "after_sales.screen_token",
                str(row.id),
                {},
                client_ip(request),
            )
            body = token_dict(row) | {"token": token, "url": f"/after-sales/screen?token={token}"}
        return ok(body, "已创建大屏链接（令牌只显示这一次）", 201)

    @post("/screen-tokens/{token_id:int}/revoke", summary="吊销大屏访问链接", guards=[requires("supervisor")])
    async def revoke_screen_token(
        self, token_id: int, request: Request[Any, Any, Any]
    ) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            row = await revoke_screen_token(session, token_id)
            await audit(
                session,
                request.user.username,
                "after_sales.screen_revoke",
                str(token_id),
                {},
                client_ip(request),
            )
            body = token_dict(row)
        return ok(body, "已吊销")
