"""arq worker entry point (jobs.worker.WorkerSettings)."""
