"""Live updates of the commands page: the re-rendered row partial on topic "commands"."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.commands.aftercommit import after_commit
from app.commands.models import Command
from app.commands.views import command_row
from app.realtime.bus import get_bus
from app.web.templating import render_partial

TOPIC = "commands"
EVENT = "command.update"


def render_row(command: Command, can_act: bool = True) -> str:
    return render_partial("commands/_row.html", c=command_row(command), can_act=can_act)


def publish_after_commit(session: AsyncSession, command: Command) -> None:
    """Render now (the row as this transaction leaves it); publish once it has committed."""
    html = render_row(command)
    data = {"id": command.id, "status": command.status, "attempts": command.attempts}

    async def send() -> None:
        try:
            bus = get_bus()
        except RuntimeError:  # a CLI or test process without live events
            return
        await bus.publish(TOPIC, EVENT, html, data)

    after_commit(session, send)
