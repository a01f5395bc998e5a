"""The dashboard's live message stream: webhook in, row on an open page, no reload; reconnect catch-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Browser, Page, Request, expect

from tests.conftest import HubProcess, register_robot
from tests.e2e.conftest import (
    CuttableLink,
    admin_state,
    new_context,
    post_message,
    screenshot,
    wait_processed,
    worktool_message,
)

pytestmark = pytest.mark.e2e

LIVE_TIMEOUT_MS = 8_000  # webhook → store → flow (in-process or arq worker) → SSE → htmx swap


async def open_live_dashboard(page: Page) -> None:
    await page.goto("/")
    await expect(page.locator(".page-title")).to_have_text("总览")
    await page.wait_for_function("window.__live.open > 0")
    # Marks this document: a reload or navigation would lose it.
    await page.evaluate("window.__sameDocument = true")


async def test_webhook_message_appears_live_on_dashboard(
    page: Page, hub: HubProcess, hub_name: str, unique: str
) -> None:
    group = f"抖音号主服务{unique}群"
    robot = register_robot(hub, "monitor", f"live-{unique}", [group])
    await open_live_dashboard(page)

    lines = [
        ("阿杰🏀", "大家早上好呀☀️"),
        ("李姐（宝妈）", "请问收益一般什么时候结算？"),
        ("晴天☀️", f"我的号掉线了，需要重新扫码登录吗 #{unique}"),
    ]
    ids = []
    for sender, text in lines:
        message_id = await post_message(robot["message_url"], worktool_message(text, sender, group))
        ids.append(message_id)
        row = page.locator(f"#message-stream > tr#msg-{message_id}")
        await expect(row).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        await expect(row).to_contain_text(text)
        await expect(row).to_contain_text(sender)
        await expect(row).to_contain_text(group)
        await expect(row.get_by_role("link", name="详情")).to_have_attribute(
            "href", f"/messages/{message_id}"
        )

    # Newest first, each message once, all without reloading the page.
    stream_ids = await page.locator("#message-stream > tr").evaluate_all(
        "rows => rows.map(r => Number(r.dataset.messageId))"
    )
    assert stream_ids[: len(ids)] == ids[::-1]
    assert await page.evaluate("window.__sameDocument") is True
    await expect(page.locator("#stream-empty")).to_have_count(0)
    await expect(page.locator("#live-state")).not_to_have_class("down")
    await screenshot(page, f"dashboard-{hub_name}")


@pytest.fixture
async def page_via_link(browser: Browser, hub: HubProcess, link: CuttableLink) -> AsyncIterator[Page]:
    """A logged-in page that reaches the hub through a link the test can cut."""
    context = await new_context(browser, hub, await admin_state(browser, hub), base_url=link.base_url)
    yield await context.new_page()
    await context.close()


async def test_dashboard_catches_up_after_losing_the_connection(
    page_via_link: Page, hub: HubProcess, link: CuttableLink, unique: str
) -> None:
    """Messages processed while the connection was down appear once the page reconnects (SSE resume)."""
    page = page_via_link
    group = f"视频号号主{unique}群"
    robot = register_robot(hub, "monitor", f"resume-{unique}", [group])
    streams: list[Request] = []
    page.on(
        "request",
        lambda request: streams.append(request) if "/events?topics=messages" in request.url else None,
    )
    await open_live_dashboard(page)
    before = await post_message(robot["message_url"], worktool_message("连接正常时发的", "老张-建材", group))
    await expect(page.locator(f"#msg-{before}")).to_be_visible(timeout=LIVE_TIMEOUT_MS)

    link.cut()
    await page.wait_for_function("window.__live.error > 0")
    # live.js keeps since= current. Read it once the link is down: the row's processed update may
    # arrive after the row itself, and then it is the last event the page saw.
    seen = await page.locator('[sse-connect*="topics=messages"]').get_attribute("sse-connect")
    last_seen = parse_qs(urlsplit(seen or "").query)["since"][0]
    await expect(page.locator("#live-state")).to_have_class("live-state down")
    await expect(page.locator("#live-state .label")).to_have_text("重连中…")

    missed = []
    for text in ("断线期间发的第一条", "断线期间发的第二条"):
        message_id = await post_message(robot["message_url"], worktool_message(text, "Lily王", group))
        await wait_processed(hub, message_id)  # its live event is published while the link is down
        missed.append(message_id)
    for message_id in missed:
        await expect(page.locator(f"#msg-{message_id}")).to_have_count(0)

    link.restore()
    for message_id in missed:
        await expect(page.locator(f"#message-stream > #msg-{message_id}")).to_be_visible(
            timeout=LIVE_TIMEOUT_MS
        )
    await expect(page.locator("#live-state .label")).to_have_text("实时")
    # The reconnect asked to resume after the last event the page had: EventSource's own retry sends
    # Last-Event-ID (the newest event it received, which may be one htmx did not swap), htmx's
    # fallback (a new EventSource) sends the since= that live.js kept current.
    resumed = streams[-1]
    resume_points = {
        (await resumed.all_headers()).get("last-event-id"),
        *parse_qs(urlsplit(resumed.url).query).get("since", []),
    }
    resume_from = max(int(point) for point in resume_points if point)
    assert len(streams) >= 2 and resume_from >= int(last_seen), (last_seen, resume_points)
    # The replay starts after the last event the page saw: nothing is shown twice.
    for message_id in [before, *missed]:
        await expect(page.locator(f"#msg-{message_id}")).to_have_count(1)
    assert await page.evaluate("window.__sameDocument") is True

    after = await post_message(robot["message_url"], worktool_message("恢复连接后发的", "Lily王", group))
    await expect(page.locator(f"#message-stream > #msg-{after}")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    stream_ids = await page.locator("#message-stream > tr").evaluate_all(
        "rows => rows.map(r => Number(r.dataset.messageId))"
    )
    assert stream_ids[:4] == [after, *missed[::-1], before]
