"""JSON API of the command queue (envelope {code, message, data})."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from app import clock
from app.auth.guards import requires
from app.auth.service import audit
from app.chat.models import Message
from app.commands.queries import CommandFilter, search_commands
from app.commands.schemas import CommandCreate
from app.commands.service import cancel_command, enqueue_command, get_command, retry_command
from app.commands.views import command_dict
from app.db import get_db
from app.errors import InvalidInput
from app.robots.service import find_robot
from app.web.envelope import ok, ok_page
from app.web.params import client_ip, parse_time


class CommandsApi(Controller):
    path = "/api/commands"
    tags = ["指令队列"]

    @get("/", summary="查询指令")
    async def list_commands(
        self,
        status: str | None = None,
        robot_id: str | None = Parameter(default=None, description="WorkTool robotId"),
        message_id: int | None = Parameter(default=None, description="触发该指令的消息 id"),
        q: str | None = None,
        since: str | None = Parameter(default=None, description="ISO 8601，按创建时间"),
        until: str | None = Parameter(default=None, description="ISO 8601，按创建时间"),
        page: int = 1,
        page_size: int = 50,
    ) -> Response[dict[str, Any]]:
        f = CommandFilter(
            status or None,
            robot_id or None,
            message_id,
            q or None,
            parse_time(since, "since"),
            parse_time(until, "until"),
            page,
            page_size,
        )
        async with get_db().session() as session:
            items, total = await search_commands(session, f)
        return ok_page([command_dict(c) for c in items], total, page, page_size)

    @get("/{command_id:int}", summary="指令详情")
    async def get_one(self, command_id: int) -> Response[dict[str, Any]]:
        async with get_db().session() as session:
            return ok(command_dict(await get_command(session, command_id)))

    @get("/{command_id:int}/status", summary="指令状态")
    async def status(self, command_id: int) -> Response[dict[str, Any]]:
        async with get_db().session() as session:
            return ok(command_dict(await get_command(session, command_id)))

    @post(
        "/", summary="排队发送文本（经指定机器人发到群或联系人）", guards=[requires("agent")], status_code=201
    )
    async def create(self, data: CommandCreate, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        due = parse_time(data.due_at, "due_at")
        if data.delay_seconds is not None:
            if data.delay_seconds < 0 or due is not None:
                raise InvalidInput("delay_seconds 不能为负，且不能与 due_at 同时给出")
            due = clock.now() + clock.scaled(data.delay_seconds)
        async with get_db().transaction() as session:
            robot = await find_robot(session, data.robot_id)
            if data.message_id is not None and await session.get(Message, data.message_id) is None:
                raise InvalidInput(f"消息 {data.message_id} 不存在")
            command = await enqueue_command(
                session,
                robot,
                data.targets,
                data.text,
                data.at_list,
                due,
                data.message_id,
                data.kind,
                request.user.username,
            )
            await audit(
                session, request.user.username, "command.create", str(command.id), {}, client_ip(request)
            )
            body = command_dict(command)
        return ok(body, "已加入指令队列", 201)

    @post(
        "/{command_id:int}/retry",
        summary="重试（失败、超时或待人工处理 → 立即重新排队）",
        guards=[requires("agent")],
    )
    async def retry(self, command_id: int, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            command = await retry_command(session, command_id)
            await audit(
                session, request.user.username, "command.retry", str(command_id), {}, client_ip(request)
            )
            body = command_dict(command)
        return ok(body, "已重新排队")

    @post("/{command_id:int}/cancel", summary="取消排队中的指令", guards=[requires("agent")])
    async def cancel(self, command_id: int, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            command = await cancel_command(session, command_id)
            await audit(
                session, request.user.username, "command.cancel", str(command_id), {}, client_ip(request)
            )
            body = command_dict(command)
        return ok(body, "已取消")
