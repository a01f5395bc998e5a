"""Flow node: decide whether and when a robot replies, and through which robot."""

from __future__ import annotations

from app.flows.registry import FlowNode, NodeContext, NodeResult, register_node


@register_node
class DecideReply(FlowNode):
    type_name = "decide_reply"
    title = "回复决策"

    async def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult()
