"""After-sales in the browser: the kiosk big screen goes live when a user says 在的 through the webhook
(no login, viewer token, 1920×1080 and 3840×2160), and the daily report's Excel download opens."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.async_api import Browser, Page, expect

from tests.conftest import ROOT, HubProcess, register_robot
from tests.e2e.conftest import CuttableLink, post_message, worktool_message

pytestmark = pytest.mark.e2e

ARTIFACTS = ROOT / "var" / "test-artifacts"
LIVE_MS = 3_000  # PRODUCT §6.5: an event shows within 3 s


def prepare(hub: HubProcess, unique: str) -> tuple[str, dict[str, str], str]:
    group = f"大屏群{unique}"
    monitor = register_robot(hub, "monitor", f"bs-mon-{unique}", [group])
    register_robot(hub, "day_reply", f"bs-day-{unique}", [group])
    register_robot(hub, "night_reply", f"bs-night-{unique}", [group])
    with hub.api() as api:
        person = {"display_name": f"售后{unique}", "role": "after_sales", "skills": ["扫码登录"]}
        assert api.post("/api/people", json=person).status_code == 201
        token = api.post("/api/after-sales/screen-tokens", json={"name": f"大屏{unique}"}).json()["data"][
            "token"
        ]
    return group, monitor, token


async def test_big_screen_updates_live_when_user_says_zai_de(
    browser: Browser, hub: HubProcess, hub_name: str, unique: str
) -> None:
    group, monitor, token = prepare(hub, unique)
    user = f"号主{unique}"
    # Anonymous: the viewer token in the kiosk link is the only credential.
    context = await browser.new_context(
        base_url=hub.base_url, viewport={"width": 1920, "height": 1080}, locale="zh-CN"
    )
    page = await context.new_page()
    try:
        await page.goto(f"/after-sales/screen?token={token}")
        assert "/login" not in page.url
        await expect(page.locator("#bs-conn")).to_have_attribute("data-state", "live")
        await page.evaluate("window.__sameDocument = true")

        await post_message(
            monitor["message_url"], worktool_message(f"@{user} 麻烦扫一下码登录", f"售后{unique}", group)
        )
        row = page.locator("#bs-task-rows tr", has_text=user)
        await expect(row).to_be_visible(timeout=8_000)
        await expect(row).to_contain_text("待响应")

        started = time.monotonic()
        await post_message(monitor["message_url"], worktool_message("在的", user, group))
        await expect(page.locator("#bs-reminders")).to_contain_text(f"{user}说“在的”", timeout=LIVE_MS)
        await expect(row).to_contain_text("已响应", timeout=LIVE_MS)
        assert time.monotonic() - started < LIVE_MS / 1000 + 0.5
        assert await page.evaluate("window.__sameDocument === true")  # no reload

        # Bounded DOM: the lists are replaced, never appended to without limit.
        assert await page.locator("#bs-reminders li").count() <= 20
        assert await page.locator("#bs-task-rows tr").count() <= 30
        await no_overflow(page)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.evaluate("Promise.all(document.getAnimations().map(a => a.finished.catch(() => null)))")
        await page.screenshot(path=str(ARTIFACTS / f"after-sales-screen-1920x1080-{hub_name}.png"))

        small = await kpi_font_px(page)
        await page.set_viewport_size({"width": 3840, "height": 2160})
        await no_overflow(page)
        assert await kpi_font_px(page) > small * 1.6  # sized from the viewport, readable across a room
        await page.screenshot(path=str(ARTIFACTS / f"after-sales-screen-3840x2160-{hub_name}.png"))
    finally:
        await context.close()


async def no_overflow(page: Page) -> None:
    sizes = await page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth,"
        " document.documentElement.scrollHeight, window.innerHeight]"
    )
    assert sizes[0] <= sizes[1] and sizes[2] <= sizes[3], sizes


async def kpi_font_px(page: Page) -> float:
    value = await page.evaluate("getComputedStyle(document.querySelector('.bs-kpi-value')).fontSize")
    return float(str(value).removesuffix("px"))


async def test_screen_without_token_asks_for_login(browser: Browser, hub: HubProcess) -> None:
    context = await browser.new_context(base_url=hub.base_url, locale="zh-CN")
    page = await context.new_page()
    try:
        await page.goto("/after-sales/screen?token=scr_revoked_or_unknown")
        assert "/login" in page.url
    finally:
        await context.close()


async def test_report_xlsx_download_opens_with_expected_sheets(
    page: Page, hub: HubProcess, unique: str
) -> None:
    await page.goto("/reports/daily-after-sales")
    await expect(page.locator(".page-title")).to_contain_text("售后日报")
    await expect(page.locator("svg.chart")).to_have_count(4)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "after-sales-report.png"), full_page=True)
    async with page.expect_download() as info:
        await page.locator("#download-xlsx").click()
    download = await info.value
    assert download.suggested_filename.endswith(".xlsx")
    target = ARTIFACTS / f"after-sales-report-{unique}.xlsx"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await download.save_as(str(target))
    book = load_workbook(Path(target))
    assert book.sheetnames == ["汇总", "售后人员", "任务明细", "重要事件"]
    assert book["汇总"]["A1"].value == "日期"
    target.unlink()


async def test_big_screen_reconnects_by_itself_and_catches_up(
    browser: Browser, hub: HubProcess, link: CuttableLink, unique: str
) -> None:
    group, monitor, token = prepare(hub, unique)
    user = f"断线号主{unique}"
    context = await browser.new_context(
        base_url=link.base_url, viewport={"width": 1920, "height": 1080}, locale="zh-CN"
    )
    page = await context.new_page()
    try:
        await page.goto(f"/after-sales/screen?token={token}")
        await expect(page.locator("#bs-conn")).to_have_attribute("data-state", "live")
        await page.evaluate("window.__sameDocument = true")
        link.cut()
        await expect(page.locator("#bs-conn")).to_have_attribute("data-state", "down")
        await post_message(
            monitor["message_url"], worktool_message(f"@{user} 实名认证一下", f"售后{unique}", group)
        )
        await post_message(monitor["message_url"], worktool_message("好的", user, group))
        link.restore()
        await expect(page.locator("#bs-conn")).to_have_attribute("data-state", "live", timeout=15_000)
        row = page.locator("#bs-task-rows tr", has_text=user)
        await expect(row).to_contain_text("已响应", timeout=8_000)
        assert await page.evaluate("window.__sameDocument === true")
    finally:
        await context.close()


async def test_kanban_shows_new_task_live_and_reassigns(page: Page, hub: HubProcess, unique: str) -> None:
    group, monitor, _token = prepare(hub, unique)
    user = f"看板号主{unique}"
    await page.goto("/after-sales/")
    await expect(page.locator(".page-title")).to_have_text("售后任务")
    await page.wait_for_function("window.__live.open > 0")
    await post_message(
        monitor["message_url"], worktool_message(f"@{user} 扫一下码登录", f"售后{unique}", group)
    )
    card = page.locator("#col-todo article", has_text=user)
    await expect(card).to_be_visible(timeout=8_000)
    await expect(card).to_contain_text(f"售后{unique}")
    await expect(card).to_contain_text("技能匹配（扫码登录）")
    await card.get_by_role("button", name="开始处理").click()
    await expect(page.locator("#col-doing article", has_text=user)).to_be_visible()
    await expect(page.locator("#aftersales-flash")).to_contain_text("处理中")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"after-sales-kanban-{unique}.png"))


async def test_revoked_link_stops_the_screen(browser: Browser, hub: HubProcess, unique: str) -> None:
    group, monitor, token = prepare(hub, unique)
    context = await browser.new_context(base_url=hub.base_url, locale="zh-CN")
    page = await context.new_page()
    try:
        await page.goto(f"/after-sales/screen?token={token}")
        await expect(page.locator("#bs-conn")).to_have_attribute("data-state", "live")
        with hub.api() as api:
            tokens = api.get("/api/after-sales/screen-tokens").json()["data"]["items"]
            token_id = next(t["id"] for t in tokens if t["name"] == f"大屏{unique}")
            assert api.post(f"/api/after-sales/screen-tokens/{token_id}/revoke").status_code == 200
        # The next event makes the screen re-read its snapshot, which the revoked token no longer gets.
        await post_message(
            monitor["message_url"], worktool_message(f"@号主{unique} 扫码", f"售后{unique}", group)
        )
        await expect(page.locator("#bs-revoked")).to_be_visible(timeout=8_000)
    finally:
        await context.close()


async def test_big_screen_dom_stays_bounded_under_many_events(
    browser: Browser, hub: HubProcess, unique: str
) -> None:
    group, monitor, token = prepare(hub, unique)
    context = await browser.new_context(
        base_url=hub.base_url, viewport={"width": 1920, "height": 1080}, locale="zh-CN"
    )
    page = await context.new_page()
    try:
        await page.goto(f"/after-sales/screen?token={token}")
        await expect(page.locator("#bs-conn")).to_have_attribute("data-state", "live")

        async def burst(tag: str) -> int:
            for i in range(20):
                text = f"@批量{tag}{i}{unique} 扫一下码登录"
                await post_message(monitor["message_url"], worktool_message(text, f"售后{unique}", group))
            last = page.locator("#bs-reminders li", has_text=f"批量{tag}19{unique}")
            await expect(last).to_be_visible(timeout=15_000)
            await page.wait_for_timeout(500)  # let the debounced snapshot settle
            return int(await page.evaluate("document.getElementsByTagName('*').length"))

        await burst("甲")
        full = await burst("乙")  # 40 open tasks: the task list is at its cap from here on
        more = await burst("丙")
        assert await page.locator("#bs-reminders li").count() == 20
        assert await page.locator("#bs-task-rows tr").count() == 30
        assert more <= full + 5, (full, more)
    finally:
        await context.close()
