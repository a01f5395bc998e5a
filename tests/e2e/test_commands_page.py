"""Commands page: a failed command shows up live, highlighted in the manual queue, and is retried
from the page until it succeeds (WorkTool stub over HTTP; embedded and production set-ups)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis
from playwright.async_api import Browser, Page, expect

from tests.conftest import (
    API_TOKEN,
    REDIS_TEST_URL,
    HubProcess,
    create_database,
    drop_database,
    hub_env,
    migrate,
    register_robot,
)
from tests.e2e.conftest import admin_state, create_admin, new_context, screenshot
from tests.stubs.worktool_stub import WorkToolStub

pytestmark = pytest.mark.e2e

E2E_REDIS_URL = REDIS_TEST_URL.rsplit("/", 1)[0] + "/11"  # jobs of this hub only
SETTINGS = {"HUB_TIME_SCALE": "0.01"}


@pytest.fixture(scope="module")
def stub() -> Iterator[WorkToolStub]:
    with WorkToolStub() as running:
        yield running


@pytest.fixture(scope="module", params=["embedded", "production"])
def commands_hub(
    request: pytest.FixtureRequest, stub: WorkToolStub, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubProcess]:
    if request.param == "embedded":
        url, queue = f"sqlite:///{tmp_path_factory.mktemp('commands-e2e') / 'hub.db'}", None
    else:
        request.getfixturevalue("redis_url")  # skips (or fails in CI) without Redis
        url, queue = create_database(), E2E_REDIS_URL
        client = redis.Redis.from_url(queue)
        client.flushdb()
        client.close()
    migrate(url)
    hub = HubProcess(hub_env(url, queue, WORKTOOL_API_BASE=stub.base_url, **SETTINGS))
    try:
        hub.start_web()
        if queue:
            hub.start_worker()
        create_admin(hub)
        yield hub
    finally:
        hub.stop()
        if queue:
            drop_database(url)


@pytest.fixture
async def commands_page(browser: Browser, commands_hub: HubProcess) -> AsyncIterator[Page]:
    context = await new_context(browser, commands_hub, await admin_state(browser, commands_hub))
    page = await context.new_page()
    yield page
    await context.close()


async def queue_text(hub: HubProcess, robot_id: str, text: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(base_url=hub.base_url, headers=headers, timeout=10) as api:
        answer = await api.post(
            "/api/commands", json={"robot_id": robot_id, "targets": ["抖音号主服务1群"], "text": text}
        )
    assert answer.status_code == 201, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


async def test_failed_command_is_highlighted_and_retried_from_the_page(
    commands_page: Page, commands_hub: HubProcess, stub: WorkToolStub, unique: str
) -> None:
    page = commands_page
    registered = register_robot(commands_hub, "day_reply", f"wt-page-{unique}", ["抖音号主服务1群"])
    robot_id = registered["robot_id"]
    stub.configure(robot_id, callback_url=registered["result_url"], send_error_code=501011)

    await page.goto("/commands")
    await expect(page.locator(".page-title")).to_have_text("指令队列")
    await page.wait_for_function("window.__live && window.__live.open > 0")
    command = await queue_text(commands_hub, robot_id, f"您好，您的认证资料已提交 #{unique}")

    # WorkTool refuses it (bad robotId: no automatic retry can help) → manual handling, live.
    row = page.locator(f"#manual-{command['id']}")
    await expect(row).to_be_visible()
    await expect(page.locator("#manual-queue")).to_contain_text("待人工处理")
    await expect(row).to_have_class("cmd-row cmd-manual")
    await expect(row).to_contain_text("robotId 错误")
    await expect(row).to_contain_text(f"#{unique}")
    await row.scroll_into_view_if_needed()
    await screenshot(page, f"commands-manual-{commands_hub.port}")

    stub.configure(robot_id, send_error_code=None)  # the robot is fixed in WorkTool's console
    await row.get_by_role("button", name="重试").click()
    await expect(page.locator("#command-flash")).to_contain_text(f"指令 #{command['id']} 已重新排队")
    listed = page.locator(f"#cmd-{command['id']}")
    await expect(listed.locator(".cmd-status")).to_have_text("已成功")
    await expect(listed).to_contain_text("2")  # attempts
    await expect(page.locator(f"#manual-{command['id']}")).to_have_count(0)
    assert len([s for s in stub.sent if s.robot_id == robot_id]) == 2
