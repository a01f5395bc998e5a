"""Retraining the type model from the corrections page in a browser: start a run, watch it finish
without reloading, switch to the new model and back."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.conftest import HubProcess, register_robot
from tests.e2e.conftest import post_message, screenshot, wait_processed, worktool_message

pytestmark = pytest.mark.e2e

TRAINING_TIMEOUT_MS = 120_000  # corpus train split + corrections, then both models on the held-out split


async def test_admin_retrains_switches_and_switches_back(
    page: Page, hub: HubProcess, hub_name: str, unique: str
) -> None:
    group, user = f"训练群{unique}", f"小林{unique}"
    robot = register_robot(hub, "monitor", f"train-{unique}", [group])
    message = await post_message(robot["message_url"], worktool_message("结算怎么又晚了", user, group))
    session_id = (await wait_processed(hub, message))["session_id"]
    await page.goto(f"/sessions/{session_id}")
    row = page.locator(f"#timeline > tr#sm-{message}")
    select = row.get_by_label("更正类型")
    current = await select.input_value()
    await select.select_option("chat_complaint" if current != "chat_complaint" else "chat_inquiry")
    await expect(row.locator(".marks")).to_contain_text("已更正")

    await page.goto("/corrections")
    models = page.locator("#trained-models")
    await expect(page.locator("#active-model")).to_have_text("内置模型")
    await models.get_by_role("button", name="开始训练").click()
    await expect(models.locator(".alert-ok")).to_contain_text("已开始训练")
    await expect(models.get_by_role("button", name="训练中…")).to_be_disabled()
    newest = models.locator("#model-table tbody tr").first
    await expect(newest).to_have_attribute("data-status", "ready", timeout=TRAINING_TIMEOUT_MS)
    await expect(newest).to_contain_text(re.compile(r"\d+\.\d% / \d+\.\d%"))
    model_id = await newest.get_attribute("data-model")
    try:
        await newest.get_by_role("button", name="启用").click()
        await expect(page.locator("#active-model")).to_have_text(f"重新训练的模型 #{model_id}")
        await expect(newest).to_contain_text("使用中")
        await screenshot(page, f"retrain-{hub_name}")
    finally:
        await models.get_by_role("button", name="切回内置模型").click()
        await expect(page.locator("#active-model")).to_have_text("内置模型")
