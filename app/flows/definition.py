"""Flow definitions as data: validated, compiled into nodes, the default one seeded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from app.flows.registry import FlowNode, build_node


class NodeSpec(msgspec.Struct, frozen=True):
    type: str
    next: str | dict[str, str] | None = None
    config: dict[str, Any] = {}
    title: str = ""


class FlowSpec(msgspec.Struct, frozen=True):
    name: str
    start: str
    nodes: dict[str, NodeSpec]


DEFAULT_FLOW: dict[str, Any] = {
    "name": "default",
    "start": "receive",
    "nodes": {
        "receive": {"type": "receive", "title": "接收消息", "next": "identify_sender"},
        "identify_sender": {
            "type": "identify_sender_role",
            "title": "识别发送者",
            "next": "after_sales_task",
        },
        "after_sales_task": {"type": "find_after_sales_task", "title": "售后任务关联", "next": "classify"},
        "classify": {"type": "classify_message", "title": "识别消息类型", "next": "sentiment"},
        "sentiment": {"type": "analyse_sentiment", "title": "情绪分析", "next": "after_sales_response"},
        "after_sales_response": {
            "type": "detect_after_sales_response",
            "title": "售后响应检测",
            "next": "intervention",
        },
        "intervention": {"type": "judge_intervention", "title": "工作人员介入判断", "next": "after_sales"},
        "after_sales": {"type": "track_after_sales", "title": "售后跟踪", "next": "alert"},
        "alert": {"type": "judge_alert", "title": "告警判断", "next": "reply"},
        "reply": {"type": "decide_reply", "title": "回复决策", "next": "session_update"},
        "session_update": {"type": "session_update", "title": "更新会话", "next": "publish"},
        "publish": {"type": "publish_live_event", "title": "推送实时事件", "next": None},
    },
}


@dataclass
class CompiledFlow:
    name: str
    version: int
    start: str
    specs: dict[str, NodeSpec]
    nodes: dict[str, FlowNode]

    def next_node(self, node_id: str, branch: str) -> str | None:
        nxt = self.specs[node_id].next
        if nxt is None or isinstance(nxt, str):
            return nxt
        return nxt.get(branch, nxt.get("default"))


def compile_flow(definition: dict[str, Any], version: int) -> CompiledFlow:
    spec = msgspec.convert(definition, FlowSpec)
    if spec.start not in spec.nodes:
        raise ValueError(f"起始节点 {spec.start!r} 不存在")
    for node_id, node in spec.nodes.items():
        targets = [node.next] if isinstance(node.next, str) else list((node.next or {}).values())
        for target in targets:
            if target not in spec.nodes:
                raise ValueError(f"节点 {node_id!r} 指向不存在的节点 {target!r}")
    nodes = {node_id: build_node(node.type, node.config) for node_id, node in spec.nodes.items()}
    return CompiledFlow(spec.name, version, spec.start, dict(spec.nodes), nodes)


def default_flow_order() -> list[str]:
    """Node ids of the default flow along its default branches, start to end."""
    flow = FlowSpec(**{**DEFAULT_FLOW, "nodes": {k: NodeSpec(**v) for k, v in DEFAULT_FLOW["nodes"].items()}})
    order: list[str] = []
    node: str | None = flow.start
    while node is not None and node not in order:
        order.append(node)
        nxt = flow.nodes[node].next
        node = nxt if nxt is None or isinstance(nxt, str) else nxt.get("default")
    return order
