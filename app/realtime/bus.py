"""The one publish() for live events, and the backend they travel through.

Embedded: an in-memory channels backend shared with the web app's ChannelsPlugin.
Production: a Redis stream backend, so events published by a worker reach every web process,
and recent history survives for browsers that reconnect and catch up.
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

import msgspec
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsStreamBackend

from app.config import Settings

log = logging.getLogger(__name__)

HISTORY = 500
KEY_PREFIX = "HUB_LIVE"
_encoder = msgspec.json.Encoder()
_counter = itertools.count()


class LiveEvent(msgspec.Struct, frozen=True):
    seq: int
    event: str
    html: str = ""
    data: dict[str, Any] = {}


def make_backend(settings: Settings) -> ChannelsBackend:
    if settings.redis_url is None:
        return MemoryChannelsBackend(history=HISTORY)
    from redis.asyncio import Redis

    return RedisChannelsStreamBackend(
        history=HISTORY,
        redis=Redis.from_url(settings.redis_url),
        key_prefix=KEY_PREFIX,
        stream_ttl=3600,
    )


def next_seq() -> int:
    """Monotonic enough across processes on one host: wall-clock microseconds plus a counter."""
    return time.time_ns() // 1000 * 1000 + next(_counter) % 1000


class EventBus:
    def __init__(self, backend: ChannelsBackend) -> None:
        self.backend = backend
        self.started = False

    async def start(self) -> None:
        if not self.started:
            await self.backend.on_startup()
            self.started = True

    async def stop(self) -> None:
        if self.started:
            await self.backend.on_shutdown()
            self.started = False

    async def publish(
        self, topic: str, event: str, html: str = "", data: dict[str, Any] | None = None
    ) -> int:
        seq = next_seq()
        payload = _encoder.encode(
            LiveEvent(seq=seq, event=event, html=" ".join(html.split()), data=data or {})
        )
        try:
            await self.backend.publish(payload, [topic])
        except Exception:
            # A live view missing one update must never fail the processing that produced it.
            log.exception("live event publish failed", extra={"topic": topic, "event": event})
        return seq


_bus: EventBus | None = None


def set_bus(bus: EventBus | None) -> None:
    global _bus
    _bus = bus


def get_bus() -> EventBus:
    if _bus is None:
        raise RuntimeError("event bus not configured")
    return _bus


async def publish(topic: str, event: str, html: str = "", data: dict[str, Any] | None = None) -> int:
    return await get_bus().publish(topic, event, html, data)
