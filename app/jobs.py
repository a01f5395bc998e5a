"""enqueue(name, **kw): arq on Redis in production, an in-process task runner when embedded.

Job functions take arq's (ctx, **kwargs) signature and are registered in JOB_FUNCTIONS, so
the worker (jobs/worker.py) and the embedded runner run exactly the same code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from arq.worker import Retry

from app.config import Settings

log = logging.getLogger(__name__)

JobFunction = Callable[..., Awaitable[Any]]
JOB_FUNCTIONS: dict[str, JobFunction] = {}
MAX_TRIES = 5


PERIODIC_JOBS: dict[str, int] = {}  # job name -> interval in whole seconds


def job(func: JobFunction) -> JobFunction:
    """Register a job function under its own name."""
    JOB_FUNCTIONS[func.__name__] = func
    return func


def periodic(every_seconds: int) -> Callable[[JobFunction], JobFunction]:
    """Register a job that the worker (arq cron) or the embedded runner starts every N seconds.

    Intervals under a minute must divide 60; longer ones must be whole minutes dividing 60 min."""
    if every_seconds < 60 and 60 % every_seconds:
        raise ValueError("periodic interval under a minute must divide 60")
    if every_seconds >= 60 and (every_seconds % 60 or 60 % (every_seconds // 60)):
        raise ValueError("periodic interval of a minute or more must be whole minutes dividing 60")

    def register(func: JobFunction) -> JobFunction:
        job(func)
        PERIODIC_JOBS[func.__name__] = every_seconds
        return func

    return register


def periodic_due(elapsed_seconds: int) -> list[str]:
    """Names of periodic jobs due at this whole second since start (embedded runner)."""
    return [name for name, every in PERIODIC_JOBS.items() if elapsed_seconds % every == 0]


def cron_times(every_seconds: int) -> dict[str, set[int]]:
    """arq cron keyword arguments for an interval registered with `periodic`."""
    if every_seconds < 60:
        return {"second": set(range(0, 60, every_seconds))}
    return {"second": {0}, "minute": set(range(0, 60, every_seconds // 60))}


class InProcessRunner:
    """Runs jobs as tasks on the web event loop (embedded default)."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()
        self.ctx: dict[str, Any] = {}
        self.closing = False

    async def enqueue(self, name: str, defer_by: float | None, kwargs: dict[str, Any]) -> None:
        if self.closing:
            return
        self._spawn(name, defer_by, kwargs, 1)

    def _spawn(self, name: str, defer_by: float | None, kwargs: dict[str, Any], attempt: int) -> None:
        task = asyncio.create_task(self._run(name, defer_by, kwargs, attempt), name=f"job:{name}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, name: str, defer_by: float | None, kwargs: dict[str, Any], attempt: int) -> None:
        if defer_by:
            await asyncio.sleep(defer_by)
        ctx = {**self.ctx, "job_try": attempt}
        try:
            await JOB_FUNCTIONS[name](ctx, **kwargs)
        except Retry as retry:
            if attempt < MAX_TRIES and not self.closing:
                delay = retry.defer_score / 1000 if retry.defer_score else 1.0
                self._spawn(name, delay, kwargs, attempt + 1)
            else:
                log.error("job gave up after %s tries", attempt, extra={"job": name})
        except Exception:
            log.exception("job failed", extra={"job": name})

    async def drain(self, wait_seconds: float = 10.0) -> None:
        """Wait for running jobs (shutdown, tests)."""
        while self.tasks:
            pending = list(self.tasks)
            _done, still = await asyncio.wait(pending, timeout=wait_seconds)
            if still:
                break

    async def close(self) -> None:
        self.closing = True
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


class ArqQueue:
    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.pool: Any = None

    async def connect(self) -> None:
        from arq import create_pool
        from arq.connections import RedisSettings

        self.pool = await create_pool(RedisSettings.from_dsn(self.redis_url))

    async def enqueue(self, name: str, defer_by: float | None, kwargs: dict[str, Any]) -> None:
        if self.pool is None:
            await self.connect()
        await self.pool.enqueue_job(name, _defer_by=defer_by, **kwargs)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()
            self.pool = None


_queue: InProcessRunner | ArqQueue | None = None


def configure_jobs(settings: Settings) -> InProcessRunner | ArqQueue:
    global _queue
    _queue = InProcessRunner() if settings.redis_url is None else ArqQueue(settings.redis_url)
    return _queue


def get_queue() -> InProcessRunner | ArqQueue:
    if _queue is None:
        raise RuntimeError("job queue not configured")
    return _queue


def set_queue(queue: InProcessRunner | ArqQueue | None) -> None:
    global _queue
    _queue = queue


async def enqueue(name: str, *, defer_by: float | None = None, **kwargs: Any) -> None:
    if name not in JOB_FUNCTIONS:
        raise KeyError(f"unknown job {name!r}")
    await get_queue().enqueue(name, defer_by, kwargs)
