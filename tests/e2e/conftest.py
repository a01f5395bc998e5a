"""Browser fixtures: Debian's Chromium driven by Playwright against the real hub processes.

The async Playwright API runs on pytest-asyncio's session loop, so a browser kept open for the
whole session never gets in the way of the async integration tests that run after these.

With CI=true a missing /usr/bin/chromium fails the run; elsewhere the browser tests are skipped.
Screenshots go to test-artifacts/ (gitignored); failing tests leave one there too.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.conftest import API_TOKEN, ROOT, HubProcess, hub_env, migrate, unavailable, wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1440, "height": 900}
ARTIFACTS = ROOT / "test-artifacts"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
UPDATE_DOCS = os.environ.get("UPDATE_SCREENSHOTS", "").lower() in {"1", "true", "yes"}
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-pass-123"
UI_TIMEOUT_MS = 10_000
# Counts the htmx SSE extension's connection events, so tests can wait for a live page to be live.
LIVE_PROBE = """
window.__live = {open: 0, error: 0};
document.addEventListener("htmx:sseOpen", function () { window.__live.open += 1; });
document.addEventListener("htmx:sseError", function () { window.__live.error += 1; });
"""

expect.set_options(timeout=UI_TIMEOUT_MS)


# ── hubs and the console admin ────────────────────────────────────────────────


def create_admin(hub: HubProcess) -> None:
    """The console admin (idempotent: an existing admin is left alone)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "create-admin",
            "--username",
            ADMIN_USER,
            "--password",
            ADMIN_PASSWORD,
        ],
        cwd=ROOT,
        env=hub.env,
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture(scope="session", params=["embedded_hub", "production_hub"])
def hub(request: pytest.FixtureRequest) -> HubProcess:
    """Each browser test runs against the embedded hub and against the production set-up."""
    process: HubProcess = request.getfixturevalue(request.param)
    create_admin(process)
    return process


@pytest.fixture
def hub_name(hub: HubProcess, request: pytest.FixtureRequest) -> str:
    """Either embedded or production, for artifact names."""
    return str(request.node.callspec.params["hub"]).removesuffix("_hub")


# ── the browser ───────────────────────────────────────────────────────────────


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)):
        unavailable(f"Chromium at {CHROMIUM}")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


async def new_context(
    browser: Browser, hub: HubProcess, storage_state: Any = None, base_url: str | None = None
) -> BrowserContext:
    context = await browser.new_context(
        base_url=base_url or hub.base_url,
        viewport=VIEWPORT,  # type: ignore[arg-type]
        locale="zh-CN",
        storage_state=storage_state,
    )
    context.set_default_timeout(UI_TIMEOUT_MS)
    await context.add_init_script(LIVE_PROBE)
    return context


async def log_in(page: Page, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> None:
    """Fill the login form on the current /login page and submit it."""
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(password)
    await page.get_by_role("button", name="登录").click()


_admin_states: dict[str, Any] = {}


async def admin_state(browser: Browser, hub: HubProcess) -> Any:
    """Cookies of a console session, logged in once per hub through the real login form."""
    if hub.base_url not in _admin_states:
        context = await new_context(browser, hub)
        page = await context.new_page()
        await page.goto("/login")
        await log_in(page)
        await expect(page.locator(".page-title")).to_have_text("总览")
        _admin_states[hub.base_url] = await context.storage_state()
        await context.close()
    return _admin_states[hub.base_url]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def artifact_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::", 1)[-1])


@pytest.fixture
async def anonymous_context(browser: Browser, hub: HubProcess) -> AsyncIterator[BrowserContext]:
    context = await new_context(browser, hub)
    yield context
    await context.close()


@pytest.fixture
async def page(browser: Browser, hub: HubProcess, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A page in a context logged in as the admin, 1440×900."""
    context = await new_context(browser, hub, await admin_state(browser, hub))
    tab = await context.new_page()
    yield tab
    report = getattr(request.node, "rep_call", None)
    failure = ARTIFACTS / f"failed-{artifact_name(request.node.nodeid)}.png"
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        await tab.screenshot(path=failure)
    else:
        failure.unlink(missing_ok=True)  # no stale picture of an earlier failure
    await context.close()


async def screenshot(page: Page, name: str, *, docs: bool = False) -> Path:
    """Save the viewport (1440×900) to test-artifacts/; with ``docs`` and UPDATE_SCREENSHOTS=1 also
    to docs/screenshots/ (a plain test run leaves the tracked pictures alone).
    Running CSS animations (the new-row highlight) finish first, so pictures are stable."""
    # A row replaced mid-animation (its processed version) cancels it: finished rejects then.
    await page.evaluate("Promise.all(document.getAnimations().map(a => a.finished.catch(() => null)))")
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=path)
    if docs and UPDATE_DOCS:
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (DOCS_SCREENSHOTS / f"{name}.png").write_bytes(path.read_bytes())
    return path


# ── a network link the test can cut ───────────────────────────────────────────


class CuttableLink:
    """A loopback TCP proxy in front of the hub. `cut()` drops every open connection (the
    browser's live stream included) and refuses new ones until `restore()`: a real network drop,
    which Chromium's offline emulation is not for an already open event stream."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.down = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while chunk := await source.read(65536):
                sink.write(chunk)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(sink)
            sink.transport.abort()

    def cut(self) -> None:
        self.down = True
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.down = False

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()


@pytest.fixture
async def link(hub: HubProcess) -> AsyncIterator[CuttableLink]:
    proxy = CuttableLink(hub.port)
    await proxy.start()
    yield proxy
    await proxy.close()


# ── WorkTool traffic ──────────────────────────────────────────────────────────


def worktool_message(
    text: str, sender: str, group: str, *, remark: str = "", at_me: bool = False
) -> dict[str, Any]:
    """A WorkTool message callback body (WORKTOOL.md §1), group chat, plain text."""
    return {
        "spoken": text,
        "rawSpoken": text,
        "receivedName": sender,
        "groupName": group,
        "groupRemark": remark,
        "roomType": 1,
        "atMe": at_me,
        "textType": 1,
    }


async def post_message(url: str, payload: dict[str, Any]) -> int:
    """POST a callback like WorkTool does; returns the hub's message id."""
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(url, json=payload)
    assert answer.status_code == 200, answer.text
    assert answer.json()["code"] == 0, answer.text
    return int(answer.headers["X-Hub-Message-Id"])


async def poll(check: Callable[[], Awaitable[Any]], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Await `check` until it returns something truthy (polling an outside process, no fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


async def wait_processed(hub: HubProcess, message_id: int) -> dict[str, Any]:
    """The message once its flow ran; fails at once, with the hub's error, when processing failed."""
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(base_url=hub.base_url, headers=headers, timeout=10) as api:

        async def processed() -> dict[str, Any] | None:
            data = (await api.get(f"/api/messages/{message_id}")).json()["data"]
            if data["processing_status"] == "failed" or data["last_error"]:
                raise AssertionError(f"message {message_id} failed processing: {data['last_error']}")
            return data if data["processing_status"] == "processed" else None

        return await poll(processed)


# ── a clean hub with the demo world, for the README screenshot ────────────────


def seed_demo_world(hub: HubProcess, events: int = 36, seed: int = 20240615) -> dict[str, str]:
    """Demo robots and people through the API, then realistic traffic from the demo simulator."""
    from app.demo import data, simulator

    urls: dict[str, str] = {}
    with hub.api() as api:
        for spec in data.ROBOTS:
            groups = [g["name"] for g in data.GROUPS if spec["robot_id"] in g["robot_ids"]]
            answer = api.post("/api/robots", json={**spec, "groups": groups})
            assert answer.status_code == 201, answer.text
            urls[spec["robot_id"]] = answer.json()["data"]["callback_urls"]["message"]
        for person in data.PEOPLE:
            answer = api.post("/api/people", json=dict(person))
            assert answer.status_code == 201, answer.text
    rng = random.Random(seed)
    state = simulator.SimState()
    hour = datetime.now().hour
    with httpx.Client(timeout=10) as client:
        for _ in range(events):
            event, state = simulator.next_event(rng, state, hour)
            for robot_id in simulator.reporters(event, hour):
                answer = client.post(urls[robot_id], json=simulator.build_payload(event))
                assert answer.status_code == 200, answer.text
    with hub.api() as api:
        wait_for(
            lambda: api.get("/api/messages", params={"status": "received"}).json()["data"]["total"] == 0,
            timeout=30,
        )
        failed = api.get("/api/messages", params={"status": "failed"}).json()["data"]
        assert failed["total"] == 0, [m["last_error"] for m in failed["items"]]
    return urls


@pytest.fixture(scope="session")
def showcase_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HubProcess, dict[str, str]]]:
    """A fresh embedded hub holding only the demo world, so the README screenshot stays clean."""
    url = f"sqlite:///{tmp_path_factory.mktemp('showcase') / 'hub.db'}"
    migrate(url)
    process = HubProcess(hub_env(url, None))
    process.start_web()
    try:
        create_admin(process)
        urls = seed_demo_world(process)
        yield process, urls
    finally:
        process.stop()
