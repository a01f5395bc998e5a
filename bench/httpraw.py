"""A minimal HTTP/1.1 keep-alive client on asyncio streams.

httpx and aiohttp spend far more CPU per request than the hub does, so on a 2-core box they
cannot saturate the server; this client writes one pre-built request and parses just the
status line, Content-Length and X-Hub-Message-Id of the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

CRLF2 = b"\r\n\r\n"


class ProtocolError(Exception):
    """The server answered something this client does not understand."""


@dataclass(slots=True)
class Reply:
    status: int
    message_id: int | None
    body: bytes


def header_value(head_lower: bytes, name: bytes) -> bytes | None:
    """Value of header `name` (lower-case, e.g. b"content-length") in a lower-cased response head."""
    marker = b"\r\n" + name + b":"
    start = head_lower.find(marker)
    if start < 0:
        return None
    start += len(marker)
    end = head_lower.find(b"\r\n", start)
    return head_lower[start : end if end >= 0 else None].strip()


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


class HttpConnection:
    """One persistent connection; one request in flight at a time (no pipelining)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    @property
    def is_open(self) -> bool:
        return self.writer is not None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    def post_head(self, path: str, content_type: str = "application/json") -> bytes:
        """Request line and headers up to (not including) the Content-Length value."""
        return (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: {content_type}\r\nUser-Agent: hub-bench\r\nContent-Length: "
        ).encode()

    async def post(self, head: bytes, body: bytes) -> Reply:
        """Send head (from post_head) + body and read the whole answer."""
        if self.reader is None or self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(head + str(len(body)).encode() + CRLF2 + body)
        return await self.read_reply()

    async def read_reply(self) -> Reply:
        assert self.reader is not None
        head = await self.reader.readuntil(CRLF2)
        if not head.startswith(b"HTTP/1.1 "):
            raise ProtocolError(f"bad status line {head[:40]!r}")
        status = int(head[9:12])
        lower = head.lower()
        length = header_value(lower, b"content-length")
        if length is not None:
            size = int(length)
            body = await self.reader.readexactly(size) if size else b""
        elif header_value(lower, b"transfer-encoding") == b"chunked":
            body = await read_chunked(self.reader)
        else:
            raise ProtocolError("answer without Content-Length or chunked encoding")
        raw_id = header_value(lower, b"x-hub-message-id")
        if header_value(lower, b"connection") == b"close":
            await self.close()
        return Reply(status, int(raw_id) if raw_id else None, body)
