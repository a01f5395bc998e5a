"""Server-sent events: GET /events?topics=…&since=…

A browser that reconnects (EventSource's Last-Event-ID, or the `since` the page keeps current)
first receives the events it missed from the backend's history, then live ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator
from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.channels import ChannelsPlugin
from litestar.response import ServerSentEvent, ServerSentEventMessage

from app.errors import InvalidInput
from app.realtime.bus import HISTORY, LiveEvent
from app.realtime.topics import ALL_TOPICS

HEARTBEAT_SECONDS = 15.0
_decoder = msgspec.json.Decoder(LiveEvent)


def parse_topics(raw: str) -> list[str]:
    topics = [t.strip() for t in raw.split(",") if t.strip()]
    unknown = [t for t in topics if t not in ALL_TOPICS]
    if not topics or unknown:
        raise InvalidInput(f"topics 无效：{','.join(unknown) or '空'}（可选 {','.join(ALL_TOPICS)}）")
    return topics


CONNECT_MARGIN = 1_000_000  # sequence units are nanoseconds: events of the last 1 ms count as new


def resume_point(request: Request[Any, Any, Any], since: int | None) -> int:
    """Replay events after this sequence number: the client's resume point, else the moment of
    connecting, so an event published while the subscription starts is not lost either."""
    header = request.headers.get("last-event-id", "")
    from_header = int(header) if header.isdigit() else None
    points = [p for p in (since, from_header) if p]
    return max(points) if points else time.time_ns() // 1000 * 1000 - CONNECT_MARGIN


async def event_stream(
    channels: ChannelsPlugin, topics: list[str], after: int
) -> AsyncGenerator[ServerSentEventMessage, None]:
    async with channels.start_subscription(topics, history=HISTORY) as subscriber:
        yield ServerSentEventMessage(comment="connected", retry=2000)
        inbox: asyncio.Queue[bytes] = asyncio.Queue()

        async def pump() -> None:
            async for raw in subscriber.iter_events():
                inbox.put_nowait(raw)

        pumping = asyncio.create_task(pump())
        try:
            while True:
                try:
                    raw = await asyncio.wait_for(inbox.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield ServerSentEventMessage(comment="heartbeat")
                    continue
                with contextlib.suppress(msgspec.DecodeError):
                    event = _decoder.decode(raw)
                    if event.seq <= after:
                        continue
                    data = event.html or msgspec.json.encode(event.data).decode()
                    yield ServerSentEventMessage(data=data, event=event.event, id=str(event.seq))
        finally:
            pumping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pumping


class EventsController(Controller):
    path = "/events"
    tags = ["实时事件"]

    @get("/", summary="实时事件流（SSE）", include_in_schema=True)
    async def stream(
        self,
        request: Request[Any, Any, Any],
        channels: ChannelsPlugin,
        topics: str = "messages",
        since: int | None = None,
    ) -> ServerSentEvent:
        chosen = parse_topics(topics)
        return ServerSentEvent(
            event_stream(channels, chosen, resume_point(request, since)),
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
