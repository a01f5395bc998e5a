"""Start the hub the way production starts it: migrate, register a robot, web (+ arq worker).

Two set-ups, each a context manager that cleans up after itself even on errors and Ctrl-C:
embedded (fresh SQLite file in a temp dir, jobs in the web process) and production (fresh
PostgreSQL database, Redis db 13, one web process and one arq worker process).
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from bench.common import ROBOT_ID

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_BENCH_URL = "redis://127.0.0.1:6379/13"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def bin_path(name: str) -> str:
    candidate = VENV_BIN / name
    return str(candidate) if candidate.exists() else name


def stop_process(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """SIGTERM, wait, then SIGKILL: the one way every child of the benchmark is ended."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(5)


@dataclass
class Hub:
    """One set-up of the hub under test: its environment, its processes and their logs."""

    name: str
    database_url: str
    redis_url: str | None
    workdir: Path
    code_dir: Path = ROOT  # the hub's source: the working tree, or an exported revision
    port: int = field(default_factory=free_port)
    api_token: str = field(default_factory=lambda: "bench-api-" + secrets.token_hex(12))
    robot_token: str = field(default_factory=lambda: "bench-robot-" + secrets.token_hex(12))
    web: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def webhook_path(self) -> str:
        return f"/webhooks/worktool/{ROBOT_ID}/message?token={self.robot_token}"

    @property
    def env(self) -> dict[str, str]:
        keep = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("HUB_", "REDIS_URL", "DATABASE_URL", "SECRET_KEY"))
        }
        keep.update(
            DATABASE_URL=self.database_url,
            HUB_API_TOKEN=self.api_token,
            SECRET_KEY="bench-secret-" + self.api_token,
            HUB_WEBHOOK_RATE_LIMIT="100000",
            HUB_WEBHOOK_RATE_BURST="100000",
            PYTHONUNBUFFERED="1",
        )
        if self.code_dir != ROOT:  # ahead of the editable install that points at the working tree
            keep["PYTHONPATH"] = str(self.code_dir)
        if self.redis_url:
            keep["REDIS_URL"] = self.redis_url
        return keep

    def cli(self, *args: str) -> str:
        env = self.env
        env.pop("REDIS_URL", None)
        done = subprocess.run(
            [bin_path("python"), "-m", "app.cli", *args],
            cwd=self.code_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"app.cli {args[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return done.stdout

    def prepare(self) -> None:
        self.cli("migrate")
        self.cli(
            "create-robot",
            "--robot-id",
            ROBOT_ID,
            "--name",
            "压测机器人",
            "--role",
            "monitor",
            "--token",
            self.robot_token,
        )

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{self.name}-{name}.log").open("wb")
        self.logs.append(log)
        # A session of its own: Ctrl-C reaches only the orchestrator, which stops children in order.
        return subprocess.Popen(
            args,
            cwd=self.code_dir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.workdir / f"{self.name}-{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def start(self, timeout: float = 60.0) -> None:
        self.web = self._spawn(
            "web",
            [
                bin_path("uvicorn"),
                "app.main:app_factory",
                "--factory",
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
            ],
        )
        if self.redis_url:
            self.worker = self._spawn("worker", [bin_path("arq"), "jobs.worker.WorkerSettings"])
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        web_ok = False
        while time.monotonic() < deadline:
            for name, proc in (("web", self.web), ("worker", self.worker)):
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"{self.name} {name} exited early:\n{self.log_tail(name)}")
            if not web_ok:
                with contextlib.suppress(httpx.HTTPError):
                    web_ok = httpx.get(f"{self.base_url}/ready", timeout=2).status_code == 200
            worker_ok = self.worker is None or "Starting worker" in self.log_tail("worker", 100_000)
            if web_ok and worker_ok:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready:\n{self.log_tail('web')}")

    @property
    def pids(self) -> dict[str, int]:
        found = {"web": self.web.pid if self.web else 0, "worker": self.worker.pid if self.worker else 0}
        return {k: v for k, v in found.items() if v}

    def stop(self) -> None:
        for proc in (self.web, self.worker):  # web first: it stops accepting, then the worker
            if proc is not None:
                stop_process(proc)
        for log in self.logs:
            log.close()
        self.logs.clear()


@contextlib.contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    try:
        yield path
    finally:
        if keep:
            print(f"  (logs kept in {path})")
        else:
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def source_tree(revision: str | None) -> Iterator[Path]:
    """The hub's code: the working tree (None), or `git archive <revision>` in a temp dir.

    An exported revision gives reproducible figures while someone is editing the working tree.
    """
    if revision is None:
        yield ROOT
        return
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision], cwd=ROOT, capture_output=True, check=True, timeout=60
    ).stdout
    with tempfile.TemporaryDirectory(prefix="hub-bench-src-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp)


@contextlib.contextmanager
def embedded_hub(code_dir: Path = ROOT, keep: bool = False) -> Iterator[Hub]:
    with workdir(keep) as tmp:
        hub = Hub("embedded", f"sqlite:///{tmp / 'hub.db'}", None, tmp, code_dir)
        try:
            hub.prepare()
            hub.start()
            yield hub
        finally:
            hub.stop()


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    import psycopg

    name = f"hub_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


@contextlib.contextmanager
def production_hub(code_dir: Path = ROOT, keep: bool = False) -> Iterator[Hub]:
    with workdir(keep) as tmp, postgres_database() as database_url:
        flush_redis(REDIS_BENCH_URL)
        hub = Hub("production", database_url, REDIS_BENCH_URL, tmp, code_dir)
        try:
            hub.prepare()
            hub.start()
            yield hub
        finally:
            hub.stop()
            flush_redis(REDIS_BENCH_URL)
