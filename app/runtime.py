"""The per-process wiring built once at start-up: settings, database, event bus, job queue."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from app.config import Settings
from app.db import Database
from app.flows.executor import FlowExecutor
from app.realtime.bus import EventBus


@dataclass
class Runtime:
    settings: Settings
    db: Database
    bus: EventBus
    executor: FlowExecutor
    # Processing batches allowed to run at once in this process (HUB_PROCESSING_CONCURRENCY).
    processing_slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.processing_slots = asyncio.Semaphore(self.settings.processing_concurrency)


def load_plugins() -> None:
    """Import every module that registers flow nodes or job functions."""
    import app.aftersales.nodes
    import app.aftersales.tasks
    import app.alerts.nodes
    import app.alerts.tasks
    import app.chat.nodes
    import app.commands.tasks
    import app.flows.tasks
    import app.realtime.nodes
    import app.replies.nodes
    import app.replies.tasks
    import app.robots.tasks
    import app.understanding.nodes
    import app.understanding.retrain  # noqa: F401
