"""Webhook ingest: robot authentication, rate limiting, and the batched, de-duplicated writer.

Every accepted message is committed before its future resolves, so the webhook answers 200
only for stored messages. Concurrent requests share one transaction per batch.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.chat.groups import ensure_groups
from app.chat.models import MEDIA_KINDS, PRIVATE_ROOM_TYPES, Message
from app.db import Database, key_in
from app.errors import Unauthorized
from app.ingest.dedup import WINDOW, RecentMessage, RecentMessages, dedup_key
from app.ingest.pg_insert import insert_messages
from app.ingest.schemas import WorkToolMessage
from app.robots.models import Robot

log = logging.getLogger(__name__)

MAX_BATCH = 256
SEEN_GRANULARITY = timedelta(seconds=1)
ADVISORY_LOCKS = text(
    "SELECT pg_advisory_xact_lock(k) "
    "FROM (SELECT k FROM unnest(CAST(:keys AS bigint[])) AS t(k) ORDER BY k) AS s"
)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RobotIdentity:
    pk: int
    robot_id: str
    role: str
    token_hash: str
    active: bool


class RobotDirectory:
    """robot_id → identity, cached for a few seconds; invalidated when robots change here."""

    TTL = 5.0

    def __init__(self, db: Database) -> None:
        self.db = db
        self.cache: dict[str, RobotIdentity] = {}
        self.loaded_at = 0.0
        self.lock = asyncio.Lock()

    def invalidate(self) -> None:
        self.loaded_at = 0.0

    async def _reload(self) -> None:
        async with self.lock:
            if time.monotonic() - self.loaded_at < self.TTL:
                return
            async with self.db.session() as session:
                rows = await session.execute(
                    select(Robot.id, Robot.robot_id, Robot.role, Robot.token_hash, Robot.active)
                )
                self.cache = {
                    r.robot_id: RobotIdentity(r.id, r.robot_id, r.role, r.token_hash, r.active) for r in rows
                }
            self.loaded_at = time.monotonic()

    async def authenticate(self, robot_id: str, token: str | None) -> RobotIdentity:
        if time.monotonic() - self.loaded_at >= self.TTL or robot_id not in self.cache:
            await self._reload()
        identity = self.cache.get(robot_id)
        if identity is None or not identity.active:
            raise Unauthorized("未知的机器人或机器人已停用")
        if not token or not hmac.compare_digest(identity.token_hash, hash_token(token)):
            raise Unauthorized("回调令牌无效")
        return identity


@dataclass(slots=True)
class PendingMessage:
    robot: RobotIdentity
    payload: WorkToolMessage
    raw: dict[str, Any]
    future: asyncio.Future[int]


class IngestWriter:
    """Collects concurrent webhook messages and stores them in batches."""

    def __init__(self, db: Database, on_stored: Any, announce: Any = None) -> None:
        self.db = db
        self.on_stored = on_stored  # async callable(list[int]) → enqueue processing
        self.announce = announce  # async callable(list[dict]) → live event for the stored rows
        self.queue: asyncio.Queue[PendingMessage] = asyncio.Queue()
        self.recent = RecentMessages()
        self.robots_seen: dict[int, datetime] = {}
        self.task: asyncio.Task[None] | None = None
        self.writing = False

    def waiting(self) -> bool:
        """Messages are queued or being written (embedded processing gives way to them)."""
        return self.writing or not self.queue.empty()

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self._loop(), name="ingest-writer")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if not item.future.done():
                item.future.set_exception(RuntimeError("服务正在关闭"))

    async def submit(self, robot: RobotIdentity, payload: WorkToolMessage, raw: dict[str, Any]) -> int:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        await self.queue.put(PendingMessage(robot, payload, raw, future))
        return await future

    async def _loop(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < MAX_BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            self.writing = True
            try:
                stored = await self._write(batch)
            except Exception as exc:
                log.exception("storing a webhook batch failed", extra={"batch": len(batch)})
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            finally:
                self.writing = False
            if stored:
                new_ids = [row["id"] for row in stored]
                try:
                    await self.on_stored(new_ids)
                except Exception:
                    # Stored but not enqueued: the periodic sweep picks these up.
                    log.exception("enqueueing stored messages failed", extra={"ids": new_ids[:5]})
                if self.announce is not None:
                    try:
                        await self.announce(stored)
                    except Exception:
                        log.exception("announcing stored messages failed", extra={"ids": new_ids[:5]})

    async def _write(self, batch: list[PendingMessage]) -> list[dict[str, Any]]:
        """Store the batch; returns the new rows' column values, each with its `id`."""
        now = clock.now()
        self.recent.prune(now)
        prepared = [(item, self._key(item)) for item in batch]
        try:
            return await self._write_prepared(prepared, now)
        except BaseException:
            # Placeholders, robot marks and seen times of a failed batch must not outlive it.
            self.recent = RecentMessages()
            self.robots_seen = {}
            raise

    async def _write_prepared(
        self, prepared: list[tuple[PendingMessage, str]], now: datetime
    ) -> list[dict[str, Any]]:
        postgres = self.db.engine.dialect.name == "postgresql"
        async with self.db.transaction() as session:
            groups = {
                item.payload.groupName: (item.payload.groupRemark, item.payload.roomType)
                for item, _ in prepared
                if item.payload.groupName and item.payload.roomType not in PRIVATE_ROOM_TYPES
            }
            group_ids = await ensure_groups(session, groups, now) if groups else {}
            await self._load_recent_from_db(session, {key for _, key in prepared}, now)

            fresh: list[tuple[PendingMessage, str, RecentMessage]] = []
            repeats: list[tuple[PendingMessage, RecentMessage]] = []
            for item, key in prepared:
                existing = self.recent.find(key, item.robot.pk, now)
                if existing is not None:
                    existing.robots.add(item.robot.pk)
                    repeats.append((item, existing))
                    continue
                entry = RecentMessage(-1, now, {item.robot.pk})
                self.recent.add(key, entry)  # a repeat later in this batch finds it
                fresh.append((item, key, entry))

            rows: list[dict[str, Any]] = []
            if fresh:
                rows = [self._row(item, key, entry, now, group_ids) for item, key, entry in fresh]
                if postgres:
                    ids = await insert_messages(session, rows)
                else:
                    result = await session.execute(
                        insert(Message).returning(Message.id, sort_by_parameter_order=True), rows
                    )
                    ids = list(result.scalars())
                for (_item, _key, entry), row, message_id in zip(fresh, rows, ids, strict=True):
                    entry.message_id = row["id"] = message_id
            earlier = {id(entry): entry for _item, entry in repeats if entry.received_at < now}
            for entry in earlier.values():
                await session.execute(
                    update(Message)
                    .where(Message.id == entry.message_id)
                    .values(reported_by=sorted(entry.robots))
                )
            robot_pks = self._robots_to_mark_seen({item.robot.pk for item, _ in prepared}, now)
            if robot_pks:
                await session.execute(update(Robot).where(Robot.id.in_(robot_pks)).values(last_seen_at=now))

        for item, _key, entry in fresh:
            item.future.set_result(entry.message_id)
        for item, entry in repeats:
            item.future.set_result(entry.message_id)
        return rows

    def _robots_to_mark_seen(self, robot_pks: set[int], now: datetime) -> list[int]:
        """Robots whose `last_seen_at` is older than SEEN_GRANULARITY: a busy robot's row is not
        rewritten (and locked) by every batch."""
        due = sorted(
            pk
            for pk in robot_pks
            if (seen := self.robots_seen.get(pk)) is None or now - seen >= SEEN_GRANULARITY
        )
        for pk in due:
            self.robots_seen[pk] = now
        return due

    def _key(self, item: PendingMessage) -> str:
        p = item.payload
        private = str(item.robot.pk) if p.roomType in PRIVATE_ROOM_TYPES else None
        return dedup_key(p.groupName, p.receivedName, p.rawSpoken or p.spoken, p.textType, private)

    async def _load_recent_from_db(self, session: AsyncSession, keys: set[str], now: datetime) -> None:
        """Messages stored by other processes (or before a restart) within the window."""
        unknown = [k for k in keys if k not in self.recent.by_key]
        if not unknown:
            return
        postgres = session.bind is not None and session.bind.dialect.name == "postgresql"
        if postgres:
            # Serialise concurrent writers (other web processes) on the same keys.
            await session.execute(ADVISORY_LOCKS, {"keys": sorted({int(k[:15], 16) for k in unknown})})
        found = await session.execute(
            select(Message.id, Message.dedup_key, Message.received_at, Message.reported_by).where(
                key_in(Message.dedup_key, unknown, postgres), Message.received_at >= now - WINDOW
            )
        )
        for row in found:
            self.recent.add(row.dedup_key, RecentMessage(row.id, row.received_at, set(row.reported_by or [])))

    @staticmethod
    def _row(
        item: PendingMessage, key: str, entry: RecentMessage, now: datetime, group_ids: dict[str, int]
    ) -> dict[str, Any]:
        p = item.payload
        return {
            "robot_id": item.robot.pk,
            "reported_by": sorted(entry.robots),
            "group_id": group_ids.get(p.groupName),
            "group_name": p.groupName,
            "group_remark": p.groupRemark,
            "sender_name": p.receivedName,
            "text": p.spoken,
            "raw_text": p.rawSpoken or p.spoken,
            "room_type": p.roomType,
            "text_type": p.textType,
            "media_kind": MEDIA_KINDS.get(p.textType, "unknown"),
            "at_me": p.atMe,
            "raw_payload": item.raw,
            "received_at": now,
            "dedup_key": key,
            "status": "received",
            "attempts": 0,
            "is_staff_intervention": False,
            "intervention_needed": False,
        }
