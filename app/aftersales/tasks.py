"""Jobs of this capability: the response monitor's checks and sweep, the daily report."""

from __future__ import annotations

import logging
from typing import Any

from app import clock
from app.aftersales.service import check_task, due_task_ids
from app.db import get_db
from app.jobs import job, periodic

log = logging.getLogger(__name__)


@job
async def after_sales_check(ctx: dict[str, Any], task_id: int) -> str:
    """The deferred look at one task (silence reminders, time-out, staff follow-up)."""
    async with get_db().transaction() as session:
        outcome = await check_task(session, task_id)
    log.info("after-sales check", extra={"task_id": task_id, "outcome": outcome})
    return outcome


@periodic(60)
async def after_sales_sweep(ctx: dict[str, Any]) -> int:
    """Checks whose deferred job was lost (restart, queue flush) still happen."""
    async with get_db().session() as session:
        due = await due_task_ids(session, clock.now() - clock.scaled(5))
    for task_id in due:
        async with get_db().transaction() as session:
            await check_task(session, task_id)
    return len(due)


@periodic(60)
async def after_sales_daily_report(ctx: dict[str, Any]) -> str:
    """At the configured local time, generate today's report once and send it to the managers."""
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    from app.aftersales.config import load_settings
    from app.aftersales.models import AfterSalesReport
    from app.aftersales.report import deliver_report

    local = clock.local_now()
    async with get_db().session() as session:
        settings = await load_settings(session)
        if local.strftime("%H:%M") < settings.report_time:
            return "not_yet"
        done = await session.scalar(
            select(AfterSalesReport.id).where(AfterSalesReport.report_date == local.date().isoformat())
        )
    if done is not None:
        return "already"
    try:
        async with get_db().transaction() as session:
            await deliver_report(session, local.date())
    except IntegrityError:  # another worker generated it first
        return "already"
    log.info("daily after-sales report sent", extra={"date": local.date().isoformat()})
    return "sent"
