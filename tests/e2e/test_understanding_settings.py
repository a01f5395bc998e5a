"""Recognition settings page: the "try a sentence" box and an edited keyword list that sticks."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e


async def test_try_box_reads_a_short_answer_by_the_open_tasks_type(page: Page) -> None:
    await page.goto("/settings/understanding")
    await expect(page.locator(".page-title")).to_contain_text("识别规则")
    box = page.locator("form[hx-post='/settings/understanding/try']")
    result = page.locator("#try-result")
    await box.locator("input[name=message]").fill("弄好了")
    await box.locator("input[name=open_task]").check()
    await box.get_by_role("button", name="识别").click()  # alone it reads as an after-sales answer
    await expect(result.locator("code")).to_have_text("chat_after_sales")
    await box.locator("select[name=open_task_type]").select_option("发作品")
    await box.get_by_role("button", name="识别").click()
    await expect(result.locator("code")).to_have_text("chat_cooperation")
    await expect(result).to_contain_text("跟随进行中的任务（发作品）")
    await expect(result.locator(".badge")).to_contain_text("配合")
    await expect(result).to_contain_text("售后响应")
    await screenshot(page, "understanding-try-box")

    await box.locator("input[name=message]").fill("   ")
    await box.get_by_role("button", name="识别").click()
    await expect(result.locator(".alert-error")).to_contain_text("不能为空")


async def test_an_added_keyword_is_saved_and_shown_again(page: Page, unique: str) -> None:
    keyword = f"紫色独角兽{unique}"
    await page.goto("/settings/understanding")
    other = page.locator("textarea[name=kw_chat_other]")
    before = await other.input_value()
    await other.fill(f"{before}, {keyword}")
    await page.get_by_role("button", name="保存规则").click()
    await expect(page.locator(".alert-ok")).to_contain_text("已保存")
    await expect(page.locator("textarea[name=kw_chat_other]")).to_have_value(f"{before}, {keyword}")

    await page.locator("textarea[name=kw_chat_other]").fill(before)  # leave the shared hub as it was
    await page.get_by_role("button", name="保存规则").click()
    await expect(page.locator(".alert-ok")).to_contain_text("已保存")
    await expect(page.locator("textarea[name=kw_chat_other]")).not_to_contain_text(keyword)
