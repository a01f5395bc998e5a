"""Robot health job: poll every active robot's online status through WorkTool (robotInfo/online),
recompute health scores, keep the history, and push the new health cards to the robots page."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.commands.worktool_client import WorkToolClient, WorkToolError, get_client
from app.db import Database, get_db
from app.jobs import periodic
from app.realtime.bus import get_bus
from app.realtime.topics import ROBOTS
from app.robots.health import (
    HealthInputs,
    HealthResult,
    apply_health,
    check_robot,
    gather_inputs,
    prune_history,
    score_health,
    today_stats,
)
from app.robots.models import Robot
from app.web.templating import render_partial

log = logging.getLogger(__name__)

HEALTH_EVENT = "robot-health-{id}"
POLL_CONCURRENCY = 10  # robotInfo/online calls in flight at once


async def poll_online(client: WorkToolClient, robot_ids: list[str]) -> dict[str, bool | None]:
    """robotId → online (None when WorkTool could not be asked)."""

    limit = asyncio.Semaphore(POLL_CONCURRENCY)

    async def one(robot_id: str) -> bool | None:
        try:
            async with limit:
                return await client.robot_online(robot_id)
        except WorkToolError as exc:
            log.warning("online poll failed", extra={"robot": robot_id, "error": exc.message})
            return None

    answers = await asyncio.gather(*(one(r) for r in robot_ids))
    return dict(zip(robot_ids, answers, strict=True))


def render_health(robot: Robot, today: dict[str, Any] | None) -> str:
    return render_partial("robots/_health.html", r=robot, today=today or {})


async def refresh_health(db: Database, client: WorkToolClient, publish: bool = True) -> dict[str, int]:
    """One round: poll, score, store, publish. Returns the count per status."""
    async with db.session() as session:
        keys = list((await session.execute(select(Robot.robot_id).where(Robot.active.is_(True)))).scalars())
    online = await poll_online(client, keys) if keys else {}
    now = clock.now()
    counts: dict[str, int] = {}
    events: list[tuple[str, str]] = []
    checks: dict[int, tuple[HealthInputs, HealthResult]] = {}
    async with db.session() as session:  # the reads, outside the write transaction
        robots = (await session.execute(select(Robot).where(Robot.robot_id.in_(keys)))).scalars().all()
        for robot in robots:
            inputs = await gather_inputs(session, robot, online.get(robot.robot_id), now)
            checks[robot.id] = (inputs, score_health(inputs))
        today = await today_stats(session, now)
    async with db.transaction() as session:  # short: robot rows are also touched by the webhook
        robots = (await session.execute(select(Robot).where(Robot.id.in_(list(checks))))).scalars().all()
        for robot in robots:
            inputs, result = checks[robot.id]
            apply_health(session, robot, inputs, result, now)
            counts[result.status] = counts.get(result.status, 0) + 1
            events.append((HEALTH_EVENT.format(id=robot.id), render_health(robot, today.get(robot.id))))
        await prune_history(session, now)
    if publish:
        try:
            bus = get_bus()
        except RuntimeError:
            bus = None
        for event, html in events if bus else []:
            await bus.publish(ROBOTS, event, html)  # type: ignore[union-attr]
    return counts


@periodic(60)
async def refresh_robot_health(ctx: dict[str, Any]) -> dict[str, int]:
    runtime = ctx.get("runtime")
    db = runtime.db if runtime is not None else get_db()
    return await refresh_health(db, get_client())


async def refresh_one(
    session: AsyncSession, robot: Robot, poll: bool = True
) -> tuple[HealthInputs, HealthResult]:
    """Check one robot now (API, page button); `poll` asks WorkTool whether it is online."""
    now = clock.now()
    if not poll:
        return await check_robot(session, robot, robot.online, now, polled=False)
    online = (await poll_online(get_client(), [robot.robot_id]))[robot.robot_id]
    return await check_robot(session, robot, online, now)


async def publish_health(db: Database, robot_pk: int) -> None:
    """Push one robot's health card to open robots pages (after a check outside the job)."""
    try:
        bus = get_bus()
    except RuntimeError:
        return
    async with db.session() as session:
        robot = await session.get(Robot, robot_pk)
        if robot is None:
            return
        today = (await today_stats(session, clock.now())).get(robot.id)
        html = render_health(robot, today)
    await bus.publish(ROBOTS, HEALTH_EVENT.format(id=robot_pk), html)
