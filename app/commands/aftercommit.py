"""Run async work once the caller's transaction has committed (and never if it rolls back).

A command row is scheduled, and its live event published, only after it is visible to the worker:
a job started before the commit could otherwise not find the row it was enqueued for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

Action = Callable[[], Awaitable[Any]]
_KEY = "commands_after_commit"
_running: set[asyncio.Task[None]] = set()


def after_commit(session: AsyncSession, action: Action) -> None:
    """Queue `action`; it runs on the event loop after the current transaction commits."""
    session.info.setdefault(_KEY, []).append(action)


@event.listens_for(Session, "after_commit")
def _committed(sync_session: Any) -> None:
    actions: list[Action] = sync_session.info.get(_KEY) or []
    if not actions:
        return
    sync_session.info[_KEY] = []
    task = asyncio.get_running_loop().create_task(_run(list(actions)), name="commands:after-commit")
    _running.add(task)
    task.add_done_callback(_running.discard)


@event.listens_for(Session, "after_rollback")
def _rolled_back(sync_session: Any) -> None:
    if sync_session.info.get(_KEY):
        sync_session.info[_KEY] = []


async def _run(actions: list[Action]) -> None:
    for action in actions:
        try:
            await action()
        except Exception:
            # The sweep re-schedules anything whose job could not be enqueued.
            log.exception("after-commit action failed")


async def settle_pending() -> None:
    """Wait for after-commit actions still running (tests, shutdown)."""
    while _running:
        await asyncio.wait(list(_running))
