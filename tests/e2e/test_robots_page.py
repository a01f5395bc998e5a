"""Registering a robot from the console: token page with both callback URLs, and the URL works."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.conftest import HubProcess
from tests.e2e.conftest import screenshot, wait_processed, worktool_message

pytestmark = pytest.mark.e2e


async def test_register_robot_shows_callback_urls_that_accept_messages(
    page: Page, hub: HubProcess, hub_name: str, unique: str
) -> None:
    robot_id = f"wt-e2e-{unique}"
    groups = [f"抖音号主服务{unique}A群", f"抖音号主服务{unique}B群"]
    await page.goto("/robots")
    await expect(page.locator(".page-title")).to_have_text("机器人")
    form = page.locator("#robot-form")
    if not await form.is_visible():
        await page.locator("summary", has_text="登记机器人").click()
    await form.get_by_label("WorkTool robotId").fill(robot_id)
    await form.get_by_label("名称").fill("白班助手小晴")
    await form.locator("select[name=role]").select_option("day_reply")
    await form.locator("select[name=shift]").select_option("day")
    await form.locator("input[name=groups]").fill("，".join(groups))  # a full-width comma also separates
    await form.get_by_role("button", name="登记").click()

    await expect(page.locator(".page-title")).to_have_text("机器人已登记")
    await expect(page.locator(".token-card h2")).to_contain_text("白班助手小晴")
    await expect(page.locator(".token-card h2 .badge")).to_have_text("白班回复机器人")
    message_url = await page.locator("#url-message").input_value()
    result_url = await page.locator("#url-result").input_value()
    token = await page.locator("#token").input_value()
    assert message_url.startswith(f"{hub.base_url}/webhooks/worktool/{robot_id}/message?token=")
    assert result_url.startswith(f"{hub.base_url}/webhooks/worktool/{robot_id}/result?token=")
    assert message_url.endswith(f"token={token}") and result_url.endswith(f"token={token}")
    assert len(token) >= 20
    copy = page.locator("button[data-copy=url-message]")
    await copy.click()
    await expect(copy).to_have_text("已复制")

    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(
            message_url, json=worktool_message("请问视频号认证需要准备什么资料", "Grace", groups[0])
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "code": 0,
            "message": "success",
            "data": {"type": 5000, "info": {"text": ""}},
        }
        message_id = int(answer.headers["X-Hub-Message-Id"])
        wrong = await client.post(
            message_url.replace(f"token={token}", "token=wrong"),
            json=worktool_message("伪造的回调", "Grace", groups[0]),
        )
        assert wrong.status_code in (401, 403), wrong.text
    message = await wait_processed(hub, message_id)
    assert message["robot_id"] == robot_id
    assert message["group"] == groups[0]

    await page.get_by_role("link", name="完成，返回机器人列表").click()
    card = page.locator(f"#robot-{robot_id}")
    await expect(card).to_contain_text("白班助手小晴")
    await expect(card).to_contain_text("白班 09:00–21:00")
    await expect(card.locator("dd").nth(2)).to_have_text("、".join(groups))
    await expect(card.locator(".dot")).to_have_class(re.compile(r"\bonline\b"))  # it just reported
    await card.scroll_into_view_if_needed()
    await screenshot(page, f"robots-{hub_name}")


async def test_register_robot_with_invalid_id_shows_error_and_keeps_input(page: Page, unique: str) -> None:
    await page.goto("/robots")
    form = page.locator("#robot-form")
    if not await form.is_visible():
        await page.locator("summary", has_text="登记机器人").click()
    # The browser's own pattern check would stop the submit; the server must refuse it too.
    await form.get_by_label("WorkTool robotId").evaluate("input => input.removeAttribute('pattern')")
    await form.get_by_label("WorkTool robotId").fill(f"坏的 id {unique}")
    await form.get_by_label("名称").fill(f"机器人{unique}")
    await form.get_by_role("button", name="登记").click()

    await expect(page.get_by_role("alert")).to_be_visible()
    await expect(page.locator(".page-title")).to_have_text("机器人")
    await expect(page.locator("#robot-form")).to_be_visible()
    await expect(page.locator("#robot-form input[name=name]")).to_have_value(f"机器人{unique}")
