"""Session pages in a browser: a user's new message appears live on their session page; staff correct a
message's type and sentiment from the page; the group page's recent messages update live."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.conftest import HubProcess, register_robot
from tests.e2e.conftest import post_message, screenshot, wait_processed, worktool_message

pytestmark = pytest.mark.e2e

LIVE_TIMEOUT_MS = 8_000  # webhook → store → flow → SSE → htmx GET of the new rows → swap


async def open_live(page: Page, url: str, title: str) -> None:
    await page.goto(url)
    await expect(page.locator(".page-title")).to_have_text(title)
    await page.wait_for_function("window.__live.open > 0")
    await page.evaluate("window.__sameDocument = true")


async def api_message(hub: HubProcess, message_id: int) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=hub.base_url, headers=hub.api().headers, timeout=10) as api:
        return (await api.get(f"/api/messages/{message_id}")).json()["data"]  # type: ignore[no-any-return]


async def test_new_message_appears_live_and_staff_correct_it(
    page: Page, hub: HubProcess, hub_name: str, unique: str
) -> None:
    group, user, other = f"快手号主{unique}群", f"小雨{unique}", f"路人{unique}"
    robot = register_robot(hub, "monitor", f"sess-{unique}", [group])
    first = await post_message(
        robot["message_url"], worktool_message("请问这个月的收益什么时候发？", user, group)
    )
    session_id = (await wait_processed(hub, first))["session_id"]

    await open_live(page, f"/sessions/{session_id}", "用户会话详情")
    await expect(page.locator("#user-info")).to_contain_text(user)
    await expect(page.locator(f"#timeline > tr#sm-{first}")).to_be_visible()

    noise = await post_message(
        robot["message_url"], worktool_message("别人的消息，不属于这个会话", other, group)
    )
    fresh = await post_message(
        robot["message_url"], worktool_message(f"我的号又掉线了 #{unique}", user, group)
    )
    row = page.locator(f"#timeline > tr#sm-{fresh}")
    await expect(row).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    await expect(row).to_contain_text(f"我的号又掉线了 #{unique}")
    await expect(row.locator(".type-cell .badge")).to_be_visible()
    await wait_processed(hub, noise)
    await expect(page.locator(f"#sm-{noise}")).to_have_count(0)
    await expect(page.locator(f"#timeline > tr#sm-{fresh}")).to_have_count(1)
    ids = await page.locator("#timeline > tr[data-id]").evaluate_all(
        "rows => rows.map(r => Number(r.dataset.id))"
    )
    assert ids == sorted(ids) and ids[-1] == fresh
    assert await page.evaluate("window.__sameDocument") is True

    # Correct the type from the page: only user types are offered for a user's message.
    current = (await api_message(hub, fresh))["type"]
    new_type = "chat_after_sales" if current != "chat_after_sales" else "chat_inquiry"
    select = row.get_by_label("更正类型")
    offered = await select.locator("option").evaluate_all("os => os.map(o => o.value).filter(Boolean)")
    assert offered and all(code.startswith("chat_") for code in offered)
    await select.select_option(new_type)
    row = page.locator(f"#timeline > tr#sm-{fresh}")
    await expect(row.locator(".marks")).to_contain_text("已更正")
    await expect(row.locator(f'[data-type="{new_type}"]')).to_be_visible()
    message = await api_message(hub, fresh)
    assert message["type"] == new_type  # sentiment corrections: tests/integration/test_session_pages.py

    # A value the server refuses (here smuggled into the select) shows its message in the row.
    await row.get_by_label("更正类型").evaluate(
        "s => { const o = new Option('x', 'staff_reply_user'); s.add(o); }"
    )
    await row.get_by_label("更正类型").select_option("staff_reply_user")
    await expect(row.locator(".correct-error")).to_contain_text("不适用于用户发送的消息")
    await expect(row.get_by_label("更正类型")).to_have_value(new_type)
    await screenshot(page, f"session-detail-{hub_name}")


async def test_group_page_shows_new_messages_live(
    page: Page, hub: HubProcess, hub_name: str, unique: str
) -> None:
    group = f"视频号服务{unique}群"
    robot = register_robot(hub, "monitor", f"grp-{unique}", [group])
    first = await post_message(robot["message_url"], worktool_message("大家好", f"阿强{unique}", group))
    await wait_processed(hub, first)
    await page.goto("/groups?q=" + group)
    await page.get_by_role("link", name=group).click()
    await expect(page.locator(".page-title")).to_have_text("群会话详情")
    await page.wait_for_function("window.__live.open > 0")
    await expect(page.locator(".chart").first.locator(".bar")).to_have_count(24)
    fresh = await post_message(robot["message_url"], worktool_message("新来的消息", f"小美{unique}", group))
    row = page.locator(f"#group-stream > tr#sm-{fresh}")
    await expect(row).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    ids = await page.locator("#group-stream > tr[data-id]").evaluate_all(
        "rows => rows.map(r => Number(r.dataset.id))"
    )
    assert ids[0] == fresh and ids == sorted(ids, reverse=True)
    await screenshot(page, f"group-detail-{hub_name}")
