"""Robots page: register a robot (token shown once with the callback URLs), edit, rotate, stop."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template

from app import clock
from app.auth.guards import requires
from app.auth.service import audit
from app.chat.dashboard import robot_overview
from app.db import get_db
from app.errors import HubError
from app.replies.settings import load_selection_rules
from app.robots.api import public_base
from app.robots.health import latest_history, today_stats
from app.robots.models import ROBOT_ROLES, SHIFTS
from app.robots.schemas import RobotCreate, RobotUpdate
from app.robots.service import callback_urls, create_robot, find_robot, rotate_token, update_robot
from app.robots.tasks import publish_health, refresh_one
from app.web.pages import page
from app.web.params import client_ip


def _groups(raw: str) -> list[str]:
    return [g.strip() for g in raw.replace("，", ",").replace("\n", ",").split(",") if g.strip()]


class RobotPages(Controller):
    path = "/robots"
    include_in_schema = False

    async def _list(
        self,
        request: Request[Any, Any, Any],
        error: str | None = None,
        form: Any = None,
        status_code: int = 200,
    ) -> Template:
        async with get_db().session() as session:
            robots = await robot_overview(session, include_inactive=True)
            today = await today_stats(session, clock.now())
            rules = await load_selection_rules(session)
        shifts = {
            **SHIFTS,
            "day": "白班 " + rules.day_shift_time_range.replace("-", "–"),
            "night": "晚班 " + rules.night_shift_time_range.replace("-", "–"),
        }
        for item in robots:
            robot = item["robot"]
            if robot.online is not None:  # polled through WorkTool beats the last report
                item["online"] = robot.online
            item["today"] = today.get(robot.id, {})
        return page(
            request,
            "robots/index.html",
            "robots",
            robots=robots,
            roles=ROBOT_ROLES,
            shifts=shifts,
            error=error,
            form=form or {},
            status_code=status_code,
        )

    @get("/")
    async def index(self, request: Request[Any, Any, Any]) -> Template:
        return await self._list(request)

    @post("/", guards=[requires("admin")])
    async def register(self, request: Request[Any, Any, Any], state: State) -> Template:
        form = await request.form()
        try:
            data = RobotCreate(
                robot_id=str(form.get("robot_id", "")),
                name=str(form.get("name", "")),
                role=str(form.get("role", "")),
                shift=str(form.get("shift", "")) or None,
                groups=_groups(str(form.get("groups", ""))),
                note=str(form.get("note", "")),
            )
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
        except HubError as exc:
            return await self._list(request, exc.message, dict(form), exc.status_code)
        state.robots.invalidate()
        urls = callback_urls(public_base(request, state), robot.robot_id, token)
        return page(request, "robots/token.html", "robots", robot=robot, token=token, urls=urls, fresh=True)

    @post("/{key:str}/edit", guards=[requires("admin")])
    async def edit(self, request: Request[Any, Any, Any], state: State, key: str) -> Template | Redirect:
        form = await request.form()
        try:
            data = RobotUpdate(
                name=str(form.get("name", "")) or None,
                role=str(form.get("role", "")) or None,
                shift=str(form.get("shift", "")) or None,
                groups=_groups(str(form.get("groups", ""))),
            )
            async with get_db().transaction() as session:
                robot = await update_robot(session, await find_robot(session, key), data)
                await audit(
                    session,
                    request.user.username,
                    "robot.update",
                    robot.robot_id,
                    {"role": robot.role, "shift": robot.shift},
                    client_ip(request),
                )
        except HubError as exc:
            return await self._list(request, exc.message, status_code=exc.status_code)
        state.robots.invalidate()
        return Redirect("/robots", status_code=303)

    @post("/{key:str}/toggle", guards=[requires("admin")])
    async def toggle(self, request: Request[Any, Any, Any], state: State, key: str) -> Redirect:
        async with get_db().transaction() as session:
            robot = await find_robot(session, key)
            await update_robot(session, robot, RobotUpdate(active=not robot.active))
            await audit(
                session,
                request.user.username,
                "robot.activate" if robot.active else "robot.deactivate",
                robot.robot_id,
                {},
                client_ip(request),
            )
        state.robots.invalidate()
        return Redirect("/robots", status_code=303)

    @get("/{key:str}/health-history")
    async def health_history(self, request: Request[Any, Any, Any], key: str) -> Template:
        """The robot's last health checks (a table loaded into the card on demand)."""
        async with get_db().session() as session:
            robot = await find_robot(session, key)
            rows = await latest_history(session, robot, 20)
        return page(request, "robots/_health_history.html", "robots", rows=rows)

    @post("/{key:str}/health", guards=[requires("agent")])
    async def check_health(self, request: Request[Any, Any, Any], key: str) -> Template:
        """Check one robot now (poll online, rescore); answers the card's health block."""
        async with get_db().transaction() as session:
            robot = await find_robot(session, key)
            await refresh_one(session, robot)
            today = (await today_stats(session, clock.now())).get(robot.id, {})
        await publish_health(get_db(), robot.id)
        return page(request, "robots/_health.html", "robots", r=robot, today=today)

    @post("/{key:str}/rotate-token", guards=[requires("admin")])
    async def rotate(self, request: Request[Any, Any, Any], state: State, key: str) -> Template:
        async with get_db().transaction() as session:
            robot = await find_robot(session, key)
            token = await rotate_token(session, robot)
            await audit(
                session, request.user.username, "robot.rotate_token", robot.robot_id, {}, client_ip(request)
            )
        state.robots.invalidate()
        urls = callback_urls(public_base(request, state), robot.robot_id, token)
        return page(request, "robots/token.html", "robots", robot=robot, token=token, urls=urls, fresh=False)
