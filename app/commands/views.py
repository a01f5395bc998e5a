"""The command object of the API contract, also the context of the row partial."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.commands.models import Command
from app.commands.states import KIND_NAMES, STATUS_NAMES
from app.web.templating import localtime


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def command_dict(c: Command) -> dict[str, Any]:
    return {
        "id": c.id,
        "robot_id": c.robot.robot_id,
        "robot_name": c.robot.name,
        "kind": c.kind,
        "kind_name": KIND_NAMES.get(c.kind, c.kind),
        "targets": list(c.targets or []),
        "text": c.text,
        "at_list": list(c.at_list or []),
        "due_at": _iso(c.due_at),
        "status": c.status,
        "status_name": STATUS_NAMES.get(c.status, c.status),
        "attempts": c.attempts,
        "worktool_message_id": c.worktool_message_id,
        "message_id": c.message_id,
        "error": c.error,
        "error_code": c.error_code,
        "result": c.result,
        "created_at": _iso(c.created_at),
        "created_by": c.created_by,
        "sent_at": _iso(c.sent_at),
        "settled_at": _iso(c.settled_at),
        "next_check_at": _iso(c.next_check_at),
        "sending": c.status == "queued" and c.send_token is not None,
    }


def command_row(c: Command) -> dict[str, Any]:
    """The row partial's context: the API object plus times in the hub's time zone."""
    return command_dict(c) | {
        "due_local": localtime(c.due_at, "%m-%d %H:%M:%S"),
        "next_check_local": localtime(c.next_check_at, "%H:%M:%S") if c.next_check_at else "",
    }
