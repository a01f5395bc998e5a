"""Console login: Chinese login page, wrong and right passwords, redirect back to the asked page."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from playwright.async_api import BrowserContext, Page, expect

from tests.conftest import HubProcess
from tests.e2e.conftest import log_in, screenshot

pytestmark = pytest.mark.e2e


async def test_login_page_rejects_wrong_password_then_lands_on_dashboard(
    anonymous_context: BrowserContext, hub: HubProcess, hub_name: str
) -> None:
    page = await anonymous_context.new_page()
    await page.goto("/login")
    await expect(page).to_have_title(re.compile("^登录"))
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(page.locator(".login-card")).to_contain_text("企业微信群智能中枢 · 控制台登录")
    await expect(page.get_by_label("用户名")).to_be_focused()

    await log_in(page, password="not-the-password")
    await expect(page.get_by_role("alert")).to_have_text("用户名或密码错误")
    await expect(page.get_by_label("用户名")).to_have_value("admin")
    await expect(page.get_by_label("密码")).to_have_value("")
    assert urlsplit(page.url).path == "/login"
    await screenshot(page, f"login-failed-{hub_name}")

    await log_in(page)
    await expect(page).to_have_url(f"{hub.base_url}/")
    await expect(page.locator(".page-title")).to_have_text("总览")
    await expect(page).to_have_title(re.compile("^总览"))
    await expect(page.locator(".sidebar nav a.active")).to_have_text("总览")
    await expect(page.locator(".topbar .user")).to_contain_text("管理员")

    await page.get_by_role("button", name="退出").click()
    await expect(page).to_have_url(f"{hub.base_url}/login")
    await page.goto("/")
    await expect(page).to_have_url(f"{hub.base_url}/login?next=%2F")


async def test_logged_out_visit_redirects_to_login_and_back(
    anonymous_context: BrowserContext, hub: HubProcess
) -> None:
    page = await anonymous_context.new_page()
    await page.goto("/robots")
    await expect(page).to_have_url(f"{hub.base_url}/login?next=%2Frobots")
    await expect(page.locator("input[name=next]")).to_have_value("/robots")

    await log_in(page)
    await expect(page).to_have_url(f"{hub.base_url}/robots")
    await expect(page.locator(".page-title")).to_have_text("机器人")


async def test_redirect_to_login_keeps_the_whole_query(
    anonymous_context: BrowserContext, hub: HubProcess
) -> None:
    """A filtered page (several query parameters) is where the user returns after logging in."""
    page = await anonymous_context.new_page()
    await page.goto("/messages?status=processed&q=%E6%89%AB%E7%A0%81")
    next_values = parse_qs(urlsplit(page.url).query).get("next")
    assert next_values is not None and unquote(next_values[0]) == "/messages?status=processed&q=扫码", (
        page.url
    )

    await log_in(page)
    await expect(page).to_have_url(f"{hub.base_url}/messages?status=processed&q=%E6%89%AB%E7%A0%81")
    await expect(page.locator("input[name=q]")).to_have_value("扫码")


async def test_login_page_when_already_logged_in_goes_to_dashboard(page: Page, hub: HubProcess) -> None:
    await page.goto("/login")  # the server answers at once: no waiting for a client-side change
    assert page.url == f"{hub.base_url}/"
    await expect(page.locator(".page-title")).to_have_text("总览")


async def test_error_page_keeps_the_console_for_a_logged_in_user(page: Page) -> None:
    answer = await page.goto("/messages/987654321")
    assert answer is not None and answer.status == 404
    await expect(page.locator(".error-card")).to_contain_text("不存在")
    assert await page.locator(".sidebar").count() == 1, "the console layout"
    await expect(page.locator(".page-title")).to_have_text("出错了")
