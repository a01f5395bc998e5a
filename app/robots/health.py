"""Robot health (PRODUCT.md §8): score 0–100, status, recommendations, history.

Inputs over the last 24 hours: messages the robot reported, its commands (finished ones: succeeded,
failed, timed out, manual), failed attempts, WorkTool's average command time (timeCost), online
status as polled through robotInfo/online, and last activity. Scoring:

    start at 100, then subtract
      offline (robotInfo/online says false)                      55
      online status unknown (the poll failed)                    10
      success rate below 99 % (with ≥ 3 finished commands)      (99 − rate) × 1.5, at most 45
      commands waiting for manual handling                       5 each, at most 20
      average command time  > 5 s / > 10 s / > 30 s              5 / 10 / 20
      no activity in 24 h (robot registered longer than that)    10
    clamp to 0–100.

Status: excellent ≥ 90 · good 75–89 · warning 50–74 · critical < 50 (an offline robot is critical).
The robot selection (app.replies.selection) passes over offline robots and those whose status is
in robot_selection_rules.fallback_statuses (default: critical).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.chat.models import Message
from app.commands.models import Command
from app.commands.states import FAILED, MANUAL, SUCCEEDED, TIMEOUT
from app.robots.models import Robot, RobotHealth

WINDOW = timedelta(hours=24)
HISTORY_DAYS = 30
THRESHOLDS = (("excellent", 90), ("good", 75), ("warning", 50), ("critical", 0))
STATUS_NAMES = {"excellent": "优秀", "good": "良好", "warning": "警告", "critical": "严重"}
FINISHED = (SUCCEEDED, FAILED, TIMEOUT, MANUAL)
MIN_FINISHED_FOR_RATE = 3


@dataclass(frozen=True)
class HealthInputs:
    online: bool | None
    message_count: int = 0
    command_count: int = 0  # finished commands in the window
    succeeded: int = 0
    manual: int = 0
    error_count: int = 0  # failed attempts
    average_time: float | None = None  # seconds (WorkTool timeCost)
    last_activity: datetime | None = None
    registered_at: datetime | None = None
    now: datetime | None = None

    @property
    def success_rate(self) -> float | None:
        return round(self.succeeded * 100.0 / self.command_count, 2) if self.command_count else None


@dataclass(frozen=True)
class HealthResult:
    score: int
    status: str
    recommendations: list[str] = field(default_factory=list)
    deductions: dict[str, float] = field(default_factory=dict)


def status_for(score: int) -> str:
    for status, floor in THRESHOLDS:
        if score >= floor:
            return status
    return "critical"


def score_health(i: HealthInputs) -> HealthResult:
    """Score, status and recommendations from the inputs (pure; see the module docstring)."""
    cut: dict[str, float] = {}
    advice: list[str] = []
    if i.online is False:
        cut["offline"] = 55
        advice.append("机器人离线：检查手机网络连接，确认 WorkTool 在前台运行并已登录企业微信")
    elif i.online is None:
        cut["online_unknown"] = 10
        advice.append("无法查询在线状态：检查 WorkTool 接口地址（WORKTOOL_API_BASE）和网络连接")
    rate = i.success_rate
    if rate is not None and i.command_count >= MIN_FINISHED_FOR_RATE and rate < 99:
        cut["success_rate"] = min(45.0, round((99 - rate) * 1.5, 1))
        advice.append(f"发送成功率偏低（{rate:.1f}%）：核对群名是否与企业微信一致、机器人是否仍在群内")
    if i.manual:
        cut["manual"] = min(20, 5 * i.manual)
        advice.append(f"有 {i.manual} 条指令待人工处理：到「指令队列」处理后重试")
    if i.error_count >= 5 and "success_rate" not in cut:
        advice.append(f"检查网络连接：24 小时内 {i.error_count} 次发送失败")
    if i.average_time is not None:
        slow = 20 if i.average_time > 30 else 10 if i.average_time > 10 else 5 if i.average_time > 5 else 0
        if slow:
            cut["slow"] = slow
            advice.append(f"优化响应速度：指令平均耗时 {i.average_time:.1f} 秒，检查手机性能和网络")
    now = i.now or clock.now()
    old_enough = i.registered_at is None or now - clock.as_utc(i.registered_at) > WINDOW
    if old_enough and (i.last_activity is None or now - clock.as_utc(i.last_activity) > WINDOW):
        cut["inactive"] = 10
        advice.append("24 小时内没有活动：确认消息回调地址已在 WorkTool 中配置、机器人仍在群内")
    score = max(0, min(100, round(100 - sum(cut.values()))))
    status = status_for(score)
    if i.online is False:
        status = "critical"
    return HealthResult(score, status, advice, cut)


async def gather_inputs(
    session: AsyncSession, robot: Robot, online: bool | None, now: datetime
) -> HealthInputs:
    since = now - WINDOW
    messages = await session.scalar(
        select(func.count())
        .select_from(Message)
        .where(Message.robot_id == robot.id, Message.received_at >= since)
    )
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((Command.status == SUCCEEDED, 1), else_=0)), 0),
                func.coalesce(func.sum(case((Command.status == MANUAL, 1), else_=0)), 0),
                func.coalesce(func.sum(Command.attempts), 0),
                func.avg(case((Command.status == SUCCEEDED, Command.time_cost), else_=None)),
                func.max(Command.sent_at),
            ).where(Command.robot_id == robot.id, Command.created_at >= since, Command.status.in_(FINISHED))
        )
    ).one()
    count, succeeded, manual, attempts, average, last_sent = row
    activity = [t for t in (robot.last_seen_at, last_sent) if t is not None]
    return HealthInputs(
        online=online,
        message_count=int(messages or 0),
        command_count=int(count or 0),
        succeeded=int(succeeded or 0),
        manual=int(manual or 0),
        error_count=max(0, int(attempts or 0) - int(succeeded or 0)),
        average_time=float(average) if average is not None else None,
        last_activity=max(clock.as_utc(t) for t in activity) if activity else None,
        registered_at=robot.created_at,
        now=now,
    )


def apply_health(
    session: AsyncSession,
    robot: Robot,
    inputs: HealthInputs,
    result: HealthResult,
    now: datetime,
    polled: bool = True,
) -> None:
    """Store a check on the robot row and as a history row (no reads: keeps the write short)."""
    if polled:
        robot.online = inputs.online
        robot.online_checked_at = now
    robot.health_score = result.score
    robot.health_status = result.status
    robot.health_checked_at = now
    robot.health_recommendations = list(result.recommendations)
    average = round(inputs.average_time * 1000) if inputs.average_time is not None else None
    session.add(
        RobotHealth(
            robot_id=robot.id,
            checked_at=now,
            health_score=result.score,
            health_status=result.status,
            online=inputs.online,
            message_count=inputs.message_count,
            command_count=inputs.command_count,
            error_count=inputs.error_count,
            success_rate=inputs.success_rate,
            average_response_time=average,
            recommendations=list(result.recommendations),
        )
    )


async def check_robot(
    session: AsyncSession, robot: Robot, online: bool | None, now: datetime, polled: bool = True
) -> tuple[HealthInputs, HealthResult]:
    """Recompute one robot's health and store it (`polled`: `online` is a fresh poll)."""
    inputs = await gather_inputs(session, robot, online if polled else robot.online, now)
    result = score_health(inputs)
    apply_health(session, robot, inputs, result, now, polled)
    await session.flush()
    return inputs, result


async def prune_history(session: AsyncSession, now: datetime) -> None:
    await session.execute(
        delete(RobotHealth).where(RobotHealth.checked_at < now - timedelta(days=HISTORY_DAYS))
    )


def health_dict(robot: Robot, inputs: HealthInputs | None = None) -> dict[str, Any]:
    """The health answer (seed 000 §9.1 endpoint 6 fields, plus online and status name)."""
    return {
        "id": robot.id,
        "robot_id": robot.robot_id,
        "robot_name": robot.name,
        "role": robot.role,
        "health_score": robot.health_score,
        "health_status": robot.health_status,
        "health_status_name": STATUS_NAMES.get(robot.health_status or "", "未检查"),
        "last_health_check": robot.health_checked_at.isoformat() if robot.health_checked_at else None,
        "online": robot.online,
        "online_checked_at": robot.online_checked_at.isoformat() if robot.online_checked_at else None,
        "last_seen_at": robot.last_seen_at.isoformat() if robot.last_seen_at else None,
        "message_count": inputs.message_count if inputs else None,
        "command_count": inputs.command_count if inputs else None,
        "error_count": inputs.error_count if inputs else None,
        "success_rate": inputs.success_rate if inputs else None,
        "average_response_time": (
            round(inputs.average_time * 1000) if inputs and inputs.average_time is not None else None
        ),
        "recommendations": list(robot.health_recommendations or []),
    }


def history_dict(row: RobotHealth) -> dict[str, Any]:
    return {
        "checked_at": row.checked_at.isoformat(),
        "health_score": row.health_score,
        "health_status": row.health_status,
        "online": row.online,
        "message_count": row.message_count,
        "command_count": row.command_count,
        "error_count": row.error_count,
        "success_rate": row.success_rate,
        "average_response_time": row.average_response_time,
        "recommendations": list(row.recommendations or []),
    }


async def latest_history(session: AsyncSession, robot: Robot, limit: int = 50) -> list[RobotHealth]:
    query = (
        select(RobotHealth)
        .where(RobotHealth.robot_id == robot.id)
        .order_by(RobotHealth.checked_at.desc(), RobotHealth.id.desc())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def latest_inputs(session: AsyncSession, robot: Robot) -> HealthInputs | None:
    """The figures of the robot's last check (from its history row)."""
    rows = await latest_history(session, robot, 1)
    if not rows:
        return None
    row = rows[0]
    succeeded = round((row.success_rate or 0) * row.command_count / 100)
    return HealthInputs(
        online=row.online,
        message_count=row.message_count,
        command_count=row.command_count,
        succeeded=succeeded,
        error_count=row.error_count,
        average_time=row.average_response_time / 1000 if row.average_response_time is not None else None,
    )


def local_midnight(now: datetime) -> datetime:
    local = clock.to_local(now)
    return clock.as_utc(local.replace(hour=0, minute=0, second=0, microsecond=0))


async def today_stats(session: AsyncSession, now: datetime) -> dict[int, dict[str, Any]]:
    """Per robot pk: today's sends (local day), success rate of the finished ones, average time."""
    since = local_midnight(now)
    finished = Command.status.in_(FINISHED)
    rows = await session.execute(
        select(
            Command.robot_id,
            func.count(),
            func.coalesce(func.sum(case((finished, 1), else_=0)), 0),
            func.coalesce(func.sum(case((Command.status == SUCCEEDED, 1), else_=0)), 0),
            func.avg(case((Command.status == SUCCEEDED, Command.time_cost), else_=None)),
        )
        .where(Command.sent_at >= since)
        .group_by(Command.robot_id)
    )
    stats: dict[int, dict[str, Any]] = {}
    for robot_pk, sends, done, succeeded, average in rows:
        stats[robot_pk] = {
            "sends": int(sends),
            "succeeded": int(succeeded),
            "success_rate": round(int(succeeded) * 100.0 / int(done), 1) if done else None,
            "average_time": round(float(average), 2) if average is not None else None,
        }
    return stats
