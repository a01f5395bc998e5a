"""Alert service: raise (or raise again), escalate, acknowledge, resolve, cancel (PRODUCT.md §4).

Takes a session and plain values; imports nothing from Litestar. Every state change publishes the
re-rendered row on topic "alerts" and schedules follow-up jobs only after the transaction commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.alerts import config, rules
from app.alerts.models import ACKNOWLEDGED, ACTIVE, CANCELLED, OPEN, RESOLVED, STATUS_NAMES, Alert, AlertLevel
from app.chat.models import Group
from app.commands.aftercommit import after_commit
from app.errors import Conflict, InvalidInput, NotFound
from app.jobs import enqueue

log = logging.getLogger(__name__)

SYSTEM = "system"
EARLY_TOLERANCE = timedelta(milliseconds=50)
RESCHEDULE_WITHIN = timedelta(milliseconds=500)  # a check that woke before its moment waits again


ACTIVE_USERS_KEY = "alerts_active_users"


async def users_with_active_alerts(session: AsyncSession, group_id: int | None) -> set[str]:
    """Users of a group with an open or acknowledged alert, cached for the session's lifetime (one
    processing batch); raise_alert adds to it, so alerts raised in the batch are seen too."""
    cache: dict[int | None, set[str]] = session.info.setdefault(ACTIVE_USERS_KEY, {})
    if group_id not in cache:
        query = select(Alert.user_name).where(
            Alert.group_id.is_(None) if group_id is None else Alert.group_id == group_id,
            Alert.status.in_(ACTIVE),
        )
        cache[group_id] = set((await session.execute(query.distinct())).scalars())
    return cache[group_id]


def _note_active(session: AsyncSession, alert: Alert) -> None:
    cache: dict[int | None, set[str]] | None = session.info.get(ACTIVE_USERS_KEY)
    if cache is not None and alert.group_id in cache:
        cache[alert.group_id].add(alert.user_name)


async def levels(session: AsyncSession) -> dict[int, AlertLevel]:
    rows = (await session.execute(select(AlertLevel).order_by(AlertLevel.level_value))).scalars()
    return {row.level_value: row for row in rows}


def _schedule_check(session: AsyncSession, alert: Alert) -> None:
    """After commit: a deferred job at the alert's next escalation moment (the sweep backs it up)."""
    at = alert.next_check_at
    if at is None:
        return
    alert_id = alert.id

    async def run() -> None:
        wait = (at - clock.now()).total_seconds()
        await enqueue("check_alert_escalation", alert_id=alert_id, defer_by=wait if wait > 0 else None)

    after_commit(session, run)


def publish(session: AsyncSession, alert: Alert, event: str = "alert.update") -> None:
    """Render the row now (as this transaction leaves it); publish once committed."""
    from app.alerts.views import render_row

    html = render_row(alert)
    data = {"id": alert.id, "level": alert.level, "status": alert.status}

    async def send() -> None:
        from app.realtime.bus import get_bus
        from app.realtime.topics import ALERTS

        try:
            bus = get_bus()
        except RuntimeError:  # a CLI or test process without live events
            return
        await bus.publish(ALERTS, event, html, data)

    after_commit(session, send)


def _refresh_schedule(session: AsyncSession, alert: Alert, settings: config.AlertSettings) -> None:
    alert.next_check_at = rules.next_check(alert, settings, clock.scaled)
    _schedule_check(session, alert)


async def _notify(session: AsyncSession, alert: Alert, now: datetime) -> None:
    if alert.suppressed:
        return
    from app.alerts.delivery import notify

    await notify(session, alert, now)


async def _change_level(
    session: AsyncSession,
    alert: Alert,
    to_level: int,
    reason: str,
    by: str,
    now: datetime,
    notify: bool = True,
) -> bool:
    to_level = rules.clamp(to_level)
    if to_level <= alert.level:
        return False
    entry = rules.history_entry(now, alert.level, to_level, reason, by)
    alert.escalation_history = [*(alert.escalation_history or []), entry]
    alert.escalation_count += 1
    alert.level = to_level
    alert.updated_at = now
    if notify:
        await _notify(session, alert, now)
    return True


async def find_active(
    session: AsyncSession, group_id: int | None, user_name: str | None, alert_type: str
) -> Alert | None:
    query = (
        select(Alert)
        .where(
            Alert.group_id.is_(None) if group_id is None else Alert.group_id == group_id,
            Alert.user_name == (user_name or ""),
            Alert.alert_type == alert_type,
            Alert.status.in_(ACTIVE),
        )
        .order_by(Alert.id.desc())
        .limit(1)
        .with_for_update()
    )
    return (await session.execute(query)).scalars().first()


async def alerts_today(session: AsyncSession, group_id: int | None, user_name: str, now: datetime) -> int:
    local = clock.to_local(now)
    start = datetime.combine(local.date(), time(0), tzinfo=local.tzinfo)
    query = select(func.count(Alert.id)).where(
        Alert.user_name == user_name,
        Alert.created_at >= clock.as_utc(start),
        Alert.group_id.is_(None) if group_id is None else Alert.group_id == group_id,
    )
    return int(await session.scalar(query) or 0)


async def raise_alert(
    session: AsyncSession,
    *,
    alert_type: str,
    group_id: int | None,
    user_name: str | None,
    reason: str,
    level: int | None = None,
    message_id: int | None = None,
    now: datetime | None = None,
) -> Alert:
    """Open an alert of `alert_type` for (group, user), or raise the open one again.

    `level` None means: the level rules decide. Returns the alert."""
    if alert_type not in config.ALERT_TYPES:
        raise InvalidInput(f"未知的告警类型：{alert_type}")
    now = now or clock.now()
    settings = await config.load(session)
    rule_level = rules.clamp(level or config.type_level(settings, alert_type))
    user = (user_name or "")[:120]
    existing = await find_active(session, group_id, user, alert_type)
    if existing is not None:
        existing.occurrences += 1
        existing.last_seen_at = now
        existing.updated_at = now
        existing.positive_streak = 0
        if message_id is not None:
            existing.last_message_id = message_id
        if not existing.suppressed:
            target = max(existing.level + 1, rule_level)
            await _change_level(session, existing, target, f"再次出现：{reason}"[:200], SYSTEM, now)
        publish(session, existing)
        return existing
    suppressed = False
    fatigue = alert_type != "complaint" and bool(user)
    if fatigue and await alerts_today(session, group_id, user, now) >= settings.fatigue_after:
        suppressed, rule_level = True, 1
    group_name = ""
    if group_id is not None:
        group = await session.get(Group, group_id)
        group_name = group.name if group else ""
    alert = Alert(
        alert_type=alert_type,
        group_id=group_id,
        group_name=group_name,
        user_name=user,
        level=rule_level,
        initial_level=rule_level,
        status=OPEN,
        reason=(reason + ("（防疲劳：今日告警过多，仅记录不推送）" if suppressed else ""))[:500],
        message_id=message_id,
        last_message_id=message_id,
        occurrences=1,
        suppressed=suppressed,
        escalation_count=0,
        escalation_history=[],
        time_steps_done=0,
        unresolved_bumped=False,
        positive_streak=0,
        created_at=now,
        updated_at=now,
        last_seen_at=now,
    )
    session.add(alert)
    await session.flush()
    _note_active(session, alert)
    _refresh_schedule(session, alert, settings)
    await _notify(session, alert, now)
    publish(session, alert, "alert.new")
    log.info("alert raised", extra={"alert_id": alert.id, "type": alert_type, "level": alert.level})
    return alert


async def get_alert(session: AsyncSession, alert_id: int, lock: bool = False) -> Alert:
    query = select(Alert).where(Alert.id == alert_id)
    if lock:
        query = query.with_for_update()
    alert = (await session.execute(query)).scalars().first()
    if alert is None:
        raise NotFound(f"告警 {alert_id} 不存在")
    return alert


async def check_escalation(session: AsyncSession, alert_id: int, now: datetime | None = None) -> Alert | None:
    """Apply the time-based escalations due now (idempotent), then schedule the next check."""
    now = now or clock.now()
    alert = (
        (await session.execute(select(Alert).where(Alert.id == alert_id).with_for_update())).scalars().first()
    )
    if alert is None or alert.status not in ACTIVE:
        return alert
    settings = await config.load(session)
    # A timer may wake a hair early: a step due within the tolerance is due now.
    steps = rules.due_steps(alert, settings, now + EARLY_TOLERANCE, clock.scaled)
    changed = False
    for step in steps:
        if step.kind == "time":
            alert.time_steps_done += 1
        else:
            alert.unresolved_bumped = True
        changed = await _change_level(session, alert, alert.level + 1, step.reason, SYSTEM, now) or changed
    alert.updated_at = now if steps else alert.updated_at
    previous = alert.next_check_at
    alert.next_check_at = rules.next_check(alert, settings, clock.scaled)
    early = previous is not None and now < previous < now + RESCHEDULE_WITHIN and not steps
    if alert.next_check_at != previous or steps or early:
        _schedule_check(session, alert)
    if changed:
        publish(session, alert)
    return alert


async def escalate(
    session: AsyncSession,
    alert_id: int,
    to_level: int | None,
    reason: str,
    by: str,
    now: datetime | None = None,
) -> tuple[Alert, int]:
    """Manual escalation (默认 +1)."""
    now = now or clock.now()
    alert = await get_alert(session, alert_id, lock=True)
    if alert.status not in ACTIVE:
        raise Conflict(f"告警 #{alert_id} 已{STATUS_NAMES[alert.status]}，不能升级")
    old = alert.level
    target = to_level if to_level is not None else old + 1
    if not 1 <= target <= rules.MAX_LEVEL:
        raise InvalidInput("escalate_to 必须在 1–4 之间")
    if target <= old:
        raise Conflict(f"告警 #{alert_id} 当前为 {old} 级，只能升级到更高等级")
    alert.suppressed = False  # escalated by a person: pushed from now on
    await _change_level(session, alert, target, reason.strip() or "人工升级", by, now)
    settings = await config.load(session)
    _refresh_schedule(session, alert, settings)
    publish(session, alert)
    return alert, old


async def acknowledge(session: AsyncSession, alert_id: int, by: str, now: datetime | None = None) -> Alert:
    now = now or clock.now()
    alert = await get_alert(session, alert_id, lock=True)
    if alert.status != OPEN:
        raise Conflict(f"告警 #{alert_id} 当前为「{STATUS_NAMES[alert.status]}」，只有待处理的告警可以确认")
    alert.status = ACKNOWLEDGED
    alert.acknowledged_at = now
    alert.acknowledged_by = by[:60]
    alert.updated_at = now
    _refresh_schedule(session, alert, await config.load(session))
    publish(session, alert)
    return alert


async def resolve(session: AsyncSession, alert_id: int, by: str, now: datetime | None = None) -> Alert:
    now = now or clock.now()
    alert = await get_alert(session, alert_id, lock=True)
    if alert.status not in ACTIVE:
        raise Conflict(f"告警 #{alert_id} 已{STATUS_NAMES[alert.status]}")
    alert.status = RESOLVED
    alert.resolved_at = now
    alert.resolved_by = by[:60]
    alert.updated_at = now
    alert.next_check_at = None
    publish(session, alert)
    return alert


def cancel_now(session: AsyncSession, alert: Alert, reason: str, by: str, now: datetime) -> None:
    alert.status = CANCELLED
    alert.cancel_reason = reason[:255]
    alert.cancelled_at = now
    alert.cancelled_by = by[:60]
    alert.updated_at = now
    alert.next_check_at = None
    publish(session, alert)
    log.info("alert cancelled", extra={"alert_id": alert.id, "reason": reason, "by": by})


async def cancel(
    session: AsyncSession, alert_id: int, reason: str, by: str, now: datetime | None = None
) -> Alert:
    """Manual cancel with a reason."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("请填写取消原因（cancel_reason）")
    alert = await get_alert(session, alert_id, lock=True)
    if alert.status not in ACTIVE:
        raise Conflict(f"告警 #{alert_id} 已{STATUS_NAMES[alert.status]}，不能取消")
    cancel_now(session, alert, reason, by, now or clock.now())
    return alert


async def bulk_cancel(
    session: AsyncSession, alert_ids: Iterable[int], reason: str, by: str, now: datetime | None = None
) -> dict[str, list[int]]:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("请填写取消原因（cancel_reason）")
    ids = sorted({int(i) for i in alert_ids})
    if not ids or len(ids) > 500:
        raise InvalidInput("alert_ids 需要 1–500 个告警 id")
    now = now or clock.now()
    found = (
        (await session.execute(select(Alert).where(Alert.id.in_(ids)).order_by(Alert.id).with_for_update()))
        .scalars()
        .all()
    )
    done, skipped = [], []
    for alert in found:
        if alert.status in ACTIVE:
            cancel_now(session, alert, reason, by, now)
            done.append(alert.id)
        else:
            skipped.append(alert.id)
    missing = sorted(set(ids) - {a.id for a in found})
    return {"cancelled": done, "skipped": skipped, "missing": missing}


async def active_alerts(
    session: AsyncSession, group_id: int | None, user_names: Iterable[str] | None, types: Iterable[str]
) -> list[Alert]:
    query = select(Alert).where(Alert.status.in_(ACTIVE), Alert.alert_type.in_(list(types)))
    query = query.where(Alert.group_id.is_(None) if group_id is None else Alert.group_id == group_id)
    if user_names is not None:
        query = query.where(Alert.user_name.in_(list(user_names)))
    return list((await session.execute(query.order_by(Alert.id).with_for_update())).scalars().all())


async def cancel_user_alerts(
    session: AsyncSession,
    *,
    group_id: int | None,
    user_names: Iterable[str] | None,
    types: Iterable[str],
    reason: str,
    by: str = SYSTEM,
    now: datetime | None = None,
) -> list[Alert]:
    """Automatic cancellation (§4.3) of the active alerts of these users (None: all users)."""
    now = now or clock.now()
    found = await active_alerts(session, group_id, user_names, types)
    for alert in found:
        cancel_now(session, alert, reason, by, now)
    return found


async def after_sales_task_completed(
    session: AsyncSession,
    *,
    group_id: int | None,
    user_name: str,
    task_id: int | None = None,
    now: datetime | None = None,
) -> list[Alert]:
    """§4.3 (5): the related after-sales task completed — called by the after-sales capability."""
    label = f"相关售后任务 #{task_id} 已完成" if task_id is not None else "相关售后任务已完成"
    return await cancel_user_alerts(
        session, group_id=group_id, user_names=[user_name], types=rules.TASK_CANCELS, reason=label, now=now
    )


async def cancel_for_completed_tasks(session: AsyncSession, now: datetime | None = None) -> list[Alert]:
    """§4.3 (5) without waiting for a call: active task-related alerts of a user whose after-sales
    task in that group was completed after the alert was raised."""
    from app.aftersales.models import AfterSalesTask

    now = now or clock.now()
    query = (
        select(Alert, AfterSalesTask.id)
        .join(
            AfterSalesTask,
            (AfterSalesTask.group_id == Alert.group_id) & (AfterSalesTask.target_user == Alert.user_name),
        )
        .where(
            Alert.status.in_(ACTIVE),
            Alert.alert_type.in_(rules.TASK_CANCELS),
            AfterSalesTask.status == "completed",
            AfterSalesTask.completed_at >= Alert.created_at,
        )
        .order_by(Alert.id)
        .limit(200)
        .with_for_update(of=Alert)
    )
    cancelled: dict[int, Alert] = {}
    for alert, task_id in (await session.execute(query)).all():
        if alert.id not in cancelled and alert.status in ACTIVE:
            cancel_now(session, alert, f"相关售后任务 #{task_id} 已完成", SYSTEM, now)
            cancelled[alert.id] = alert
    return list(cancelled.values())


ROBOT_FAILURE_MARK = "alerts.robot_failures_seen_until"


async def raise_robot_failures(session: AsyncSession, now: datetime | None = None) -> list[Alert]:
    """Commands that went to manual handling (retries exhausted) since the last look: one
    `robot_failure` alert per robot (grouping raises it again on further failures)."""
    from app.commands.models import Command
    from app.robots.models import Robot
    from app.system.service import get_setting, put_setting

    now = now or clock.now()
    seen = await get_setting(session, ROBOT_FAILURE_MARK, None)
    if seen is None:  # first run: only failures from now on
        await put_setting(session, ROBOT_FAILURE_MARK, now.isoformat(), SYSTEM)
        return []
    since = datetime.fromisoformat(seen)
    query = (
        select(Robot.name, func.count(Command.id), func.max(Command.id), func.max(Command.settled_at))
        .join(Robot, Robot.id == Command.robot_id)
        .where(
            Command.status == "manual",
            Command.kind != "alert",  # an alert notice that failed must not raise another notice
            Command.settled_at > since,
            Command.settled_at <= now,
        )
        .group_by(Robot.name)
    )
    raised: list[Alert] = []
    latest = since
    for robot_name, count, last_id, last_at in (await session.execute(query)).all():
        raised.append(
            await raise_alert(
                session,
                alert_type="robot_failure",
                group_id=None,
                user_name=f"机器人：{robot_name}",
                reason=f"{count} 条指令重试后仍失败，转人工处理（最近 指令 #{last_id}）",
                now=now,
            )
        )
        if last_at is not None:
            latest = max(latest, clock.as_utc(last_at))
    if latest > since:
        await put_setting(session, ROBOT_FAILURE_MARK, latest.isoformat(), SYSTEM)
    return raised


async def worsen(session: AsyncSession, alert: Alert, reason: str, now: datetime) -> bool:
    """Sentiment worsening again while the alert is open: +1 (§4.2)."""
    if alert.suppressed:
        return False
    changed = await _change_level(session, alert, alert.level + 1, reason, SYSTEM, now)
    if changed:
        publish(session, alert)
    return changed


async def due_for_check(session: AsyncSession, now: datetime, limit: int = 500) -> list[int]:
    query = (
        select(Alert.id)
        .where(Alert.status.in_(ACTIVE), Alert.next_check_at.is_not(None), Alert.next_check_at <= now)
        .order_by(Alert.next_check_at)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


def day_bounds(days: int, now: datetime) -> tuple[datetime, list[Any]]:
    local = clock.to_local(now).date()
    first = local - timedelta(days=days - 1)
    start = datetime.combine(first, time(0), tzinfo=clock.to_local(now).tzinfo)
    return clock.as_utc(start), [first + timedelta(days=i) for i in range(days)]
