"""Console pages: dashboard, message monitor, people registry."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, post
from litestar.plugins.htmx import HTMXRequest as Request
from litestar.response import Redirect, Template

from app.auth.guards import requires
from app.auth.service import audit
from app.chat.dashboard import dashboard_figures, recent_messages, robot_overview
from app.chat.messages import MessageFilter, get_message, message_trace, robot_id_map, search_messages
from app.chat.models import PERSON_ROLES, Group
from app.chat.people import create_person, get_person, group_names, list_people, update_person
from app.chat.schemas import PersonIn, PersonPatch
from app.db import get_db
from app.errors import HubError
from app.web.pages import page
from app.web.params import client_ip, parse_time


def _names(raw: str) -> list[str]:
    return [part.strip() for part in raw.replace("，", ",").split(",") if part.strip()]


class ConsolePages(Controller):
    include_in_schema = False

    @get("/")
    async def dashboard(self, request: Request) -> Template:
        async with get_db().session() as session:
            figures = await dashboard_figures(session)
            messages = await recent_messages(session)
            robots = await robot_overview(session)
        return page(request, "dashboard.html", "dashboard", figures=figures, messages=messages, robots=robots)

    @get("/dashboard/tiles")
    async def dashboard_tiles(self, request: Request) -> Template:
        async with get_db().session() as session:
            figures = await dashboard_figures(session)
        return page(request, "_dashboard_tiles.html", "dashboard", figures=figures)

    @get("/dashboard/robots")
    async def dashboard_robots(self, request: Request) -> Template:
        async with get_db().session() as session:
            robots = await robot_overview(session)
        return page(request, "_dashboard_robots.html", "dashboard", robots=robots)

    @get("/messages")
    async def messages(
        self,
        request: Request,
        status: str | None = None,
        group: str | None = None,
        sender: str | None = None,
        robot: str | None = None,
        q: str | None = None,
        since: str | None = None,
        until: str | None = None,
        page_no: int = 1,
    ) -> Template:
        error = None
        items: list[Any] = []
        total = 0
        robots: dict[int, str] = {}
        f = MessageFilter(
            status or None,
            group or None,
            sender or None,
            robot or None,
            q or None,
            None,
            None,
            max(page_no, 1),
            50,
        )
        async with get_db().session() as session:
            try:
                f = MessageFilter(
                    f.status,
                    f.group,
                    f.sender,
                    f.robot,
                    f.q,
                    parse_time(since, "开始时间"),
                    parse_time(until, "结束时间"),
                    f.page,
                    f.page_size,
                )
                items, total = await search_messages(session, f)
            except HubError as exc:
                error = exc.message
            robots = await robot_id_map(session)
            groups = list((await session.execute(Group.__table__.select().order_by(Group.name))).mappings())
        pages = max(1, (total + f.page_size - 1) // f.page_size)
        template = (
            "chat/_messages_table.html"
            if request.htmx and request.htmx.target == "message-table"
            else "chat/messages.html"
        )
        return page(
            request,
            template,
            "messages",
            items=items,
            total=total,
            page_no=f.page,
            pages=pages,
            filters={
                "status": status or "",
                "group": group or "",
                "sender": sender or "",
                "robot": robot or "",
                "q": q or "",
                "since": since or "",
                "until": until or "",
            },
            robots=robots,
            groups=groups,
            error=error,
        )

    @get("/messages/{message_id:int}")
    async def message_detail(self, request: Request, message_id: int) -> Template:
        async with get_db().session() as session:
            message = await get_message(session, message_id)
            runs = await message_trace(session, message_id)
            robots = await robot_id_map(session)
        return page(request, "chat/message_detail.html", "messages", m=message, runs=runs, robots=robots)

    @get("/people")
    async def people(
        self,
        request: Request,
        q: str | None = None,
        role: str | None = None,
        group: str | None = None,
        page_no: int = 1,
    ) -> Template:
        async with get_db().session() as session:
            rows, total = await list_people(
                session, q or None, role or None, group or None, max(page_no, 1), 50
            )
            groups = list((await session.execute(Group.__table__.select().order_by(Group.name))).mappings())
        return page(
            request,
            "chat/people.html",
            "people",
            rows=rows,
            total=total,
            page_no=max(page_no, 1),
            pages=max(1, (total + 49) // 50),
            groups=groups,
            roles=PERSON_ROLES,
            filters={"q": q or "", "role": role or "", "group": group or ""},
            error=None,
            form={},
        )

    @post("/people", guards=[requires("supervisor")])
    async def people_create(self, request: Request) -> Template | Redirect:
        form = await request.form()
        try:
            data = PersonIn(
                display_name=str(form.get("display_name", "")),
                role=str(form.get("role", "")),
                aliases=_names(str(form.get("aliases", ""))),
                group=str(form.get("group", "")) or None,
                skills=_names(str(form.get("skills", ""))),
                note=str(form.get("note", "")),
            )
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
        except HubError as exc:
            async with get_db().session() as session:
                rows, total = await list_people(session)
                groups = list(
                    (await session.execute(Group.__table__.select().order_by(Group.name))).mappings()
                )
            return page(
                request,
                "chat/people.html",
                "people",
                rows=rows,
                total=total,
                page_no=1,
                pages=max(1, (total + 49) // 50),
                groups=groups,
                roles=PERSON_ROLES,
                filters={},
                error=exc.message,
                form=dict(form),
                status_code=exc.status_code,
            )
        return Redirect("/people", status_code=303)

    @post("/people/{person_id:int}/role", guards=[requires("supervisor")])
    async def people_relabel(self, request: Request, person_id: int) -> Template:
        form = await request.form()
        async with get_db().transaction() as session:
            person = await get_person(session, person_id)
            before = person.role
            await update_person(session, person, PersonPatch(role=str(form.get("role", ""))))
            await audit(
                session,
                request.user.username,
                "person.update",
                person.display_name,
                {"role_before": before, "role": person.role},
                client_ip(request),
            )
            names = await group_names(session, {person.group_id})
        return page(
            request,
            "chat/_person_row.html",
            "people",
            p=person,
            group_name=names.get(person.group_id) if person.group_id else None,
            roles=PERSON_ROLES,
            saved=True,
        )

    @post("/people/{person_id:int}/delete", guards=[requires("supervisor")])
    async def people_delete(self, request: Request, person_id: int) -> Response[str] | Redirect:
        async with get_db().transaction() as session:
            person = await get_person(session, person_id)
            await session.delete(person)
            await audit(
                session, request.user.username, "person.delete", person.display_name, {}, client_ip(request)
            )
        if request.htmx:
            return Response("", media_type="text/html")
        return Redirect("/people", status_code=303)
