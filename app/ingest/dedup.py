"""Duplicate detection: several robots of one group report the same message.

A report is a duplicate when the same group, sender and raw text arrived within the window
from a robot that has not yet reported it. The same robot reporting the same words twice
means the person really said them twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

WINDOW = timedelta(seconds=10)


def dedup_key(group_name: str, sender: str, raw_text: str, text_type: int, private_robot: str | None) -> str:
    scope = f"p:{private_robot}" if private_robot is not None else f"g:{group_name}"
    material = f"{scope}\x1f{sender}\x1f{text_type}\x1f{raw_text}".encode()
    return hashlib.sha256(material).hexdigest()


@dataclass
class RecentMessage:
    message_id: int
    received_at: datetime
    robots: set[int] = field(default_factory=set)


class RecentMessages:
    """In-process memory of the last WINDOW of stored messages, by dedup key."""

    def __init__(self) -> None:
        self.by_key: dict[str, list[RecentMessage]] = {}
        self.last_prune: datetime | None = None

    def find(self, key: str, robot: int, now: datetime) -> RecentMessage | None:
        for entry in self.by_key.get(key, ()):
            if now - entry.received_at <= WINDOW and robot not in entry.robots:
                return entry
        return None

    def add(self, key: str, entry: RecentMessage) -> None:
        self.by_key.setdefault(key, []).append(entry)

    def prune(self, now: datetime) -> None:
        if self.last_prune is not None and now - self.last_prune < WINDOW:
            return
        self.last_prune = now
        stale = now - WINDOW
        for key in list(self.by_key):
            kept = [e for e in self.by_key[key] if e.received_at >= stale]
            if kept:
                self.by_key[key] = kept
            else:
                del self.by_key[key]
