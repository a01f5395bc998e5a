"""Flow definitions: the default flow is stored as data (version 1) when missing."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.flows.definition import DEFAULT_FLOW, compile_flow
from app.flows.models import FlowDefinition


async def ensure_default_flow(session: AsyncSession) -> FlowDefinition | None:
    exists = await session.scalar(
        select(func.count()).select_from(FlowDefinition).where(FlowDefinition.name == DEFAULT_FLOW["name"])
    )
    if exists:
        return None
    from app.runtime import load_plugins

    load_plugins()
    compile_flow(DEFAULT_FLOW, 1)  # refuse to store a definition that does not compile
    row = FlowDefinition(
        name=DEFAULT_FLOW["name"],
        version=1,
        definition=DEFAULT_FLOW,
        active=True,
        note="默认流程",
        created_at=clock.now(),
        created_by="system",
    )
    session.add(row)
    return row


async def list_flows(session: AsyncSession) -> list[FlowDefinition]:
    query = select(FlowDefinition).order_by(FlowDefinition.name, FlowDefinition.version.desc())
    return list((await session.execute(query)).scalars())
