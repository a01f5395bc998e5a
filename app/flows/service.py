"""Flow definitions: the built-in flow is stored as data and versioned."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.flows.definition import DEFAULT_FLOW, compile_flow
from app.flows.models import FlowDefinition


async def ensure_default_flow(session: AsyncSession) -> FlowDefinition | None:
    """Store the built-in flow as the next version when it changed, unless staff activated their own."""
    from app.runtime import load_plugins

    load_plugins()
    rows = list(
        (
            await session.execute(
                select(FlowDefinition)
                .where(FlowDefinition.name == DEFAULT_FLOW["name"])
                .order_by(FlowDefinition.version.desc())
            )
        ).scalars()
    )
    active = next((r for r in rows if r.active), None)
    if active is not None and (active.created_by != "system" or active.definition == DEFAULT_FLOW):
        return None
    compile_flow(DEFAULT_FLOW, 1)  # refuse to store a definition that does not compile
    for row in rows:
        row.active = False
    version = (rows[0].version if rows else 0) + 1
    new = FlowDefinition(
        name=DEFAULT_FLOW["name"],
        version=version,
        definition=DEFAULT_FLOW,
        active=True,
        note="默认流程" if version == 1 else "默认流程（随版本升级）",
        created_at=clock.now(),
        created_by="system",
    )
    session.add(new)
    return new


async def list_flows(session: AsyncSession) -> list[FlowDefinition]:
    query = select(FlowDefinition).order_by(FlowDefinition.name, FlowDefinition.version.desc())
    return list((await session.execute(query)).scalars())
