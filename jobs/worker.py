"""arq WorkerSettings: the job functions registered in app.jobs plus the periodic sweep.

Run with `arq jobs.worker.WorkerSettings` (Procfile `worker:`). Jobs call app services only.
"""

from __future__ import annotations

import logging
from typing import Any

from arq import cron, func
from arq.connections import RedisSettings

from app.commands.tasks import periodic_command_sweep
from app.config import get_settings
from app.cpu_priority import lower_cpu_priority
from app.db import close_db, get_db
from app.flows.executor import FlowExecutor
from app.flows.tasks import sweep_unprocessed
from app.jobs import JOB_FUNCTIONS, MAX_TRIES, PERIODIC_JOBS, configure_jobs, cron_times, set_queue
from app.realtime.bus import EventBus, make_backend, set_bus
from app.runtime import Runtime, load_plugins
from app.understanding.llm_gateway import llm_tier

log = logging.getLogger("arq.hub")  # arq's log configuration covers the arq.* loggers only

load_plugins()
_settings = get_settings()
llm_tier()  # a misconfigured LLM provider stops start-up with a clear message
if _settings.redis_url is None:
    raise SystemExit("worker 需要 REDIS_URL（嵌入式模式下任务在 web 进程内运行，无需单独启动 worker）")


async def startup(ctx: dict[str, Any]) -> None:
    # Webhooks must answer fast; processing can wait a moment: the worker yields the CPU to web.
    for change in lower_cpu_priority(_settings.worker_nice):
        log.info("worker CPU priority lowered: %s", change)
    db = get_db()
    bus = EventBus(make_backend(_settings))
    await bus.start()
    set_bus(bus)
    queue = configure_jobs(_settings)
    await queue.connect()  # type: ignore[union-attr]
    ctx["runtime"] = Runtime(_settings, db, bus, FlowExecutor(db, _settings.max_processing_attempts))
    await sweep_unprocessed(ctx, startup=True)


async def shutdown(ctx: dict[str, Any]) -> None:
    runtime: Runtime | None = ctx.get("runtime")
    if runtime is not None:
        await runtime.bus.stop()
        set_bus(None)
    from app.jobs import get_queue

    await get_queue().close()
    set_queue(None)
    await close_db()


async def periodic_sweep(ctx: dict[str, Any]) -> int:
    return await sweep_unprocessed(ctx)


class WorkerSettings:
    functions = [func(f, name=name) for name, f in JOB_FUNCTIONS.items()]  # type: ignore[arg-type]
    cron_jobs = [
        cron(periodic_sweep, second={0}, run_at_startup=False),
        cron(periodic_command_sweep, second={0}, run_at_startup=True),
        *(
            cron(JOB_FUNCTIONS[name], name=f"periodic:{name}", unique=True, **cron_times(every))  # type: ignore[arg-type]
            for name, every in PERIODIC_JOBS.items()
        ),
    ]
    redis_settings = RedisSettings.from_dsn(_settings.redis_url or "")
    on_startup = startup
    on_shutdown = shutdown
    max_tries = MAX_TRIES
    max_jobs = 20
    job_timeout = 300
    keep_result = 60
