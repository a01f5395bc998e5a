"""Flow node: decide whether and when a robot replies, and through which robot (PRODUCT.md §5).

No reply to staff, robot or plain small talk; a staff message that answers waiting users cancels
their replies still in the queue. A reply is a command (kind "reply") through the current
shift's reply robot of the group (fallback recorded), due after the delay-table delay, or at
09:00 for low-priority late-night messages."""

from __future__ import annotations

import random
from typing import Any

import msgspec
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.commands.service import enqueue_command
from app.errors import NotFound
from app.flows.registry import FlowNode, NodeContext, NodeResult, register_node
from app.replies.delays import plan_delay
from app.replies.selection import RobotChoice, select_robot
from app.replies.service import (
    cancel_answered_replies,
    cancel_replies,
    decide,
    greeted_recently,
    other_reply_for,
    staff_answered_after,
    task_type_of,
    waiting_reply,
)
from app.replies.settings import load_delay_settings
from app.replies.templates import match_faq, render_template
from app.robots.models import Robot

URGENT_LEVELS = ("P0", "p0", 0)
GREETING_COOLDOWN_SECONDS = 600  # no second greeting to the same user within 10 minutes (scaled)


def is_urgent(data: dict[str, Any]) -> bool:
    """Whether an alert node marked this message P0 (ctx.data "alert" / "alert_level")."""
    level = data.get("alert_level")
    alert = data.get("alert")
    if level is None and alert is not None:
        level = alert.get("level") if isinstance(alert, dict) else getattr(alert, "level", None)
    return level in URGENT_LEVELS


P0_LEVEL = 4  # alert_levels: 4 = critical, 紧急告警 (P0)


async def has_p0_alert(session: AsyncSession, message_id: int) -> bool:
    """The alert node raised (or raised again) a P0 alert for this message."""
    try:
        from app.alerts.models import ACTIVE, Alert
    except ImportError:  # the alerts capability is not installed
        return False
    found = await session.scalar(
        select(Alert.id)
        .where(
            or_(Alert.message_id == message_id, Alert.last_message_id == message_id),
            Alert.level >= P0_LEVEL,
            Alert.status.in_(ACTIVE),
        )
        .limit(1)
    )
    return found is not None


class DecideReplyConfig(msgspec.Struct, frozen=True):
    enabled: bool = True


@register_node
class DecideReply(FlowNode):
    type_name = "decide_reply"
    title = "回复决策"
    Config = DecideReplyConfig

    async def run(self, ctx: NodeContext) -> NodeResult:
        m = ctx.message
        if not self.config.enabled:  # type: ignore[attr-defined]
            return NodeResult(branch="no_reply", output={"reply": False, "reason": "回复已在流程中关闭"})
        if m.sender_role in ("staff", "operator") and ctx.data.get("staff_intervened_for"):
            cancelled = await cancel_answered_replies(ctx.session, m, list(ctx.data["staff_intervened_for"]))
            if m.sender_role == "staff" or m.message_type != "operator_assign_user":
                return NodeResult(
                    branch="no_reply",
                    output={
                        "reply": False,
                        "reason": "工作人员已介入，不回复",
                        "cancelled_replies": cancelled,
                    },
                )
        delays = await load_delay_settings(ctx.session)
        decision = decide(
            sender_role=m.sender_role,
            message_type=m.message_type,
            text=m.text or "",
            at_me=m.at_me,
            after_sales_response=m.after_sales_response,
            reply_to_operator=delays.reply_to_operator,
        )
        if not decision.reply:
            return NodeResult(branch="no_reply", output={"reply": False, "reason": decision.reason})
        # No robot to speak for the hub here: nothing else to look up.
        choice = await self._robot(ctx)
        if choice.robot is None:
            return NodeResult(
                branch="no_reply",
                output={
                    "reply": False,
                    "reason": choice.note or "没有可用的回复机器人",
                    "robot": choice.as_output(),
                },
            )
        if await staff_answered_after(ctx.session, m):
            return NodeResult(branch="no_reply", output={"reply": False, "reason": "工作人员已处理，不回复"})
        other = await other_reply_for(ctx.session, m)
        if other is not None:
            reason = f"该消息已有其他回复（{other}），不重复回复"
            return NodeResult(branch="no_reply", output={"reply": False, "reason": reason})
        if decision.template == "greeting" and await greeted_recently(
            ctx.session, m, ctx.now - clock.scaled(GREETING_COOLDOWN_SECONDS)
        ):
            return NodeResult(
                branch="no_reply", output={"reply": False, "reason": "最近已回复过该用户，不重复问候"}
            )
        variables = {
            "user_name": m.sender_name,
            "group_name": m.group_name,
            "robot_name": choice.robot.name,
            "task_type": task_type_of(m.text or ""),
        }
        template = decision.template or "inquiry_ack"
        text: str | None = None
        if decision.faq:
            matched = await match_faq(ctx.session, m.text or "", **variables)
            if matched is not None:
                template, text = matched
        if text is None:
            try:
                text = await render_template(ctx.session, template, **variables)
            except NotFound:
                return NodeResult(
                    branch="no_reply", output={"reply": False, "reason": f"没有可用的回复模板（{template}）"}
                )
        plan = plan_delay(
            now=ctx.now,
            shift=choice.shift,
            message_type=m.message_type,
            sender_role=m.sender_role,
            text=m.text or "",
            settings=delays,
            urgent=is_urgent(ctx.data) or await has_p0_alert(ctx.session, m.id),
            after_sales=decision.after_sales,
            rng=ctx.batch.setdefault("reply_rng", random.Random()),
        )
        due_at = plan.due_at(ctx.now)
        replaced: int | None = None
        waiting = await waiting_reply(ctx.session, m)
        if waiting is not None:
            waiting_id, waiting_due = waiting
            if waiting_due <= due_at:
                return NodeResult(
                    branch="no_reply",
                    output={
                        "reply": False,
                        "reason": f"已有待发送的回复（指令 #{waiting_id}）",
                        "command_id": waiting_id,
                    },
                )
            # The earlier reply waits longer (e.g. a greeting queued for 09:00): this one replaces it.
            replaced = waiting_id if await cancel_replies(ctx.session, [waiting_id]) else None
        target = m.sender_name if m.is_private else m.group_name
        command = await enqueue_command(
            ctx.session,
            choice.robot,
            targets=[target],
            text=text,
            at_list=[] if m.is_private or m.sender_role == "operator" else [m.sender_name],
            due_at=due_at,
            message_id=m.id,
            kind="reply",
        )
        return NodeResult(
            branch="reply",
            output={
                "reply": True,
                "reason": decision.reason,
                "template": template,
                "text": text,
                "command_id": command.id,
                "due_at": command.due_at.isoformat(),
                "delay": plan.as_output(),
                "robot": choice.as_output(),
                "replaced_command": replaced,
            },
        )

    async def _robot(self, ctx: NodeContext) -> RobotChoice:
        m = ctx.message
        if not m.is_private:
            # One choice per group per batch (a batch spans well under a second).
            chosen: dict[int | None, RobotChoice] = ctx.batch.setdefault("reply_robots", {})
            if m.group_id not in chosen:
                chosen[m.group_id] = await select_robot(
                    ctx.session, group_id=m.group_id, purpose="reply", now=ctx.now
                )
            return chosen[m.group_id]
        # Private chat: only the robot that has the contact can answer, if it is a reply robot.
        choice = await select_robot(ctx.session, group_id=None, purpose="reply", now=ctx.now)
        robot = await ctx.session.get(Robot, m.robot_id)
        if robot is None or robot.role not in ("day_reply", "night_reply") or not robot.active:
            return RobotChoice(None, "reply", choice.shift, note="私聊来自非回复机器人，不回复")
        return RobotChoice(robot, "reply", choice.shift, robot)
