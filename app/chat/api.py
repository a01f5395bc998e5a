"""JSON API: messages and the people registry."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.params import Parameter

from app.auth.guards import requires
from app.auth.service import audit
from app.chat.messages import (
    MessageFilter,
    get_message,
    message_dict,
    message_trace,
    robot_id_map,
    search_messages,
)
from app.chat.people import create_person, get_person, group_names, list_people, person_dict, update_person
from app.chat.schemas import PersonIn, PersonPatch
from app.db import get_db
from app.web.envelope import ok, ok_page
from app.web.params import client_ip, parse_time


class MessagesApi(Controller):
    path = "/api/messages"
    tags = ["消息"]

    @get("/", summary="查询消息")
    async def list_messages(
        self,
        status: str | None = None,
        group: str | None = None,
        sender: str | None = None,
        robot: str | None = None,
        q: str | None = None,
        since: str | None = Parameter(default=None, description="ISO 8601 开始时间"),
        until: str | None = Parameter(default=None, description="ISO 8601 结束时间"),
        page: int = 1,
        page_size: int = 50,
    ) -> Response[dict[str, Any]]:
        f = MessageFilter(
            status,
            group,
            sender,
            robot,
            q,
            parse_time(since, "since"),
            parse_time(until, "until"),
            page,
            page_size,
        )
        async with get_db().session() as session:
            items, total = await search_messages(session, f)
            robots = await robot_id_map(session)
        return ok_page([message_dict(m, robots) for m in items], total, page, page_size)

    @get("/{message_id:int}", summary="消息详情（含处理状态）")
    async def get_one(self, message_id: int, trace: bool = False) -> Response[dict[str, Any]]:
        async with get_db().session() as session:
            message = await get_message(session, message_id)
            data = message_dict(message, await robot_id_map(session))
            if trace:
                data["trace"] = await message_trace(session, message_id)
        return ok(data)

    @get("/{message_id:int}/trace", summary="消息的流程执行轨迹")
    async def trace(self, message_id: int) -> Response[dict[str, Any]]:
        async with get_db().session() as session:
            await get_message(session, message_id)
            return ok({"message_id": message_id, "runs": await message_trace(session, message_id)})


class PeopleApi(Controller):
    path = "/api/people"
    tags = ["人员登记"]

    @get("/", summary="人员列表")
    async def list_all(
        self,
        q: str | None = None,
        role: str | None = None,
        group: str | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> Response[dict[str, Any]]:
        page_size = max(1, min(page_size, 200))
        async with get_db().session() as session:
            rows, total = await list_people(session, q, role, group, max(page, 1), page_size)
        return ok_page([person_dict(p, g) for p, g in rows], total, page, page_size)

    @get("/{person_id:int}", summary="人员详情")
    async def get_one(self, person_id: int) -> Response[dict[str, Any]]:
        async with get_db().session() as session:
            person = await get_person(session, person_id)
            names = await group_names(session, {person.group_id})
        return ok(person_dict(person, names.get(person.group_id) if person.group_id else None))

    @post("/", summary="登记人员", guards=[requires("supervisor")], status_code=201)
    async def create(self, data: PersonIn, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            person = await create_person(session, data)
            await audit(
                session,
                request.user.username,
                "person.create",
                person.display_name,
                {"role": person.role, "group": data.group},
                client_ip(request),
            )
        return ok(person_dict(person, data.group), "已登记", 201)

    @put("/{person_id:int}", summary="修改人员", guards=[requires("supervisor")])
    async def replace(self, person_id: int, data: PersonIn, request: Request[Any, Any, Any]) -> Response[Any]:
        patch_data = PersonPatch(
            display_name=data.display_name,
            role=data.role,
            aliases=data.aliases,
            group=data.group or "",
            skills=data.skills,
            note=data.note,
        )
        return await self._update(person_id, patch_data, request)

    @patch("/{person_id:int}", summary="部分修改人员（如重新标记角色）", guards=[requires("supervisor")])
    async def update(
        self, person_id: int, data: PersonPatch, request: Request[Any, Any, Any]
    ) -> Response[Any]:
        return await self._update(person_id, data, request)

    async def _update(
        self, person_id: int, data: PersonPatch, request: Request[Any, Any, Any]
    ) -> Response[Any]:
        async with get_db().transaction() as session:
            person = await get_person(session, person_id)
            before = person.role
            await update_person(session, person, data)
            names = await group_names(session, {person.group_id})
            await audit(
                session,
                request.user.username,
                "person.update",
                person.display_name,
                {"role_before": before, "role": person.role},
                client_ip(request),
            )
        return ok(person_dict(person, names.get(person.group_id) if person.group_id else None), "已保存")

    @delete("/{person_id:int}", summary="删除人员", guards=[requires("supervisor")], status_code=200)
    async def remove(self, person_id: int, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            person = await get_person(session, person_id)
            await session.delete(person)
            await audit(
                session, request.user.username, "person.delete", person.display_name, {}, client_ip(request)
            )
        return ok({"id": person_id}, "已删除")
