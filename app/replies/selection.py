"""Which robot speaks for the hub in a group right now (shift, role, fallback) — PRODUCT.md §2.

A reply goes out through the reply robot of the current shift (robot_selection_rules, local TZ);
notices through the notify robot (or the robot named by the rule for after-sales / P0 notices).
A robot that is offline (as last polled through WorkTool's robotInfo/online) or whose health
status is in `fallback_statuses` (default: critical) is passed over for the other reply robot;
the reason is returned (RobotChoice.as_output()) so the flow trace records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.chat.models import Group
from app.replies.settings import SelectionRules, in_range, load_selection_rules
from app.robots.models import Robot, robot_groups

DAY_START_HOUR = 9
NIGHT_START_HOUR = 21
REPLY_ROLES = ("day_reply", "night_reply")
SHIFT_NAMES = {"day": "白班", "night": "晚班"}
NOTIFY_PURPOSES = {
    "notify": None,
    "after_sales_notify": "after_sales_notify_robot",
    "p0_alert_notify": "p0_alert_notify_robot",
}


def current_shift(moment: datetime | None = None, rules: SelectionRules | None = None) -> str:
    """'day' (09:00–21:00 local time by default, see robot_selection_rules) or 'night'."""
    local = clock.to_local(moment or clock.now()).time()
    start, end = (rules or SelectionRules()).day_range
    return "day" if in_range(local, start, end) else "night"


def unusable_reason(robot: Robot, rules: SelectionRules) -> str | None:
    """Why this robot should not be used now (None: usable)."""
    if not robot.active:
        return "已停用"
    if robot.online is False:
        return "离线"
    if robot.health_status and robot.health_status in rules.fallback_statuses:
        return f"健康状态为 {robot.health_status}（{robot.health_score} 分）"
    return None


def serves_shift(robot: Robot, shift: str) -> bool:
    """A reply robot serves its role's shift; its own `shift` field (all_day/day/night) can widen it."""
    return robot.shift == "all_day" or robot.shift == shift or robot.role == f"{shift}_reply"


@dataclass
class RobotChoice:
    robot: Robot | None
    purpose: str
    shift: str
    preferred: Robot | None = None
    fallback_reason: str | None = None  # set when another robot than the preferred one was chosen
    note: str | None = None  # e.g. no usable robot at all

    @property
    def fell_back(self) -> bool:
        return self.fallback_reason is not None

    def as_output(self) -> dict[str, Any]:
        return {
            "purpose": self.purpose,
            "shift": self.shift,
            "robot": self.robot.robot_id if self.robot else None,
            "robot_name": self.robot.name if self.robot else None,
            "preferred": self.preferred.robot_id if self.preferred else None,
            "fallback": self.fell_back,
            "fallback_reason": self.fallback_reason,
            "note": self.note,
        }


def _choose(
    candidates: list[Robot], rules: SelectionRules, what: str
) -> tuple[Robot | None, str | None, str | None]:
    """(chosen, fallback reason, note) from candidates in preference order."""
    if not candidates:
        return None, None, None
    preferred = candidates[0]
    why = unusable_reason(preferred, rules)
    if why is None:
        return preferred, None, None
    for other in candidates[1:]:
        if unusable_reason(other, rules) is None:
            reason = f"{what}「{preferred.name}」{why}，改用「{other.name}」"
            return other, reason, None
    return preferred, None, f"{what}「{preferred.name}」{why}，且没有可替补的机器人，仍由它发送"


async def select_robot(
    session: AsyncSession, *, group_id: int | None, purpose: str = "reply", now: datetime | None = None
) -> RobotChoice:
    """The robot for `purpose` with the reasons, for the flow trace."""
    rules = await load_selection_rules(session)
    shift = current_shift(now, rules)
    if purpose in NOTIFY_PURPOSES:
        rule = NOTIFY_PURPOSES[purpose]
        wanted = getattr(rules, rule) if rule else "notify"
        query = select(Robot).where(Robot.active.is_(True))
        if wanted in ("notify", "monitor", *REPLY_ROLES):
            query = query.where(Robot.role == wanted)
        else:
            query = query.where((Robot.robot_id == wanted) | (Robot.role == "notify"))
        robots = list((await session.execute(query.order_by(Robot.id))).scalars())
        robots.sort(key=lambda r: (r.robot_id != wanted, r.id))
        robot, reason, note = _choose(robots, rules, "通知机器人")
        return RobotChoice(robot, purpose, shift, robots[0] if robots else None, reason, note)
    if purpose != "reply":
        raise ValueError(f"unknown robot purpose {purpose!r}")
    query = select(Robot).where(Robot.active.is_(True), Robot.role.in_(REPLY_ROLES))
    if group_id is not None:
        query = query.join(robot_groups, robot_groups.c.robot_id == Robot.id).where(
            robot_groups.c.group_id == group_id
        )
    robots = list((await session.execute(query.order_by(Robot.id))).scalars())
    # Current shift's role first, then robots whose shift setting covers it, then the rest.
    robots.sort(key=lambda r: (r.role != f"{shift}_reply", not serves_shift(r, shift), r.id))
    robot, reason, note = _choose(robots, rules, f"{SHIFT_NAMES[shift]}回复机器人")
    if robot is None:
        note = "该群没有登记回复机器人"
    return RobotChoice(robot, purpose, shift, robots[0] if robots else None, reason, note)


async def pick_robot(
    session: AsyncSession, *, group_id: int | None, purpose: str = "reply", now: datetime | None = None
) -> Robot | None:
    """The active robot for `purpose` ('reply' or 'notify'; also 'after_sales_notify' and
    'p0_alert_notify', which follow their robot_selection_rules entry) in this group at `now`.

    Reply: the current shift's reply robot of the group, falling back to the other reply robot
    of the group when it is offline or unhealthy. Notify: the notify robot (need not be in the
    group). Use select_robot() to also get the fallback reason for the trace."""
    return (await select_robot(session, group_id=group_id, purpose=purpose, now=now)).robot


async def group_title(session: AsyncSession, group_id: int) -> str | None:
    group = await session.get(Group, group_id)
    return group.name if group else None
