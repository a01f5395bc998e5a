"""Flow node that queues the live update for a processed message (sent after commit)."""

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
        # The row was shown when the message was stored (message.new); this replaces it in place.
        ctx.events.append(
            PendingEvent(
                MESSAGES,
                "message.processed",
                lambda: render_partial("chat/_message_row.html", m=m, oob=True),
                {"id": m.id, "group": m.group_name, "sender": m.sender_name},
            )
        )
        return NodeResult(output={"topic": MESSAGES, "event": "message.processed"})
