"""Read side of alerts: filtered lists, statistics by level and type, daily trends, delivery rate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.alerts.config import ALERT_TYPES
from app.alerts.models import ACTIVE, CANCELLED, STATUSES, Alert, AlertDelivery
from app.alerts.service import day_bounds
from app.errors import InvalidInput
from app.web.params import check_list_filter

MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class AlertFilter:
    level: int | None = None
    status: str | None = None
    alert_type: str | None = None
    group: str | None = None
    user: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1
    page_size: int = 50


def _where(query: Select[Any], f: AlertFilter) -> Select[Any]:
    if f.level is not None:
        query = query.where(Alert.level == f.level)
    if f.status == "active":
        query = query.where(Alert.status.in_(ACTIVE))
    elif f.status:
        query = query.where(Alert.status == f.status)
    if f.alert_type:
        query = query.where(Alert.alert_type == f.alert_type)
    if f.group:
        query = query.where(Alert.group_name == f.group)
    if f.user:
        query = query.where(Alert.user_name == f.user)
    if f.since:
        query = query.where(Alert.created_at >= f.since)
    if f.until:
        query = query.where(Alert.created_at <= f.until)
    return query


def check(f: AlertFilter) -> None:
    check_list_filter(f.status, (*STATUSES, "active"), f.page, f.page_size, MAX_PAGE_SIZE, f.since, f.until)
    if f.level is not None and not 1 <= f.level <= 4:
        raise InvalidInput("level 必须在 1–4 之间")
    if f.alert_type and f.alert_type not in ALERT_TYPES:
        raise InvalidInput(f"type 取值无效：{f.alert_type}（可选 {' | '.join(ALERT_TYPES)}）")


async def search_alerts(session: AsyncSession, f: AlertFilter) -> tuple[list[Alert], int]:
    check(f)
    total = await session.scalar(_where(select(func.count(Alert.id)), f))
    query = _where(select(Alert), f).order_by(Alert.id.desc())
    query = query.offset((f.page - 1) * f.page_size).limit(f.page_size)
    return list((await session.execute(query)).scalars()), int(total or 0)


async def deliveries_of(session: AsyncSession, alert_id: int) -> list[AlertDelivery]:
    query = select(AlertDelivery).where(AlertDelivery.alert_id == alert_id).order_by(AlertDelivery.id)
    return list((await session.execute(query)).scalars())


async def stats(session: AsyncSession, days: int, now: datetime | None = None) -> dict[str, Any]:
    if days not in (7, 30):
        raise InvalidInput("days 只能是 7 或 30")
    now = now or clock.now()
    start, dates = day_bounds(days, now)
    period = Alert.created_at >= start
    by_level = {str(level): 0 for level in range(1, 5)}
    for level, count in (
        await session.execute(select(Alert.level, func.count()).where(period).group_by(Alert.level))
    ).all():
        by_level[str(level)] = int(count)
    active_by_level = {str(level): 0 for level in range(1, 5)}
    active_query = select(Alert.level, func.count()).where(Alert.status.in_(ACTIVE)).group_by(Alert.level)
    for level, count in (await session.execute(active_query)).all():
        active_by_level[str(level)] = int(count)
    by_type = {
        kind: int(count)
        for kind, count in (
            await session.execute(
                select(Alert.alert_type, func.count()).where(period).group_by(Alert.alert_type)
            )
        ).all()
    }
    by_status = {
        status: int(count)
        for status, count in (
            await session.execute(select(Alert.status, func.count()).where(period).group_by(Alert.status))
        ).all()
    }
    rows = (await session.execute(select(Alert.created_at, Alert.status, Alert.level).where(period))).all()
    trend = {d.isoformat(): {"date": d.isoformat(), "created": 0, "cancelled": 0, "p0": 0} for d in dates}
    for created_at, status, level in rows:
        key = clock.to_local(created_at).date().isoformat()
        if key in trend:
            trend[key]["created"] += 1
            trend[key]["cancelled"] += status == CANCELLED
            trend[key]["p0"] += level >= 4
    deliveries = {
        status: int(count)
        for status, count in (
            await session.execute(
                select(AlertDelivery.status, func.count())
                .where(AlertDelivery.created_at >= start)
                .group_by(AlertDelivery.status)
            )
        ).all()
    }
    sent, failed = deliveries.get("sent", 0), deliveries.get("failed", 0)
    return {
        "days": days,
        "total": sum(by_level.values()),
        "by_level": by_level,
        "active_by_level": active_by_level,
        "by_type": by_type,
        "by_status": by_status,
        "trend": list(trend.values()),
        "deliveries": deliveries,
        "delivery_rate": round(sent / (sent + failed), 4) if sent + failed else None,
        "escalated": int(
            await session.scalar(select(func.count(Alert.id)).where(period, Alert.escalation_count > 0)) or 0
        ),
    }
