"""Flow nodes: after-sales association check (before classification) and after-sales tracking.

`find_after_sales_task` puts the sender's open task (pending / waiting_user_response) into
ctx.data["open_task"], which classification and response detection (§3.4) read.
`track_after_sales` acts on what the earlier nodes decided: responses and refusals (§6.3), task
creation from staff @-mentions and chat_after_sales messages (§6.1), operator tracking tasks and
conflicts (§7), staff activity and completion.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.aftersales import conflicts
from app.aftersales.config import AfterSalesSettings, load_settings
from app.aftersales.live import TASK_EVENT, publish_after_commit
from app.aftersales.models import OPEN_STATUSES, WAITING_STATUSES, AfterSalesConflict, AfterSalesTask
from app.aftersales.service import (
    add_history,
    create_task,
    event_data,
    open_task_for,
    record_refusal,
    record_response,
    set_status,
    staff_at_again,
    task_completed,
)
from app.aftersales.staff import touch_staff
from app.aftersales.textrules import has_task_words, mentions, says_done, task_type_of
from app.chat.registry import PeopleDirectory
from app.flows.registry import FlowNode, NodeContext, NodeResult, register_node


@register_node
class FindAfterSalesTask(FlowNode):
    type_name = "find_after_sales_task"
    title = "售后任务关联"

    async def run(self, ctx: NodeContext) -> NodeResult:
        m = ctx.message
        if m.sender_role != "user" or m.group_id is None:
            return NodeResult(output={"open_task": None})
        if m.group_id not in await _task_groups(ctx):
            return NodeResult(output={"open_task": None})
        task = await open_task_for(ctx.session, m.group_id, m.sender_name)
        if task is None:
            return NodeResult(output={"open_task": None})
        ctx.data["open_task"] = task
        return NodeResult(branch="open_task", output={"open_task": task.id, "status": task.status})


async def _task_groups(ctx: NodeContext) -> set[int]:
    """Groups with a task waiting for its user, read once per batch (saves a query per message of
    the many groups without one); the node adds the groups it creates tasks in."""
    groups: set[int] | None = ctx.batch.get("aftersales_task_groups")
    if groups is None:
        rows = await ctx.session.execute(
            select(AfterSalesTask.group_id)
            .where(AfterSalesTask.status.in_(WAITING_STATUSES), AfterSalesTask.group_id.is_not(None))
            .distinct()
        )
        groups = ctx.batch["aftersales_task_groups"] = {g for g in rows.scalars() if g is not None}
    return groups


async def _conflict_groups(ctx: NodeContext) -> set[int]:
    groups: set[int] | None = ctx.batch.get("aftersales_conflict_groups")
    if groups is None:
        rows = await ctx.session.execute(
            select(AfterSalesConflict.group_id).where(AfterSalesConflict.status == "open").distinct()
        )
        groups = ctx.batch["aftersales_conflict_groups"] = {g for g in rows.scalars() if g is not None}
    return groups


async def _settings(ctx: NodeContext) -> AfterSalesSettings:
    if "aftersales_settings" not in ctx.batch:
        ctx.batch["aftersales_settings"] = await load_settings(ctx.session)
    settings: AfterSalesSettings = ctx.batch["aftersales_settings"]
    return settings


async def _directory(ctx: NodeContext) -> PeopleDirectory:
    directory = ctx.batch.get("people")
    if directory is None:
        directory = ctx.batch["people"] = await PeopleDirectory.load(ctx.session)
    return directory  # type: ignore[no-any-return]


async def _user_mentions(ctx: NodeContext) -> list[str]:
    directory = await _directory(ctx)
    m = ctx.message
    return [n for n in mentions(m.text or "") if directory.identify(n, m.group_id).role == "user"]


@register_node
class TrackAfterSales(FlowNode):
    type_name = "track_after_sales"
    title = "售后跟踪"

    async def run(self, ctx: NodeContext) -> NodeResult:
        m = ctx.message
        if m.group_id is None or m.is_private:
            return NodeResult(output={"action": "none", "reason": "私聊"})
        out: dict[str, Any] = {"actions": []}
        if m.sender_role == "user":
            await self._user(ctx, out)
        elif m.sender_role == "staff":
            await self._staff(ctx, out)
        elif m.sender_role == "operator":
            await self._operator(ctx, out)
        if {"task_created", "tracking_created", "staff_at"} & set(out["actions"]):
            (await _task_groups(ctx)).add(m.group_id)  # group_id checked above
        branch = out["actions"][0] if out["actions"] else "default"
        return NodeResult(branch=branch, output=out)

    async def _user(self, ctx: NodeContext, out: dict[str, Any]) -> None:
        m = ctx.message
        task: AfterSalesTask | None = ctx.data.get("open_task")
        response = ctx.data.get("after_sales_response", m.after_sales_response or "none")
        if task is not None and response == "response":
            await record_response(ctx.session, task, m.text, m.id, ctx.now, await _settings(ctx))
            out["actions"].append("responded")
            out["task_id"] = task.id
        elif task is not None and response == "refusal":
            await record_refusal(ctx.session, task, m.text, m.id, ctx.now, await _settings(ctx))
            out["actions"].append("refused")
            out["task_id"] = task.id
        elif m.message_type == "chat_after_sales":
            existing = task or await open_task_for(ctx.session, m.group_id, m.sender_name, OPEN_STATUSES)
            if existing is None:
                created = await create_task(
                    ctx.session,
                    group_id=m.group_id,
                    group_name=m.group_name,
                    user=m.sender_name,
                    task_type=task_type_of(m.text),
                    source="user_message",
                    now=ctx.now,
                    settings=await _settings(ctx),
                    created_by=m.sender_name,
                    description=m.text,
                    message_id=m.id,
                )
                out["actions"].append("task_created")
                out["task_id"] = created.id
            else:
                add_history(
                    existing, ctx.now, "user_message", m.sender_name, note=m.text[:120], message_id=m.id
                )
                out["task_id"] = existing.id
        await self._conflict(ctx, out)

    async def _staff(self, ctx: NodeContext, out: dict[str, Any]) -> None:
        m = ctx.message
        settings = await _settings(ctx)
        await touch_staff(
            ctx.session, m.sender_name, ctx.now, create=ctx.data.get("person_role") == "after_sales"
        )
        users = await _user_mentions(ctx)
        text = m.text or ""
        if says_done(text):
            done = await self._complete(ctx, users)
            if done:
                out["actions"].append("completed")
                out["completed"] = done
                return
        if users and (m.message_type == "staff_at_user" or has_task_words(text)):
            for user in users:
                existing = await open_task_for(ctx.session, m.group_id, user, (*OPEN_STATUSES, "timeout"))
                if existing is not None:
                    await staff_at_again(ctx.session, existing, ctx.now, settings, m.sender_name)
                    out["actions"].append("staff_at")
                    continue
                if not has_task_words(text):
                    continue  # a plain @ without a task is a reminder, not a new task
                created = await create_task(
                    ctx.session,
                    group_id=m.group_id,
                    group_name=m.group_name,
                    user=user,
                    task_type=task_type_of(text),
                    source="staff_at",
                    now=ctx.now,
                    settings=settings,
                    created_by=m.sender_name,
                    description=text,
                    message_id=m.id,
                    staff_at=True,
                )
                out["actions"].append("task_created")
                out.setdefault("created", []).append(created.id)
        await self._follow_up(ctx, users)

    async def _follow_up(self, ctx: NodeContext, users: list[str]) -> None:
        """A staff message after a user responded is the staff follow-up (stops the follow-up reminder)."""
        m = ctx.message
        query = select(AfterSalesTask).where(
            AfterSalesTask.group_id == m.group_id,
            AfterSalesTask.status == "in_progress",
            AfterSalesTask.staff_follow_up_time.is_(None),
        )
        for task in (await ctx.session.execute(query)).scalars():
            if not users or task.target_user in users:
                task.staff_follow_up_time = ctx.now
                task.next_check_at = None
                add_history(task, ctx.now, "staff_follow_up", m.sender_name, message_id=m.id)

    async def _complete(self, ctx: NodeContext, users: list[str]) -> list[int]:
        """Staff said it is done: the mentioned users' open tasks, or the group's only one in progress."""
        m = ctx.message
        query = select(AfterSalesTask).where(
            AfterSalesTask.group_id == m.group_id, AfterSalesTask.status.in_(OPEN_STATUSES)
        )
        tasks = list((await ctx.session.execute(query)).scalars())
        if users:
            chosen = [t for t in tasks if t.target_user in users]
        else:
            in_progress = [t for t in tasks if t.status == "in_progress"]
            chosen = in_progress if len(in_progress) == 1 else []
        for task in chosen:
            task.staff_follow_up_time = task.staff_follow_up_time or ctx.now
            set_status(task, "completed", ctx.now, m.sender_name, f"工作人员确认完成：{(m.text or '')[:60]}")
            await task_completed(ctx.session, task, ctx.now)
            publish_after_commit(
                ctx.session,
                TASK_EVENT,
                event_data(task, f"{task.group_name} {task.target_user} 任务已完成", "completed"),
            )
        return [t.id for t in chosen]

    async def _operator(self, ctx: NodeContext, out: dict[str, Any]) -> None:
        m = ctx.message
        users = await _user_mentions(ctx)
        # An operator @-mentioning a user with a task is assigning work, whatever the tone.
        assigning = m.message_type == "operator_assign_user" or has_task_words(m.text or "")
        if assigning and users:
            settings = await _settings(ctx)
            for user in users:
                existing = await open_task_for(ctx.session, m.group_id, user, (*OPEN_STATUSES, "timeout"))
                if existing is not None:  # the operator presses on an open task: wait for the user again
                    await staff_at_again(ctx.session, existing, ctx.now, settings, m.sender_name)
                    out["actions"].append("staff_at")
                    continue
                created = await create_task(
                    ctx.session,
                    group_id=m.group_id,
                    group_name=m.group_name,
                    user=user,
                    task_type=task_type_of(m.text),
                    source="operator_assign",
                    kind="tracking",
                    now=ctx.now,
                    settings=settings,
                    created_by=m.sender_name,
                    description=m.text,
                    message_id=m.id,
                    staff_at=True,
                )
                out["actions"].append("tracking_created")
                out.setdefault("created", []).append(created.id)
        await self._conflict(ctx, out)

    async def _conflict(self, ctx: NodeContext, out: dict[str, Any]) -> None:
        m = ctx.message
        found = await conflicts.detect(ctx.session, m, ctx.now)
        if found is not None:
            conflict = await conflicts.start_conflict(ctx.session, m, *found, ctx.now, await _settings(ctx))
            out["actions"].append("conflict")
            out["conflict_id"] = conflict.id
            if m.group_id is not None:
                (await _conflict_groups(ctx)).add(m.group_id)
            return
        if m.sender_role == "user" and (
            m.sentiment_label == "positive" or ctx.data.get("after_sales_response") == "response"
        ):
            if m.group_id not in await _conflict_groups(ctx):
                return
            current = await conflicts.open_conflict(ctx.session, m.group_id)
            if current is not None and current.user_name == m.sender_name:
                await conflicts.resolve(ctx.session, current, "system", "用户情绪好转", ctx.now)
                out["actions"].append("conflict_resolved")
