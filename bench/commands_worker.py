"""arq worker settings for the commands benchmark's `--poll` variant: WorkerSettings with a shorter
poll_delay (arq's default 0.5 s bounds how late a deferred job can start). arq reads the settings
class's own __dict__, so every setting is copied, not inherited."""

from __future__ import annotations

import os

from jobs.worker import WorkerSettings

FastPollWorkerSettings = {
    **{k: v for k, v in vars(WorkerSettings).items() if not k.startswith("__")},
    "poll_delay": float(os.environ.get("BENCH_ARQ_POLL_DELAY", "0.05")),
}
