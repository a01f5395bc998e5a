"""Flow node that queues the live event for a processed message (sent after commit)."""

from __future__ import annotations

from app.flows.registry import FlowNode, NodeContext, NodeResult, PendingEvent, register_node
from app.realtime.topics import MESSAGES
from app.web.templating import render_partial


@register_node
class PublishLiveEventNode(FlowNode):
    type_name = "publish_live_event"
    title = "推送实时事件"

    async def run(self, ctx: NodeContext) -> NodeResult:
        m = ctx.message
        ctx.events.append(
            PendingEvent(
                MESSAGES,
                "message.new",
                lambda: render_partial("chat/_message_row.html", m=m),
                {"id": m.id, "group": m.group_name, "sender": m.sender_name},
            )
        )
        return NodeResult(output={"topic": MESSAGES, "event": "message.new"})
