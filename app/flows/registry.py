"""Node registry: flow nodes are small classes registered by type name with a typed config."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from app.chat.models import Message


@dataclass
class PendingEvent:
    """A live event to publish after the batch commits; `render` builds its HTML at that moment,
    so the partial shows the message's final state."""

    topic: str
    event: str
    render: Callable[[], str] | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class NodeContext:
    """What a node reads and writes while one message runs through a flow."""

    session: AsyncSession
    message: Message
    now: datetime
    batch: dict[str, Any]  # per-batch caches shared by nodes (registries, sessions)
    data: dict[str, Any] = field(default_factory=dict)
    events: list[PendingEvent] = field(default_factory=list)


@dataclass
class NodeResult:
    branch: str = "default"
    output: dict[str, Any] = field(default_factory=dict)


TOTALS_KEY = "_totals"
BATCH_MESSAGES = "_messages"  # ctx.batch[BATCH_MESSAGES]: every message of the batch, in id order


def batch_totals(
    batch: dict[str, Any],
    key: str,
    factory: Callable[[], Any],
    finalize: Callable[[AsyncSession, Any], Awaitable[None]],
) -> Any:
    """A per-batch accumulator (counters and the like) that `finalize(session, value)` writes once,
    just before the batch commits; it survives the reset of the other caches after a failure."""
    totals = batch.setdefault(TOTALS_KEY, {})
    if key not in totals:
        totals[key] = (factory(), finalize)
    return totals[key][0]


class NoConfig(msgspec.Struct, frozen=True):
    pass


class FlowNode:
    type_name: ClassVar[str]
    title: ClassVar[str]
    Config: ClassVar[type[msgspec.Struct]] = NoConfig

    def __init__(self, config: msgspec.Struct) -> None:
        self.config = config

    async def run(self, ctx: NodeContext) -> NodeResult:
        raise NotImplementedError


NODE_TYPES: dict[str, type[FlowNode]] = {}


def register_node(cls: type[FlowNode]) -> type[FlowNode]:
    if cls.type_name in NODE_TYPES and NODE_TYPES[cls.type_name] is not cls:
        raise ValueError(f"flow node type {cls.type_name!r} registered twice")
    NODE_TYPES[cls.type_name] = cls
    return cls


def build_node(type_name: str, config: dict[str, Any] | None) -> FlowNode:
    try:
        cls = NODE_TYPES[type_name]
    except KeyError as exc:
        raise ValueError(f"未知的流程节点类型：{type_name}") from exc
    return cls(msgspec.convert(config or {}, cls.Config))
