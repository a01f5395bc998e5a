"""Daily after-sales report (PRODUCT §6.4): the maths (pure), the data of one local day, CSV / XLSX.

Definitions (a "day" is 00:00–24:00 in the hub's time zone; tasks are those created that day):
- created / completed / open / timed_out / refused: counts by the task's state now;
- response_rate: tasks whose user responded ÷ tasks where the user was @-mentioned (staff_at_user_time);
- median_response_seconds: staff @ → user response; median_completion_seconds: created → completed;
- cooperation: tasks by user_cooperation_level;
- per staff: tasks assigned, completed, completion_rate, median handling time (created → completed),
  efficiency score = round(100 × (0.7 × completion rate + 0.3 × speed)), speed = min(1, 30 min ÷ median
  handling time) (1 when no completed task has a time, 0 when nothing was completed).
"""

from __future__ import annotations

import csv
import io
import statistics
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.aftersales.models import (
    COOPERATION_LEVELS,
    OPEN_STATUSES,
    STATUSES,
    TASK_TYPES,
    AfterSalesConflict,
    AfterSalesTask,
)
from app.config import get_settings

TARGET_HANDLING_SECONDS = 1800.0
NOTABLE_EVENTS = {
    "user_refused": "拒绝配合",
    "alert": "告警",
    "status": "状态变更",
    "reminder": "未响应提醒",
    "follow_up_reminder": "响应后无人跟进",
}


@dataclass(frozen=True, slots=True)
class TaskFacts:
    """What the report needs of one task (plain values, so the maths is testable without a database)."""

    id: int
    task_type: str
    group: str
    user: str
    status: str
    staff: str | None
    cooperation: str
    response_status: str
    created_at: datetime
    staff_at: datetime | None = None
    responded_at: datetime | None = None
    completed_at: datetime | None = None


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def efficiency_score(total: int, completed: int, median_handling: float | None) -> int | None:
    if total == 0:
        return None
    rate = completed / total
    if completed == 0:
        speed = 0.0
    elif median_handling is None or median_handling <= 0:
        speed = 1.0
    else:
        speed = min(1.0, TARGET_HANDLING_SECONDS / median_handling)
    return round(100 * (0.7 * rate + 0.3 * speed))


def compute(day: str, facts: list[TaskFacts], events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The report of one day from its tasks' facts."""
    created = len(facts)
    completed = [f for f in facts if f.status == "completed"]
    at_users = [f for f in facts if f.staff_at is not None]
    responded = [f for f in at_users if f.responded_at is not None and f.response_status == "responded"]
    response_times = [
        (f.responded_at - f.staff_at).total_seconds() for f in responded if f.responded_at and f.staff_at
    ]
    completion_times = [(f.completed_at - f.created_at).total_seconds() for f in completed if f.completed_at]
    cooperation = dict.fromkeys(COOPERATION_LEVELS, 0)
    for f in facts:
        cooperation[f.cooperation if f.cooperation in cooperation else "unknown"] += 1
    by_type = {t: 0 for t in TASK_TYPES}
    for f in facts:
        by_type[f.task_type if f.task_type in by_type else "其他"] += 1
    by_status = dict.fromkeys(STATUSES, 0)
    for f in facts:
        by_status[f.status] = by_status.get(f.status, 0) + 1
    hourly = [0] * 24
    tz = get_settings().tz
    for f in facts:
        hourly[f.created_at.astimezone(tz).hour] += 1
    staff_names = sorted({f.staff for f in facts if f.staff})
    staff = []
    for name in staff_names:
        mine = [f for f in facts if f.staff == name]
        done = [f for f in mine if f.status == "completed"]
        handling = median([(f.completed_at - f.created_at).total_seconds() for f in done if f.completed_at])
        staff.append(
            {
                "staff": name,
                "tasks": len(mine),
                "completed": len(done),
                "completion_rate": round(len(done) / len(mine), 4) if mine else 0.0,
                "median_handling_seconds": handling,
                "efficiency_score": efficiency_score(len(mine), len(done), handling),
            }
        )
    unassigned = sum(1 for f in facts if not f.staff)
    return {
        "date": day,
        "created": created,
        "completed": len(completed),
        "open": sum(1 for f in facts if f.status in OPEN_STATUSES),
        "timed_out": sum(1 for f in facts if f.status == "timeout" or f.response_status == "timeout"),
        "refused": sum(1 for f in facts if f.response_status == "refused"),
        "cancelled": by_status.get("cancelled", 0),
        "at_user": len(at_users),
        "responded": len(responded),
        "response_rate": round(len(responded) / len(at_users), 4) if at_users else None,
        "completion_rate": round(len(completed) / created, 4) if created else None,
        "median_response_seconds": median(response_times),
        "median_completion_seconds": median(completion_times),
        "cooperation": cooperation,
        "by_type": by_type,
        "by_status": by_status,
        "hourly_created": hourly,
        "staff": staff,
        "unassigned": unassigned,
        "events": list(events or [])[:200],
    }


def day_bounds(day: date) -> tuple[datetime, datetime]:
    tz = get_settings().tz
    start = datetime.combine(day, time(0, 0), tzinfo=tz)
    return clock.as_utc(start), clock.as_utc(start + timedelta(days=1))


def parse_day(raw: str | None) -> date:
    from app.errors import InvalidInput

    if not raw:
        return clock.local_now().date()
    try:
        return date.fromisoformat(raw.strip())
    except ValueError as exc:
        raise InvalidInput("date 必须是 YYYY-MM-DD") from exc


def facts_of(t: AfterSalesTask) -> TaskFacts:
    return TaskFacts(
        id=t.id,
        task_type=t.task_type,
        group=t.group_name,
        user=t.target_user,
        status=t.status,
        staff=t.assigned_staff_name,
        cooperation=t.user_cooperation_level,
        response_status=t.user_response_status,
        created_at=clock.as_utc(t.created_at),
        staff_at=clock.as_utc(t.staff_at_user_time) if t.staff_at_user_time else None,
        responded_at=clock.as_utc(t.user_response_time) if t.user_response_time else None,
        completed_at=clock.as_utc(t.completed_at) if t.completed_at else None,
    )


async def build_report(session: AsyncSession, day: date) -> dict[str, Any]:
    start, end = day_bounds(day)
    tasks = list(
        (
            await session.execute(
                select(AfterSalesTask)
                .where(AfterSalesTask.created_at >= start, AfterSalesTask.created_at < end)
                .order_by(AfterSalesTask.id)
            )
        ).scalars()
    )
    events: list[dict[str, Any]] = []
    for t in tasks:
        for entry in t.history or []:
            if (entry.get("event") in NOTABLE_EVENTS and entry.get("event") != "status") or (
                entry.get("event") == "status" and entry.get("to") in ("timeout", "cancelled")
            ):
                events.append(
                    {
                        "at": entry.get("at"),
                        "task_id": t.id,
                        "group": t.group_name,
                        "user": t.target_user,
                        "event": NOTABLE_EVENTS.get(str(entry.get("event")), str(entry.get("event"))),
                        "note": entry.get("note") or entry.get("to") or "",
                    }
                )
    conflicts = (
        await session.execute(
            select(AfterSalesConflict).where(
                AfterSalesConflict.started_at >= start, AfterSalesConflict.started_at < end
            )
        )
    ).scalars()
    for c in conflicts:
        events.append(
            {
                "at": clock.as_utc(c.started_at).isoformat(),
                "task_id": None,
                "group": c.group_name,
                "user": c.user_name or "",
                "event": "运营冲突" + ("（已调和）" if c.status == "resolved" else "（调和中）"),
                "note": c.reason,
            }
        )
    events.sort(key=lambda e: str(e["at"]))
    for e in events:
        try:
            e["at_local"] = clock.to_local(datetime.fromisoformat(str(e["at"]))).strftime("%H:%M:%S")
        except ValueError:
            e["at_local"] = str(e["at"])
    report = compute(day.isoformat(), [facts_of(t) for t in tasks], events)
    report["generated_at"] = clock.now().isoformat()
    report["tasks"] = [
        {
            "id": t.id,
            "task_type": t.task_type,
            "group": t.group_name,
            "target_user": t.target_user,
            "status": t.status,
            "assigned_staff": t.assigned_staff_name,
            "user_response_status": t.user_response_status,
            "user_cooperation_level": t.user_cooperation_level,
            "created_at": clock.as_utc(t.created_at).isoformat(),
            "completed_at": clock.as_utc(t.completed_at).isoformat() if t.completed_at else None,
        }
        for t in tasks
    ]
    return report


SUMMARY_ROWS = (
    ("created", "新建任务"),
    ("completed", "已完成"),
    ("open", "未完成"),
    ("timed_out", "超时"),
    ("refused", "拒绝配合"),
    ("response_rate", "响应率"),
    ("completion_rate", "完成率"),
    ("median_response_seconds", "响应时间中位数（秒）"),
    ("median_completion_seconds", "完成时间中位数（秒）"),
)
STAFF_HEADER = ("售后人员", "任务数", "已完成", "完成率", "处理时间中位数（秒）", "效率分")
TASK_HEADER = ("编号", "类型", "群", "用户", "状态", "售后人员", "用户响应", "配合度", "创建时间", "完成时间")
EVENT_HEADER = ("时间", "任务", "群", "用户", "事件", "说明")
SHEETS = ("汇总", "售后人员", "任务明细", "重要事件")


def _sections(report: dict[str, Any]) -> dict[str, list[list[Any]]]:
    summary: list[list[Any]] = [["日期", report["date"]]]
    summary += [[label, report.get(key)] for key, label in SUMMARY_ROWS]
    summary += [[f"配合度：{COOPERATION_LEVELS[k]}", v] for k, v in report["cooperation"].items()]
    summary += [[f"类型：{k}", v] for k, v in report["by_type"].items()]
    staff = [list(STAFF_HEADER)] + [
        [
            s["staff"],
            s["tasks"],
            s["completed"],
            s["completion_rate"],
            s["median_handling_seconds"],
            s["efficiency_score"],
        ]
        for s in report["staff"]
    ]
    tasks = [list(TASK_HEADER)] + [
        [
            t["id"],
            t["task_type"],
            t["group"],
            t["target_user"],
            STATUSES.get(t["status"], t["status"]),
            t["assigned_staff"] or "",
            t["user_response_status"],
            t["user_cooperation_level"],
            t["created_at"],
            t["completed_at"] or "",
        ]
        for t in report.get("tasks", [])
    ]
    events = [list(EVENT_HEADER)] + [
        [e["at"], e["task_id"] or "", e["group"], e["user"], e["event"], e["note"]] for e in report["events"]
    ]
    return {"汇总": summary, "售后人员": staff, "任务明细": tasks, "重要事件": events}


def to_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    for name, rows in _sections(report).items():
        writer.writerow([f"# {name}"])
        writer.writerows([["" if v is None else v for v in row] for row in rows])
        writer.writerow([])
    return "\ufeff" + out.getvalue()  # BOM: Excel opens UTF-8 Chinese correctly


def to_xlsx(report: dict[str, Any]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    first = True
    for name, rows in _sections(report).items():
        sheet = book.active if first else book.create_sheet()
        first = False
        assert sheet is not None
        sheet.title = name
        for row in rows:
            sheet.append(["" if v is None else v for v in row])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for column in sheet.columns:
            width = max(len(str(c.value or "")) for c in column)
            sheet.column_dimensions[column[0].column_letter].width = min(60, max(10, width * 2))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def summary_text(report: dict[str, Any]) -> str:
    """The report as the notify robot's message to managers."""

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v * 100:.0f}%"

    def mins(v: float | None) -> str:
        return "—" if v is None else f"{v / 60:.1f} 分钟"

    lines = [
        f"📊 售后日报 {report['date']}",
        f"新建 {report['created']} · 完成 {report['completed']} · 未完成 {report['open']}"
        f" · 超时 {report['timed_out']}",
        f"响应率 {pct(report['response_rate'])} · 响应中位 {mins(report['median_response_seconds'])}"
        f" · 完成中位 {mins(report['median_completion_seconds'])}",
        "配合度：" + "、".join(f"{COOPERATION_LEVELS[k]} {v}" for k, v in report["cooperation"].items()),
    ]
    for s in report["staff"][:10]:
        lines.append(f"· {s['staff']}：{s['completed']}/{s['tasks']} 完成，效率分 {s['efficiency_score']}")
    return "\n".join(lines)


async def deliver_report(
    session: AsyncSession, day: date, by: str = "system", store: bool = True
) -> dict[str, Any]:
    """Build the report, send its summary to the managers through the notify robot, and (the
    scheduled run) store it as that day's report."""
    from app.aftersales.config import load_settings
    from app.aftersales.models import AfterSalesReport
    from app.commands.service import enqueue_command
    from app.replies.selection import pick_robot

    settings = await load_settings(session)
    report = await build_report(session, day)
    now = clock.now()
    row = AfterSalesReport(report_date=day.isoformat(), data=report, generated_at=now)
    if store:
        session.add(row)
    robot = await pick_robot(session, group_id=None, purpose="notify", now=now)
    if robot is None:
        row.send_error = "没有可用的通知机器人"
        report["sent"] = False
    else:
        await enqueue_command(
            session,
            robot,
            [settings.manager_group],
            summary_text(report),
            at_list=settings.managers,
            kind="report",
            created_by=by,
        )
        row.sent_at, row.send_error = now, None
        report["sent"] = True
    await session.flush()
    return report
