"""Commands page (指令队列): filters, manual-handling queue on top, retry and cancel, live over SSE."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.plugins.htmx import HTMXRequest as Request
from litestar.response import Template

from app.auth.guards import requires
from app.auth.service import audit
from app.commands import states
from app.commands.models import Command
from app.commands.queries import CommandFilter, manual_queue, search_commands, status_counts
from app.commands.service import cancel_command, retry_command
from app.commands.views import command_row
from app.db import get_db
from app.errors import HubError
from app.robots.service import list_robots
from app.web.pages import page
from app.web.params import client_ip

PAGE_SIZE = 50


def _message_id(raw: str | None) -> int | None:
    raw = (raw or "").strip().lstrip("#")
    return int(raw) if raw.isdigit() else None


class CommandPages(Controller):
    path = "/commands"
    include_in_schema = False

    @get("/")
    async def index(
        self,
        request: Request,
        status: str | None = None,
        robot: str | None = None,
        message_id: str | None = None,
        q: str | None = None,
        page_no: int = 1,
    ) -> Template:
        f = CommandFilter(
            status or None,
            robot or None,
            _message_id(message_id),
            q or None,
            None,
            None,
            max(page_no, 1),
            PAGE_SIZE,
        )
        error: str | None = None
        items: list[Command] = []
        total = 0
        async with get_db().session() as session:
            try:
                items, total = await search_commands(session, f)
            except HubError as exc:
                error = exc.message
            manual, manual_total = await manual_queue(session)
            counts = await status_counts(session)
            robots = await list_robots(session)
        partial = request.htmx is not None and request.htmx.target == "command-table"
        return page(
            request,
            "commands/_table.html" if partial else "commands/index.html",
            "commands",
            items=[command_row(c) for c in items],
            manual=[command_row(c) for c in manual],
            manual_total=manual_total,
            counts=counts,
            total=total,
            page_no=f.page,
            pages=max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE),
            robots=robots,
            filters={
                "status": status or "",
                "robot": robot or "",
                "message_id": message_id or "",
                "q": q or "",
            },
            statuses=states.STATUS_NAMES,
            can_act=bool(request.user and request.user.at_least("agent")),
            error=error,
        )

    @post("/{command_id:int}/retry", guards=[requires("agent")])
    async def retry(self, request: Request, command_id: int) -> Template:
        return await self._act(request, command_id, "retry")

    @post("/{command_id:int}/cancel", guards=[requires("agent")])
    async def cancel(self, request: Request, command_id: int) -> Template:
        return await self._act(request, command_id, "cancel")

    async def _act(self, request: Request, command_id: int, action: str) -> Template:
        """A flash message (errors too, so htmx shows them) and a refresh of the table."""
        error, message = None, ""
        try:
            async with get_db().transaction() as session:
                if action == "retry":
                    await retry_command(session, command_id)
                    message = f"指令 #{command_id} 已重新排队，马上发送"
                else:
                    await cancel_command(session, command_id)
                    message = f"指令 #{command_id} 已取消"
                await audit(
                    session,
                    request.user.username,
                    f"command.{action}",
                    str(command_id),
                    {},
                    client_ip(request),
                )
        except HubError as exc:
            error = exc.message
        response = page(request, "commands/_flash.html", "commands", error=error, message=message)
        response.headers["HX-Trigger"] = "commands-changed"
        return response
