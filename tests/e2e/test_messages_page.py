"""Message monitor: filter by group (htmx), open a message's flow trace."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.conftest import HubProcess, register_robot
from tests.e2e.conftest import post_message, screenshot, wait_processed, worktool_message

pytestmark = pytest.mark.e2e

FOUNDATION_NODES = ["receive", "identify_sender", "session_update", "publish"]
FIRST_NODE, LAST_NODE = FOUNDATION_NODES[0], FOUNDATION_NODES[-1]


async def test_filter_by_group_then_open_flow_trace(
    page: Page, hub: HubProcess, hub_name: str, unique: str
) -> None:
    group, other_group = f"视频号号主VIP{unique}群", f"抖音号主服务{unique}群"
    robot = register_robot(hub, "monitor", f"monitor-{unique}", [group, other_group])
    text = f"实名认证一直提示失败，怎么弄啊 #{unique}"
    message_id = await post_message(
        robot["message_url"], worktool_message(text, "宝妈小丽💕", group, remark="视频号VIP｜重点客户")
    )
    other_id = await post_message(
        robot["message_url"], worktool_message("今天好热啊，出门差点晒化了😂", "旺仔", other_group)
    )
    await wait_processed(hub, message_id)
    await wait_processed(hub, other_id)

    await page.goto("/messages")
    await expect(page.locator(".page-title")).to_have_text("消息监控")
    await page.evaluate("window.__sameDocument = true")
    await page.locator("form.filters select[name=group]").select_option(group)  # htmx swaps the table

    table = page.locator("#message-table")
    await expect(table.locator("p.muted").first).to_have_text("共 1 条")
    rows = table.locator("tbody tr")
    await expect(rows).to_have_count(1)
    row = rows.first
    await expect(row.locator("td").first).to_have_text(str(message_id))
    await expect(row).to_contain_text(text)
    await expect(row).to_contain_text("宝妈小丽💕")
    await expect(row).to_contain_text(group)
    await expect(row).to_contain_text("已处理")
    await expect(row).to_contain_text(f"monitor-{unique}")
    await expect(table).not_to_contain_text("旺仔")
    assert await page.evaluate("window.__sameDocument") is True
    assert "group=" in page.url  # hx-push-url keeps the filter in the address bar

    await row.get_by_role("link", name="轨迹").click()
    await expect(page).to_have_url(f"{hub.base_url}/messages/{message_id}")
    await expect(page.locator(".page-title")).to_have_text(f"消息 #{message_id}")
    facts = page.locator(".facts").first
    await expect(facts.locator("dd").first).to_have_text(f"{group} （视频号VIP｜重点客户）")
    await expect(facts).to_contain_text(text)
    await expect(facts).to_contain_text("已处理")
    run = page.locator(".run").first
    await expect(run.locator(".run-head")).to_contain_text("第 1 次")
    await expect(run.locator(".run-head")).to_contain_text("成功")
    steps = run.locator(".steps > li")
    await expect(steps.locator("strong").first).to_have_text(FIRST_NODE)
    await expect(steps.locator("strong").last).to_have_text(LAST_NODE)
    nodes = await steps.locator("strong").all_inner_texts()
    # Later capabilities add nodes in between; the foundation's nodes keep their order.
    assert [n for n in nodes if n in FOUNDATION_NODES] == FOUNDATION_NODES, nodes
    await expect(run.locator(".steps > li.step-ok")).to_have_count(len(nodes))
    await screenshot(page, f"message-detail-{hub_name}")

    await page.get_by_role("link", name="← 返回消息监控").click()
    await expect(page).to_have_url(f"{hub.base_url}/messages")
