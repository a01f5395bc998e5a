"""The dashboard with the demo world's traffic: what the README shows.

Runs on a fresh embedded hub seeded through the API and the demo simulator, then plays one of the
demo's scripted conversations live into the open page. The screenshot lands in test-artifacts/;
with UPDATE_SCREENSHOTS=1 it also replaces docs/screenshots/dashboard.png.
"""

from __future__ import annotations

import random
from datetime import datetime

import pytest
from playwright.async_api import Browser, expect

from app.demo import data, simulator
from tests.conftest import HubProcess
from tests.e2e.conftest import admin_state, new_context, post_message, screenshot

pytestmark = pytest.mark.e2e


async def test_dashboard_with_demo_traffic(
    browser: Browser, showcase_hub: tuple[HubProcess, dict[str, str]]
) -> None:
    hub, urls = showcase_hub
    context = await new_context(browser, hub, await admin_state(browser, hub))
    page = await context.new_page()
    try:
        await page.goto("/")
        await expect(page.locator(".page-title")).to_have_text("总览")
        await page.wait_for_function("window.__live.open > 0")
        seeded = await page.locator("#message-stream > tr").count()
        assert seeded >= 20
        await expect(page.locator(".robot-list li")).to_have_count(len(data.ROBOTS))
        await expect(page.locator(".robot-list .dot.online").first).to_be_visible()

        hour = datetime.now().hour
        script = next(s for s in data.SCRIPTS if s.name == "投诉与致歉")
        for event in simulator.script_events(random.Random(7), script, hour):
            robot_id = simulator.reporters(event, hour)[0]
            message_id = await post_message(urls[robot_id], simulator.build_payload(event))
            await expect(page.locator("#message-stream > tr").first).to_have_id(f"msg-{message_id}")
        rows = page.locator("#message-stream > tr")
        await expect(rows.first).to_contain_text(script.lines[-1][1])
        await expect(rows.nth(1)).to_contain_text(f"{script.lines[-2][0]} 工作人员")  # registry role
        await expect(rows).to_have_count(seeded + len(script.lines))
        await screenshot(page, "dashboard", docs=True)
    finally:
        await context.close()
