"""Foundation flow nodes: receive, identify sender role, session update."""

from __future__ import annotations

from app.chat.models import ROOM_TYPES
from app.chat.registry import PeopleDirectory
from app.chat.sessions import apply_group_counts, prefetch_sessions, touch_session
from app.flows.registry import BATCH_MESSAGES, FlowNode, NodeContext, NodeResult, batch_totals, register_node


@register_node
class ReceiveNode(FlowNode):
    type_name = "receive"
    title = "接收消息"

    async def run(self, ctx: NodeContext) -> NodeResult:
        m = ctx.message
        return NodeResult(
            output={
                "room": ROOM_TYPES.get(m.room_type, str(m.room_type)),
                "media_kind": m.media_kind,
                "length": len(m.text),
                "at_me": m.at_me,
                "reported_by": len(m.reported_by or []),
            }
        )


@register_node
class IdentifySenderRoleNode(FlowNode):
    """Registry lookup (group entry, then global entry, then robot names); unknown → user."""

    type_name = "identify_sender_role"
    title = "识别发送者角色"

    async def run(self, ctx: NodeContext) -> NodeResult:
        directory = ctx.batch.get("people")
        if directory is None:
            directory = ctx.batch["people"] = await PeopleDirectory.load(ctx.session)
        identity = directory.identify(ctx.message.sender_name, ctx.message.group_id)
        ctx.message.sender_role = identity.role
        ctx.message.sender_person_id = identity.person_id
        ctx.data["person_role"] = identity.person_role
        return NodeResult(
            branch=identity.role,
            output={"role": identity.role, "matched": identity.matched, "person_id": identity.person_id},
        )


@register_node
class SessionUpdateNode(FlowNode):
    type_name = "session_update"
    title = "更新会话"

    async def run(self, ctx: NodeContext) -> NodeResult:
        cache = ctx.batch.get("sessions")
        if cache is None:
            batch_messages = ctx.batch.get(BATCH_MESSAGES) or [ctx.message]
            cache = ctx.batch["sessions"] = await prefetch_sessions(ctx.session, batch_messages)
        counts = batch_totals(ctx.batch, "group_counts", dict, apply_group_counts)
        chat = await touch_session(ctx.session, ctx.message, ctx.now, cache, counts)
        return NodeResult(output={"session_id": chat.id, "message_count": chat.message_count})
