"""Shared fixtures: real PostgreSQL and Redis, real app processes on free ports.

With CI=true a missing PostgreSQL, Redis or Chromium fails the run instead of skipping.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
API_TOKEN = "test-api-token-" + secrets.token_hex(8)


def unavailable(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required when CI=true", pytrace=False)
    pytest.skip(f"{what} not available")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def create_database() -> str:
    """A new, empty PostgreSQL database; returns its URL."""
    name = f"hub_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        unavailable("PostgreSQL at 127.0.0.1:5432")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the test session, migrated to head."""
    url = create_database()
    migrate(url)
    yield url
    drop_database(url)


@pytest.fixture
def scratch_pg() -> Iterator[str]:
    """An empty PostgreSQL database of the test's own (not migrated)."""
    url = create_database()
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=3)
    try:
        client.flushdb()
    except redis.ConnectionError:
        unavailable("Redis at 127.0.0.1:6379")
    finally:
        client.close()
    return REDIS_TEST_URL


def migrate(database_url: str, revision: str = "head", command: str = "migrate") -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("REDIS_URL", None)
    args = [sys.executable, "-m", "app.cli", command] + ([revision] if command == "downgrade" else [])
    subprocess.run(args, cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)


@dataclass
class HubProcess:
    """The hub's web (and optionally worker) processes, started like production starts them."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = ROOT / "var" / "test-logs" / f"{name}-{self.port}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.logs.append(log)
        proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def start_web(self) -> None:
        self._spawn(
            "web",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:app_factory",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
            ],
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.procs[-1].poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"web process did not start: {self.logs[-1].read_text()[-3000:]}")

    def start_worker(self) -> subprocess.Popen[bytes]:
        return self._spawn("worker", [sys.executable, "-m", "arq", "jobs.worker.WorkerSettings"])

    def stop_worker(self) -> None:
        for proc in [p for p in self.procs if "arq" in p.args]:  # type: ignore[operator]
            proc.terminate()
            proc.wait(15)
            self.procs.remove(proc)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.procs.clear()

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10
        )


def hub_env(database_url: str, redis: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "REDIS_URL", "DATABASE_URL"))}
    # Tests never reach WorkTool's cloud: a dead loopback port unless a test points it at its stub.
    env["WORKTOOL_API_BASE"] = "http://127.0.0.1:9"
    env.update(
        DATABASE_URL=database_url,
        HUB_API_TOKEN=API_TOKEN,
        SECRET_KEY="test-secret-key-0123456789abcdef",
        HUB_ADMIN_PASSWORD="admin-pass-123",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    if redis:
        env["REDIS_URL"] = redis
    return env


@pytest.fixture(scope="session")
def production_hub(pg_url: str, redis_url: str) -> Iterator[HubProcess]:
    """Web + arq worker on PostgreSQL and Redis."""
    hub = HubProcess(hub_env(pg_url, redis_url))
    hub.start_web()
    hub.start_worker()
    yield hub
    hub.stop()


@pytest.fixture(scope="session")
def embedded_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """The embedded default: SQLite file, in-process jobs, in-memory live events."""
    db_file = tmp_path_factory.mktemp("embedded") / "hub.db"
    url = f"sqlite:///{db_file}"
    migrate(url)
    hub = HubProcess(hub_env(url, None))
    hub.start_web()
    yield hub
    hub.stop()


@pytest.fixture
def unique() -> str:
    return secrets.token_hex(4)


def register_robot(
    hub: HubProcess, role: str = "monitor", robot_id: str | None = None, groups: list[str] | None = None
) -> dict[str, str]:
    robot_id = robot_id or f"r-{secrets.token_hex(4)}"
    with hub.api() as api:
        answer = api.post(
            "/api/robots",
            json={"robot_id": robot_id, "name": f"机器人{robot_id}", "role": role, "groups": groups or []},
        )
    assert answer.status_code == 201, answer.text
    data = answer.json()["data"]
    return {
        "robot_id": robot_id,
        "token": data["token"],
        "message_url": data["callback_urls"]["message"],
        "result_url": data["callback_urls"]["result"],
    }


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll an external process's observable state until it holds (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
