"""Pieces shared by the load generator, the SSE probe and the orchestrator."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

ROBOT_ID = "bench-1"
GROUPS = 24
SENDERS = 97


def message_body(tag: str, index: int) -> bytes:
    """One WorkTool message callback, exactly WorkTool's JSON shape, unique per (tag, index).

    The hub de-duplicates the same group + sender + rawSpoken within 10 s, so the text carries
    the run tag and a counter, and messages are spread over several groups and senders.
    """
    text = f"[{tag}#{index}] 3号楼电梯巡检完成，请值班人员确认"
    payload = {
        "spoken": text,
        "rawSpoken": text,
        "receivedName": f"压测用户{index % SENDERS:03d}",
        "groupName": f"压测群{index % GROUPS:02d}",
        "groupRemark": "",
        "roomType": 1,
        "atMe": False,
        "textType": 1,
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (q in 0–100); NaN when empty."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean in milliseconds."""
    ordered = sorted(seconds)
    mean = sum(ordered) / len(ordered) if ordered else math.nan
    return {
        "p50": percentile(ordered, 50) * 1000,
        "p95": percentile(ordered, 95) * 1000,
        "p99": percentile(ordered, 99) * 1000,
        "max": (ordered[-1] if ordered else math.nan) * 1000,
        "mean": mean * 1000,
    }
