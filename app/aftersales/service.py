"""After-sales tasks: creation, assignment, response monitor, reminders, completion (PRODUCT §6.1–6.3).

Every function takes a session and values; robot messages go out only through the command queue
(app.commands.service.enqueue_command); follow-up checks are scheduled after the commit.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.aftersales.assignment import Choice, choose
from app.aftersales.config import STATUS_TEMPLATE, AfterSalesSettings, load_settings, render_text
from app.aftersales.live import TASK_EVENT, publish_after_commit
from app.aftersales.models import (
    COOPERATION_LEVELS,
    OPEN_STATUSES,
    RESPONSE_STATUSES,
    SOURCES,
    STATUSES,
    TASK_KINDS,
    TASK_TYPES,
    WAITING_STATUSES,
    AfterSalesStaff,
    AfterSalesTask,
)
from app.aftersales.staff import candidates, derive_status, loads
from app.aftersales.textrules import PRIORITY_BY_TYPE, cooperation_on_response, lowered
from app.commands.aftercommit import after_commit
from app.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)

CHECK_JOB = "after_sales_check"
TOLERANCE = timedelta(seconds=0.5)  # a deferred job may start a little early
MAX_HISTORY = 100


def iso(moment: datetime | None) -> str | None:
    return clock.as_utc(moment).isoformat() if moment else None


def add_history(task: AfterSalesTask, now: datetime, event: str, by: str = "system", **detail: Any) -> None:
    entry = {"at": iso(now), "event": event, "by": by, **{k: v for k, v in detail.items() if v is not None}}
    task.history = [*(task.history or []), entry][-MAX_HISTORY:]
    task.updated_at = now


def set_status(task: AfterSalesTask, status: str, now: datetime, by: str = "system", note: str = "") -> None:
    if task.status == status:
        return
    old, task.status = task.status, status
    if status in ("completed", "cancelled"):
        task.completed_at = now
        task.next_check_at = None
    add_history(task, now, "status", by, **{"from": old, "to": status, "note": note or None})


def task_dict(t: AfterSalesTask) -> dict[str, Any]:
    """The task object of the API contract."""
    return {
        "id": t.id,
        "kind": t.kind,
        "kind_name": TASK_KINDS.get(t.kind, t.kind),
        "task_type": t.task_type,
        "target_user": t.target_user,
        "group": t.group_name,
        "group_id": t.group_id,
        "status": t.status,
        "status_name": STATUSES.get(t.status, t.status),
        "priority": t.priority,
        "source": t.source,
        "source_name": SOURCES.get(t.source, t.source),
        "source_message_id": t.source_message_id,
        "created_by": t.created_by,
        "description": t.description,
        "assigned_staff": t.assigned_staff_name,
        "assigned_staff_id": t.assigned_staff_id,
        "assignment_reason": t.assignment_reason,
        "auto_assigned_by": t.auto_assigned_by,
        "auto_assigned_at": iso(t.auto_assigned_at),
        "user_response_status": t.user_response_status,
        "user_response_status_name": RESPONSE_STATUSES.get(t.user_response_status, t.user_response_status),
        "user_response_time": iso(t.user_response_time),
        "user_cooperation_level": t.user_cooperation_level,
        "user_cooperation_name": COOPERATION_LEVELS.get(t.user_cooperation_level, t.user_cooperation_level),
        "staff_at_user_time": iso(t.staff_at_user_time),
        "staff_follow_up_time": iso(t.staff_follow_up_time),
        "deadline": iso(t.deadline),
        "reminders_sent": t.reminders_sent,
        "next_check_at": iso(t.next_check_at),
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
        "completed_at": iso(t.completed_at),
    }


def event_data(t: AfterSalesTask, reminder: str | None = None, kind: str = "task") -> dict[str, Any]:
    return {
        "id": t.id,
        "status": t.status,
        "group": t.group_name,
        "user": t.target_user,
        "task_type": t.task_type,
        "user_response_status": t.user_response_status,
        "reminder": reminder,
        "kind": kind,
    }


# ── lookups ───────────────────────────────────────────────────────────────────


async def get_task(session: AsyncSession, task_id: int, for_update: bool = False) -> AfterSalesTask:
    query = select(AfterSalesTask).where(AfterSalesTask.id == task_id)
    if for_update:
        query = query.with_for_update()
    task = (await session.execute(query)).scalar_one_or_none()
    if task is None:
        raise NotFound(f"售后任务 {task_id} 不存在")
    return task


async def open_task_for(
    session: AsyncSession, group_id: int | None, user: str, statuses: tuple[str, ...] = WAITING_STATUSES
) -> AfterSalesTask | None:
    """The user's newest task in these statuses in this group."""
    if group_id is None:
        return None
    query = (
        select(AfterSalesTask)
        .where(
            AfterSalesTask.group_id == group_id,
            AfterSalesTask.target_user == user,
            AfterSalesTask.status.in_(statuses),
        )
        .order_by(AfterSalesTask.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


# ── notices through robots ────────────────────────────────────────────────────


async def notify_staff(
    session: AsyncSession,
    text: str,
    at: list[str] | None,
    now: datetime,
    settings: AfterSalesSettings,
    message_id: int | None = None,
    task: AfterSalesTask | None = None,
    group_id: int | None = None,
) -> int | None:
    """A staff notice through the notify robot to the staff work group; → command id."""
    from app.commands.service import enqueue_command
    from app.replies.selection import pick_robot

    robot = await pick_robot(session, group_id=group_id, purpose="notify", now=now)
    if robot is None:
        if task is not None:
            add_history(task, now, "notice_skipped", note="没有可用的通知机器人")
        return None
    command = await enqueue_command(
        session,
        robot,
        [settings.staff_group],
        text,
        at_list=[a for a in at or [] if a],
        message_id=message_id,
        kind="staff_notice",
    )
    if task is not None:
        add_history(task, now, "staff_notified", note=text[:120], command_id=command.id)
    return command.id


async def staff_status_of(
    session: AsyncSession, staff_id: int | None, now: datetime, settings: AfterSalesSettings
) -> str:
    if staff_id is None:
        return "offline"
    staff = await session.get(AfterSalesStaff, staff_id)
    if staff is None:
        return "offline"
    load = (await loads(session)).get(staff.id, 0)
    return derive_status(staff, load, now, settings)


async def send_comfort(
    session: AsyncSession,
    task: AfterSalesTask,
    now: datetime,
    settings: AfterSalesSettings,
    message_id: int | None,
) -> int | None:
    """The current shift's reply robot @-mentions the user with the comfort text for the staff status."""
    from app.commands.service import enqueue_command
    from app.replies.selection import pick_robot

    status = await staff_status_of(session, task.assigned_staff_id, now, settings)
    key = STATUS_TEMPLATE[status]
    text = await render_text(
        session,
        key,
        settings,
        user_name=task.target_user,
        staff_name=task.assigned_staff_name or "售后人员",
        task_type=task.task_type,
        group_name=task.group_name,
    )
    robot = await pick_robot(session, group_id=task.group_id, purpose="reply", now=now)
    if robot is None or not task.group_name:
        add_history(task, now, "comfort_skipped", note="群内没有可用的回复机器人")
        return None
    command = await enqueue_command(
        session,
        robot,
        [task.group_name],
        text,
        at_list=[task.target_user],
        message_id=message_id,
        kind="comfort",
    )
    add_history(
        task, now, "comfort_sent", note=text, template=key, staff_status=status, command_id=command.id
    )
    return command.id


async def raise_task_alert(
    session: AsyncSession,
    task: AfterSalesTask,
    alert_type: str,
    reason: str,
    now: datetime,
    message_id: int | None,
) -> None:
    from app.alerts.service import raise_alert

    alert = await raise_alert(
        session,
        alert_type=alert_type,
        group_id=task.group_id,
        user_name=task.target_user,
        reason=reason,
        level=None,
        message_id=message_id,
        now=now,
    )
    add_history(task, now, "alert", note=reason, alert_type=alert_type, alert_id=getattr(alert, "id", None))


# ── scheduling ────────────────────────────────────────────────────────────────


def schedule_check(session: AsyncSession, task: AfterSalesTask, at: datetime) -> None:
    """Run the monitor for this task at `at` (enqueued once the transaction commits)."""
    from app.jobs import enqueue

    task.next_check_at = at
    task_id = task.id

    async def run() -> None:
        wait = (at - clock.now()).total_seconds()
        await enqueue(CHECK_JOB, defer_by=wait if wait > 0 else None, task_id=task_id)

    after_commit(session, run)


# ── assignment ────────────────────────────────────────────────────────────────


async def auto_assign(
    session: AsyncSession,
    task: AfterSalesTask,
    now: datetime,
    settings: AfterSalesSettings,
    by: str = "system",
) -> Choice:
    choice = choose(task.task_type, await candidates(session, settings, now))
    task.assignment_reason = choice.reason[:300]
    task.auto_assigned_by = by[:60]
    task.auto_assigned_at = now
    if choice.staff is not None:
        task.assigned_staff_id = choice.staff.id
        task.assigned_staff_name = choice.staff.name
        staff = await session.get(AfterSalesStaff, choice.staff.id)
        if staff is not None:
            staff.last_assigned_at = now
    add_history(
        task,
        now,
        "auto_assigned",
        by,
        to=choice.staff.name if choice.staff else None,
        note=choice.reason,
    )
    return choice


async def assign_manually(
    session: AsyncSession, task: AfterSalesTask, staff_id: int | None, staff_name: str | None, by: str
) -> AfterSalesStaff:
    now = clock.now()
    staff: AfterSalesStaff | None = None
    if staff_id is not None:
        staff = await session.get(AfterSalesStaff, staff_id)
    elif staff_name:
        staff = (
            await session.execute(select(AfterSalesStaff).where(AfterSalesStaff.name == staff_name.strip()))
        ).scalar_one_or_none()
    if staff is None:
        raise InvalidInput("找不到该售后人员")
    old = task.assigned_staff_name
    task.assigned_staff_id, task.assigned_staff_name = staff.id, staff.name
    task.assignment_reason = f"手动分配（{by}）"
    task.auto_assigned_by = None
    staff.last_assigned_at = now
    add_history(task, now, "assigned", by, **{"from": old, "to": staff.name})
    publish_after_commit(session, TASK_EVENT, event_data(task))
    return staff


# ── creation ──────────────────────────────────────────────────────────────────


async def create_task(
    session: AsyncSession,
    *,
    group_id: int | None,
    group_name: str,
    user: str,
    task_type: str,
    source: str,
    now: datetime,
    settings: AfterSalesSettings | None = None,
    kind: str = "after_sales",
    created_by: str = "system",
    description: str = "",
    message_id: int | None = None,
    staff_at: bool = False,
    priority: str | None = None,
    notify: bool = True,
) -> AfterSalesTask:
    settings = settings or await load_settings(session)
    if task_type not in TASK_TYPES:
        raise InvalidInput(f"任务类型无效：{task_type}（可选 {'、'.join(TASK_TYPES)}）")
    user = user.strip()
    if not user or len(user) > 120:
        raise InvalidInput("目标用户不能为空，且不超过 120 个字符")
    task = AfterSalesTask(
        kind=kind,
        task_type=task_type,
        group_id=group_id,
        group_name=group_name,
        target_user=user,
        source=source,
        source_message_id=message_id,
        created_by=created_by[:120],
        description=description[:2000],
        priority=priority or PRIORITY_BY_TYPE.get(task_type, "medium"),
        status="waiting_user_response" if staff_at else "pending",
        user_response_status="pending",
        user_cooperation_level="unknown",
        staff_at_user_time=now if staff_at else None,
        deadline=now + clock.scaled(settings.task_deadline_seconds),
        reminders_sent=0,
        history=[],
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    await session.flush()
    add_history(task, now, "created", created_by, note=SOURCES.get(source, source), message_id=message_id)
    if kind == "after_sales":
        await auto_assign(session, task, now, settings)
    if staff_at:
        schedule_check(session, task, now + clock.scaled(settings.response_wait_seconds))
    elif source == "user_message":  # the user asked: staff should pick it up (§3.5 case 4)
        schedule_check(session, task, now + clock.scaled(settings.staff_follow_up_seconds))
    if notify:
        what = "运营安排的跟踪任务" if kind == "tracking" else "新售后任务"
        assignee = f"，分配给 {task.assigned_staff_name}" if task.assigned_staff_name else ""
        await notify_staff(
            session,
            f"📋 {what} #{task.id}：群「{group_name}」用户 {user} · {task_type}{assignee}"
            + (
                f"\n原因：{task.assignment_reason}"
                if task.assignment_reason and kind == "after_sales"
                else ""
            ),
            [task.assigned_staff_name or ""],
            now,
            settings,
            message_id,
            task,
            group_id,
        )
    publish_after_commit(
        session, TASK_EVENT, event_data(task, f"新任务：{group_name} · {user}（{task_type}）")
    )
    return task


async def staff_at_again(
    session: AsyncSession, task: AfterSalesTask, now: datetime, settings: AfterSalesSettings, by: str
) -> None:
    """Staff @-mentioned the user of an existing task: (re)start waiting for the user's answer
    (a timed-out task is taken up again)."""
    if task.status in (*WAITING_STATUSES, "timeout"):
        if task.staff_at_user_time is None or task.user_response_status != "pending":
            task.staff_at_user_time = now
            task.reminders_sent = 0
        if task.user_response_status in ("refused", "timeout"):
            task.user_response_status = "pending"
        set_status(task, "waiting_user_response", now, by, "工作人员 @ 用户")
        add_history(task, now, "staff_at", by)
        schedule_check(session, task, now + clock.scaled(settings.response_wait_seconds))
    else:
        task.staff_follow_up_time = task.staff_follow_up_time or now
        add_history(task, now, "staff_follow_up", by)
    publish_after_commit(session, TASK_EVENT, event_data(task))


# ── the response monitor ──────────────────────────────────────────────────────


async def record_response(
    session: AsyncSession,
    task: AfterSalesTask,
    text: str,
    message_id: int | None,
    now: datetime,
    settings: AfterSalesSettings | None = None,
) -> None:
    """A detected response: responded, staff notified, comfort message @user (§6.3)."""
    settings = settings or await load_settings(session)
    waited = (
        (now - clock.as_utc(task.staff_at_user_time)).total_seconds() if task.staff_at_user_time else None
    )
    task.user_response_status = "responded"
    task.user_response_time = now
    task.user_response_text = (text or "")[:500]
    task.user_response_message_id = message_id
    task.user_cooperation_level = cooperation_on_response(
        waited, clock.scaled_seconds(settings.response_wait_seconds)
    )
    add_history(task, now, "user_responded", task.target_user, note=(text or "")[:120], message_id=message_id)
    set_status(task, "in_progress", now, "system", "用户已响应")
    await notify_staff(
        session,
        f"✅ 群「{task.group_name}」用户 {task.target_user} 已响应「{(text or '')[:40]}」，"
        f"售后任务 #{task.id}（{task.task_type}）请尽快处理",
        [task.assigned_staff_name or ""],
        now,
        settings,
        message_id,
        task,
        task.group_id,
    )
    await send_comfort(session, task, now, settings, message_id)
    schedule_check(session, task, now + clock.scaled(settings.staff_follow_up_seconds))
    publish_after_commit(
        session,
        TASK_EVENT,
        event_data(task, f"{task.group_name} {task.target_user}说“{(text or '')[:20]}”", "response"),
    )


async def record_refusal(
    session: AsyncSession,
    task: AfterSalesTask,
    text: str,
    message_id: int | None,
    now: datetime,
    settings: AfterSalesSettings | None = None,
) -> None:
    """A refusal: cooperation one step lower, staff alerted; the task stays open for persuasion."""
    settings = settings or await load_settings(session)
    old = task.user_cooperation_level
    task.user_response_status = "refused"
    task.user_response_time = now
    task.user_response_text = (text or "")[:500]
    task.user_response_message_id = message_id
    task.user_cooperation_level = lowered(old)
    task.next_check_at = None
    add_history(
        task,
        now,
        "user_refused",
        task.target_user,
        note=(text or "")[:120],
        **{"from": old, "to": task.user_cooperation_level},
    )
    reason = (
        f"用户 {task.target_user} 拒绝配合售后任务 #{task.id}（{task.task_type}）：「{(text or '')[:40]}」"
    )
    await raise_task_alert(session, task, "after_sales_refusal", reason, now, message_id)
    await notify_staff(
        session,
        f"⚠️ {reason}",
        [task.assigned_staff_name or ""],
        now,
        settings,
        message_id,
        task,
        task.group_id,
    )
    publish_after_commit(
        session, TASK_EVENT, event_data(task, f"{task.group_name} {task.target_user}拒绝配合", "refusal")
    )


def _minutes(seconds: float) -> str:
    """Elapsed time as configured (before HUB_TIME_SCALE), for notices."""
    scale = clock.scaled_seconds(1.0) or 1.0
    minutes = seconds / scale / 60
    return f"{minutes:.0f} 分钟" if minutes >= 1 else f"{seconds / scale:.0f} 秒"


async def check_task(session: AsyncSession, task_id: int, now: datetime | None = None) -> str:
    """The monitor's scheduled look at one task → what it did (for logs and tests)."""
    now = now or clock.now()
    try:
        task = await get_task(session, task_id, for_update=True)
    except NotFound:
        return "missing"
    if task.status not in OPEN_STATUSES or task.next_check_at is None:
        return "closed"
    if clock.as_utc(task.next_check_at) > now + TOLERANCE:
        return "not_due"
    settings = await load_settings(session)
    task.next_check_at = None
    if task.status in WAITING_STATUSES and task.user_response_status == "pending" and task.staff_at_user_time:
        waited = _minutes((now - clock.as_utc(task.staff_at_user_time)).total_seconds())
        what = "运营安排" if task.kind == "tracking" else "售后任务"
        if task.reminders_sent < settings.max_reminders:
            task.reminders_sent += 1
            last = task.reminders_sent >= settings.max_reminders
            await notify_staff(
                session,
                f"⏰ 提醒（第 {task.reminders_sent} 次）：群「{task.group_name}」用户 {task.target_user} "
                f"已 {waited} 未响应{what} #{task.id}（{task.task_type}）" + ("，即将超时" if last else ""),
                [task.assigned_staff_name or ""],
                now,
                settings,
                task.source_message_id,
                task,
                task.group_id,
            )
            add_history(task, now, "reminder", note=f"第 {task.reminders_sent} 次提醒")
            schedule_check(session, task, now + clock.scaled(settings.reminder_interval_seconds))
            note = f"{task.target_user}未响应" + ("，任务即将超时" if last else "")
            publish_after_commit(
                session, TASK_EVENT, event_data(task, f"{task.group_name} {note}", "silence")
            )
            return "reminded"
        old = task.user_cooperation_level
        task.user_response_status = "timeout"
        task.user_cooperation_level = lowered(old)
        set_status(task, "timeout", now, "system", f"{waited} 未响应")
        reason = f"用户 {task.target_user} 已 {waited} 未响应{what} #{task.id}（{task.task_type}）"
        await raise_task_alert(session, task, "after_sales_timeout", reason, now, task.source_message_id)
        await notify_staff(
            session,
            f"⛔ {reason}，任务已超时",
            [task.assigned_staff_name or ""],
            now,
            settings,
            None,
            task,
            task.group_id,
        )
        publish_after_commit(
            session,
            TASK_EVENT,
            event_data(task, f"{task.group_name} {task.target_user}超时未响应", "timeout"),
        )
        return "timeout"
    if (
        task.status == "in_progress"
        and task.user_response_status == "responded"
        and task.staff_follow_up_time is None
    ):
        waited = _minutes((now - clock.as_utc(task.user_response_time or now)).total_seconds())
        await notify_staff(
            session,
            f"⏰ 群「{task.group_name}」用户 {task.target_user} 已响应 {waited}，"
            f"售后任务 #{task.id} 仍无人跟进",
            [task.assigned_staff_name or ""],
            now,
            settings,
            task.user_response_message_id,
            task,
            task.group_id,
        )
        add_history(task, now, "follow_up_reminder")
        publish_after_commit(
            session,
            TASK_EVENT,
            event_data(task, f"{task.group_name} {task.target_user}等待售后跟进", "follow_up"),
        )
        return "follow_up_reminded"
    if task.status == "pending" and task.staff_at_user_time is None and task.staff_follow_up_time is None:
        waited = _minutes((now - clock.as_utc(task.created_at)).total_seconds())
        await notify_staff(
            session,
            f"⏰ 群「{task.group_name}」用户 {task.target_user} 发起的售后任务 #{task.id}"
            f"（{task.task_type}）已等待 {waited}，还没有售后人员处理",
            [task.assigned_staff_name or ""],
            now,
            settings,
            task.source_message_id,
            task,
            task.group_id,
        )
        add_history(task, now, "pickup_reminder")
        note = f"{task.group_name} {task.target_user}等待售后处理"
        publish_after_commit(session, TASK_EVENT, event_data(task, note, "follow_up"))
        return "pickup_reminded"
    return "nothing"


async def due_task_ids(session: AsyncSession, now: datetime, limit: int = 200) -> list[int]:
    query = (
        select(AfterSalesTask.id)
        .where(AfterSalesTask.status.in_(OPEN_STATUSES), AfterSalesTask.next_check_at <= now)
        .order_by(AfterSalesTask.next_check_at)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def change_status(
    session: AsyncSession, task: AfterSalesTask, status: str, by: str, note: str = ""
) -> AfterSalesTask:
    if status not in STATUSES:
        raise InvalidInput(f"status 取值无效：{status}（可选 {' | '.join(STATUSES)}）")
    now = clock.now()
    set_status(task, status, now, by, note)
    if status == "completed":
        await task_completed(session, task, now)
    if status == "in_progress" and task.staff_follow_up_time is None:
        task.staff_follow_up_time = now
    publish_after_commit(
        session,
        TASK_EVENT,
        event_data(
            task, f"{task.group_name} {task.target_user} 任务已完成" if status == "completed" else None
        ),
    )
    return task


async def task_completed(session: AsyncSession, task: AfterSalesTask, now: datetime) -> None:
    """§4.3 (5): alerts about this task's user are cancelled once the task is completed."""
    from app.alerts import service as alerts

    hook = getattr(alerts, "after_sales_task_completed", None)
    if hook is None:
        return
    cancelled = await hook(
        session, group_id=task.group_id, user_name=task.target_user, task_id=task.id, now=now
    )
    if cancelled:
        add_history(task, now, "alerts_cancelled", note=f"取消告警 {len(cancelled)} 条")


async def remind_now(session: AsyncSession, task: AfterSalesTask, by: str) -> int | None:
    """A manual reminder from the kanban: the assigned staff get a notice now."""
    now = clock.now()
    settings = await load_settings(session)
    add_history(task, now, "manual_reminder", by)
    return await notify_staff(
        session,
        f"🔔 {by} 提醒：群「{task.group_name}」用户 {task.target_user} "
        f"的售后任务 #{task.id}（{task.task_type}，"
        f"{STATUSES.get(task.status, task.status)}）请跟进",
        [task.assigned_staff_name or ""],
        now,
        settings,
        None,
        task,
        task.group_id,
    )
