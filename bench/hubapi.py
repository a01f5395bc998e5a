"""The orchestrator's view of the hub through its JSON API (bearer token): message counts."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from bench.servers import Hub


@dataclass(frozen=True)
class Counts:
    stored: int
    processed: int
    failed: int


@dataclass(frozen=True)
class Drain:
    drained: bool
    seconds: float  # from the end of the load until everything accepted was processed
    counts: Counts


class HubApi:
    def __init__(self, hub: Hub) -> None:
        self.client = httpx.Client(
            base_url=hub.base_url, headers={"Authorization": f"Bearer {hub.api_token}"}, timeout=30
        )

    def close(self) -> None:
        self.client.close()

    def total(self, status: str | None = None) -> int:
        params: dict[str, str | int] = {"page_size": 1}
        if status:
            params["status"] = status
        answer = self.client.get("/api/messages", params=params)
        answer.raise_for_status()
        body = answer.json()
        if body.get("code") != 0:
            raise RuntimeError(f"/api/messages answered {body}")
        return int(body["data"]["total"])

    def counts(self) -> Counts:
        return Counts(self.total(), self.total("processed"), self.total("failed"))

    def wait_processed(self, expected: int, load_ended_at: float, timeout: float) -> Drain:
        """Poll until `expected` messages are processed (or failed, which counts as a loss)."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.counts()
            now = time.time()
            if counts.processed + counts.failed >= expected:
                return Drain(counts.processed >= expected, max(0.0, now - load_ended_at), counts)
            if time.monotonic() > deadline:
                return Drain(False, max(0.0, now - load_ended_at), counts)
            time.sleep(0.2)
