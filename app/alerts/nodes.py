"""Flow node: judge whether a processed message raises, raises again or cancels an alert."""

from __future__ import annotations

from app.flows.registry import FlowNode, NodeContext, NodeResult, register_node


@register_node
class JudgeAlert(FlowNode):
    type_name = "judge_alert"
    title = "告警判断"

    async def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult()
