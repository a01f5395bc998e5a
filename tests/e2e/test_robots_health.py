"""Robots page health cards update live; reply settings and templates are edited from the console."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import Page, expect

from tests.conftest import HubProcess, register_robot
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e


async def test_health_card_updates_live_after_a_check(
    page: Page, hub: HubProcess, hub_name: str, unique: str
) -> None:
    robot_id = f"wt-health-{unique}"
    register_robot(hub, "day_reply", robot_id, [f"健康检查群{unique}"])
    await page.goto("/robots")
    card = page.locator(f"#robot-{robot_id}")
    # Not checked yet, unless the worker's minutely health job got there first.
    await expect(card.locator(".recommendations")).to_contain_text(
        re.compile("尚未检查健康状态|WORKTOOL_API_BASE")
    )
    await page.wait_for_function("window.__live && window.__live.open > 0")

    def check() -> int:
        with hub.api() as api:
            return api.get(f"/api/robots/{robot_id}/health", params={"refresh": "true"}).status_code

    assert await asyncio.to_thread(check) == 200
    # The test hubs point at a dead WorkTool address: the poll fails, the state is "unknown".
    await expect(card.locator(".health-score")).to_have_text("90")
    await expect(card.locator(".health-badge")).to_have_text("优秀")
    await expect(card.locator(".online-state")).to_contain_text("在线状态未知")
    await expect(card.locator(".recommendations")).to_contain_text("WORKTOOL_API_BASE")
    await expect(card.locator(".today-sends")).to_have_text("0")
    # The card's own button checks again and swaps the block in place.
    await card.get_by_role("button", name="立即检查").click()
    await expect(card.locator(".health-score")).to_have_text("90")
    await card.locator("summary", has_text="健康历史").click()
    history = card.locator(".health-history tbody tr")
    await expect(history.first).to_contain_text("90")
    assert await history.count() >= 2
    await screenshot(page, f"robots-health-{hub_name}")


async def test_delay_settings_are_saved_and_validated(page: Page, hub: HubProcess) -> None:
    await page.goto("/settings/replies")
    form = page.locator("#delay-form")
    await form.get_by_label("紧急消息（P0 告警相关，全天） 最小").fill("0")
    await form.get_by_label("紧急消息（P0 告警相关，全天） 最大").fill("3")
    await form.get_by_role("button", name="保存延迟").click()
    await expect(page.locator(".alert-ok")).to_contain_text("回复延迟设置已保存")
    await screenshot(page, "reply-settings")
    with hub.api() as api:
        assert api.get("/api/settings/delays").json()["data"]["urgent_message_delay"] == [0, 3]
    form = page.locator("#delay-form")
    await form.get_by_label("紧急消息（P0 告警相关，全天） 最小").fill("5")
    await form.get_by_role("button", name="保存延迟").click()
    await expect(page.locator(".alert-error")).to_contain_text("最小值不能大于最大值")
    with hub.api() as api:
        assert api.put("/api/settings/delays", json={"urgent_message_delay": [1, 2]}).status_code == 200


async def test_template_is_edited_and_previewed_in_place(page: Page, hub: HubProcess, unique: str) -> None:
    key = f"e2e_{unique}"
    with hub.api() as api:
        created = api.post(
            "/api/reply-templates", json={"key": key, "category": "greeting", "text": "{user_name}您好"}
        )
        assert created.status_code == 201, created.text
    await page.goto("/settings/replies/templates")
    await page.get_by_label("搜索模板").fill(key)
    row = page.locator(f"#tpl-{key}")
    await expect(page.locator(".tpl-row")).to_have_count(1)
    await row.locator("textarea[name=text]").fill("{user_name}，{staff_name}马上来处理您的{task_type}")
    await row.get_by_role("button", name="预览").click()
    await expect(row.locator(".tpl-preview")).to_have_text("示例：张三，售后小王马上来处理您的扫码登录")
    await row.get_by_role("button", name="保存").click()
    await expect(page.locator(f"#tpl-{key} [role=status]")).to_have_text("已保存")
    await screenshot(page, "reply-templates")
    await page.locator(f"#tpl-{key} textarea[name=text]").fill("{nickname}你好")
    await page.locator(f"#tpl-{key}").get_by_role("button", name="保存").click()
    await expect(page.locator(f"#tpl-{key} [role=alert]")).to_contain_text("未知的变量")
    with hub.api() as api:
        saved = api.get(f"/api/reply-templates/{key}").json()["data"]
    assert saved["text"] == "{user_name}，{staff_name}马上来处理您的{task_type}"
