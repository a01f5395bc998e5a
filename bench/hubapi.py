"""The orchestrator's view of the hub through its JSON API (bearer token): message counts."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from bench.servers import Hub

POLL_SECONDS = 0.25
OBSERVE_BEFORE_GIVING_UP = 15.0


@dataclass(frozen=True)
class Counts:
    stored: int
    processed: int
    failed: int


@dataclass(frozen=True)
class Drain:
    drained: bool
    seconds: float  # from the end of the load until everything accepted was processed (or we gave up)
    counts: Counts
    projected_seconds: float | None = None  # when given up early: the drain time at the observed rate


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
        """Poll until `expected` messages are processed or failed (a failure counts as a loss).

        Gives up early when, after OBSERVE_BEFORE_GIVING_UP seconds, the observed processing rate
        cannot finish within the timeout; the projected drain time is reported instead.
        """
        started = time.monotonic()
        deadline = started + timeout
        first = self.counts()
        while True:
            counts = self.counts()
            now = time.monotonic()
            waited = max(0.0, time.time() - load_ended_at)
            done = counts.processed + counts.failed
            if done >= expected:
                return Drain(counts.processed >= expected, waited, counts)
            observed = now - started
            if now >= deadline:
                return Drain(
                    False, waited, counts, self._projection(first, counts, observed, expected, waited)
                )
            if observed >= OBSERVE_BEFORE_GIVING_UP:
                projected = self._projection(first, counts, observed, expected, waited)
                if projected is None or projected - waited > deadline - now:
                    return Drain(False, waited, counts, projected)
            time.sleep(POLL_SECONDS)

    @staticmethod
    def _projection(
        first: Counts, now: Counts, observed: float, expected: int, waited: float
    ) -> float | None:
        rate = (now.processed + now.failed - first.processed - first.failed) / observed if observed else 0.0
        if rate <= 0:
            return None
        return waited + (expected - now.processed - now.failed) / rate
