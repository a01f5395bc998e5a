"""What PostgreSQL is doing during a run: sampled wait events of the bench database, deadlocks.

A background thread samples pg_stat_activity a few times a second; the summary gives, per
wait event and per statement, the share of busy backend samples of the bench database: running
(CPU), waiting (e.g. Lock:transactionid) or idle in transaction (holding its locks while the
application works). For idle-in-transaction backends the statement is the last one they ran.
Deadlocks come from pg_stat_database.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

SAMPLE_SECONDS = 0.25
ACTIVITY = """
SELECT CASE WHEN state = 'active' THEN coalesce(wait_event_type || ':' || wait_event, 'CPU')
            ELSE 'idle in transaction' END AS wait,
       left(query, 90) AS query
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND state IN ('active', 'idle in transaction')
"""
DEADLOCKS = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"


def statement_kind(query: str) -> str:
    """A short label: the first words of the statement, literals and parameters dropped."""
    words = " ".join(query.split()).split(" ")
    return " ".join(words[:4])


class PgWatch:
    """Use as a context manager around a run; read .summary afterwards."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.samples = 0
        self.active = 0
        self.waits: Counter[str] = Counter()
        self.queries: Counter[str] = Counter()
        self.cpu_queries: Counter[str] = Counter()  # statements of backends running (not waiting)
        self.deadlocks_before = 0
        self.summary: dict[str, Any] = {}
        self.error: str | None = None

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.database_url, autocommit=True, connect_timeout=5)

    def _deadlocks(self) -> int:
        with self._connect() as conn:
            row = conn.execute(DEADLOCKS).fetchone()
        return int(row[0]) if row else 0

    def _sample(self) -> None:
        try:
            with self._connect() as conn:
                while not self.stop_event.wait(SAMPLE_SECONDS):
                    rows = conn.execute(ACTIVITY).fetchall()
                    self.samples += 1
                    self.active += len(rows)
                    for wait, query in rows:
                        self.waits[wait] += 1
                        self.queries[f"{wait} · {statement_kind(query)}"] += 1
                        if wait == "CPU":
                            self.cpu_queries[statement_kind(query)] += 1
        except Exception as exc:  # diagnostics must never break the benchmark
            self.error = f"{type(exc).__name__}: {exc}"

    def __enter__(self) -> PgWatch:
        try:
            self.deadlocks_before = self._deadlocks()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        self.thread = threading.Thread(target=self._sample, name="pg-watch", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(5)
        try:
            deadlocks = self._deadlocks() - self.deadlocks_before
        except Exception:
            deadlocks = -1
        busy = self.active or 1
        running = sum(self.cpu_queries.values()) or 1
        self.summary = {
            "samples": self.samples,
            "avg_active_backends": self.active / self.samples if self.samples else 0.0,
            "waits": [(name, n / busy) for name, n in self.waits.most_common(6)],
            "statements": [(name, n / busy) for name, n in self.queries.most_common(6)],
            "running_statements": [(name, n / running) for name, n in self.cpu_queries.most_common(6)],
            "deadlocks": deadlocks,
            "error": self.error,
        }
