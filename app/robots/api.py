"""JSON API: robot registry (CRUD; the token is returned once)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.datastructures import State

from app.auth.guards import requires
from app.auth.service import audit
from app.db import get_db
from app.errors import InvalidInput
from app.robots.health import HealthInputs, health_dict, history_dict, latest_history, latest_inputs
from app.robots.schemas import RobotCreate, RobotUpdate
from app.robots.service import (
    callback_urls,
    create_robot,
    delete_robot,
    find_robot,
    list_robots,
    robot_dict,
    rotate_token,
    update_robot,
)
from app.robots.tasks import publish_health, refresh_one
from app.web.envelope import ok
from app.web.params import client_ip


def public_base(request: Request[Any, Any, Any], state: State) -> str:
    return state.settings.public_base_url or str(request.base_url).rstrip("/")


class RobotsApi(Controller):
    path = "/api/robots"
    tags = ["机器人"]

    @get("/", summary="机器人列表")
    async def list_all(self) -> Response[dict[str, Any]]:
        async with get_db().session() as session:
            robots = await list_robots(session)
        return ok({"items": [robot_dict(r) for r in robots], "total": len(robots)})

    @get("/{key:str}", summary="机器人详情（数字 id 或 robot_id）")
    async def get_one(self, key: str) -> Response[dict[str, Any]]:
        async with get_db().session() as session:
            return ok(robot_dict(await find_robot(session, key)))

    @get("/{key:str}/health", summary="机器人健康状态（refresh=true 时立即查询在线状态并重新评分）")
    async def health(self, key: str, refresh: bool = False) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            robot = await find_robot(session, key)
            inputs: HealthInputs | None
            if refresh or robot.health_checked_at is None:
                inputs, _ = await refresh_one(session, robot, poll=refresh)
            else:
                inputs = await latest_inputs(session, robot)
            body = health_dict(robot, inputs)
        if refresh:
            await publish_health(get_db(), robot.id)
        return ok(body, "获取成功")

    @get("/{key:str}/health/history", summary="机器人健康历史（最近的在前）")
    async def health_history(self, key: str, limit: int = 50) -> Response[dict[str, Any]]:
        if not 1 <= limit <= 500:
            raise InvalidInput("limit 应在 1–500 之间")
        async with get_db().session() as session:
            robot = await find_robot(session, key)
            rows = await latest_history(session, robot, limit)
        return ok({"robot_id": robot.robot_id, "items": [history_dict(r) for r in rows]})

    @post("/", summary="登记机器人（令牌只返回这一次）", guards=[requires("admin")], status_code=201)
    async def create(self, data: RobotCreate, request: Request[Any, Any, Any], state: State) -> Response[Any]:
        async with get_db().transaction() as session:
            robot, token = await create_robot(session, data)
            await audit(
                session,
                request.user.username,
                "robot.create",
                robot.robot_id,
                {"role": robot.role, "shift": robot.shift},
                client_ip(request),
            )
            body = robot_dict(robot)
        state.robots.invalidate()
        body["token"] = token
        body["callback_urls"] = callback_urls(public_base(request, state), robot.robot_id, token)
        return ok(body, "已登记；令牌只显示这一次，请立即复制到 WorkTool 回调地址", 201)

    @put("/{key:str}", summary="修改机器人", guards=[requires("admin")])
    async def replace(
        self, key: str, data: RobotUpdate, request: Request[Any, Any, Any], state: State
    ) -> Response[Any]:
        return await self._update(key, data, request, state)

    @patch("/{key:str}", summary="部分修改机器人", guards=[requires("admin")])
    async def update(
        self, key: str, data: RobotUpdate, request: Request[Any, Any, Any], state: State
    ) -> Response[Any]:
        return await self._update(key, data, request, state)

    async def _update(
        self, key: str, data: RobotUpdate, request: Request[Any, Any, Any], state: State
    ) -> Response[Any]:
        async with get_db().transaction() as session:
            robot = await update_robot(session, await find_robot(session, key), data)
            await audit(
                session,
                request.user.username,
                "robot.update",
                robot.robot_id,
                {"role": robot.role, "shift": robot.shift, "active": robot.active},
                client_ip(request),
            )
            body = robot_dict(robot)
        state.robots.invalidate()
        return ok(body, "已保存")

    @post("/{key:str}/rotate-token", summary="重新生成回调令牌", guards=[requires("admin")])
    async def rotate(self, key: str, request: Request[Any, Any, Any], state: State) -> Response[Any]:
        async with get_db().transaction() as session:
            robot = await find_robot(session, key)
            token = await rotate_token(session, robot)
            await audit(
                session, request.user.username, "robot.rotate_token", robot.robot_id, {}, client_ip(request)
            )
            body = robot_dict(robot)
        state.robots.invalidate()
        body["token"] = token
        body["callback_urls"] = callback_urls(public_base(request, state), robot.robot_id, token)
        return ok(body, "新令牌只显示这一次")

    @delete(
        "/{key:str}",
        summary="删除（有消息记录的机器人改为停用）",
        guards=[requires("admin")],
        status_code=200,
    )
    async def remove(self, key: str, request: Request[Any, Any, Any], state: State) -> Response[Any]:
        async with get_db().transaction() as session:
            robot = await find_robot(session, key)
            outcome = await delete_robot(session, robot)
            await audit(
                session, request.user.username, f"robot.{outcome}", robot.robot_id, {}, client_ip(request)
            )
        state.robots.invalidate()
        return ok({"robot_id": key, "result": outcome}, "已删除" if outcome == "deleted" else "已停用")
