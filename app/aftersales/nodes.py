"""Flow node: after-sales and operator tracking (tasks, responses, refusals, conflicts)."""

from __future__ import annotations

from app.flows.registry import FlowNode, NodeContext, NodeResult, register_node


@register_node
class TrackAfterSales(FlowNode):
    type_name = "track_after_sales"
    title = "售后跟踪"

    async def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult()
