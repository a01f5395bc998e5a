"""Alerts in the browser: a complaint posted through the webhook pops up a level-4 alert (with
sound) on an open console page within 3 s; the alert is then cancelled through the page's modal
and the row shows 告警已取消 live (embedded and production set-ups)."""

from __future__ import annotations

import asyncio
import secrets
import time

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.conftest import API_TOKEN, HubProcess, register_robot, wait_for
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e


def post_message(robot: dict[str, str], group: str, sender: str, text: str) -> None:
    payload = {
        "spoken": text,
        "rawSpoken": text,
        "receivedName": sender,
        "groupName": group,
        "groupRemark": "",
        "roomType": 1,
        "atMe": False,
        "textType": 1,
    }
    assert httpx.post(robot["message_url"], json=payload, timeout=5).status_code == 200


def warm_up(hub: HubProcess, robot: dict[str, str], group: str) -> None:
    """An ordinary message first: the 3 s budget measures the alert, not a cold model load."""
    post_message(robot, group, "预热", "大家好")
    with httpx.Client(base_url=hub.base_url, headers={"Authorization": f"Bearer {API_TOKEN}"}) as api:
        wait_for(
            lambda: (
                api.get("/api/messages", params={"group": group}).json()["data"]["items"][:1]
                and api.get("/api/messages", params={"group": group}).json()["data"]["items"][0][
                    "processing_status"
                ]
                == "processed"
            ),
            timeout=30,
        )


async def test_complaint_pops_up_p0_and_is_cancelled_through_the_modal(
    page: Page, hub: HubProcess, hub_name: str
) -> None:
    robot = await asyncio.to_thread(register_robot, hub)
    group = f"弹窗测试群{secrets.token_hex(3)}"
    await asyncio.to_thread(warm_up, hub, robot, group)
    await page.goto("/")
    await expect(page.locator("body")).to_have_attribute("data-alerts-live", "1")
    popup = page.locator("#p0-popup")
    await expect(popup).to_be_hidden()

    started = time.monotonic()
    await asyncio.to_thread(post_message, robot, group, "号主投诉人", "你们就是骗子割韭菜，我要投诉你们")
    await expect(popup).to_be_visible(timeout=3000)
    assert time.monotonic() - started < 3.0
    await expect(popup).to_contain_text(group)
    await expect(popup).to_contain_text("用户投诉")
    await expect(popup.locator('[data-field="level_name"]')).to_have_text("紧急告警 (P0)")
    await expect(page.locator("body")).to_have_attribute("data-p0-sound", __import__("re").compile(r"\d+"))
    await screenshot(page, f"alerts-p0-popup-{hub_name}", docs=hub_name == "embedded")
    await popup.locator("[data-p0-close]").click()
    await expect(popup).to_be_hidden()

    await page.goto(f"/alerts?group={group}")
    row = page.locator("#alert-rows tr.alert-row").first
    await expect(row).to_contain_text("用户投诉")
    await expect(row.locator(".alert-level")).to_contain_text("L4")
    await row.get_by_role("button", name="取消").click()
    modal = page.locator("#alert-cancel-modal")
    await expect(modal).to_be_visible()
    await modal.get_by_label("取消原因").fill("已电话沟通，用户表示理解")
    await modal.get_by_role("button", name="确认取消").click()
    await expect(modal).to_be_hidden()
    await expect(page.locator("#alert-flash")).to_contain_text("已取消")
    await expect(page.locator("#alert-rows tr.alert-row").first).to_contain_text("告警已取消")
    await expect(page.locator("#alert-rows tr.alert-row").first).to_contain_text("已电话沟通，用户表示理解")
    await screenshot(page, f"alerts-page-{hub_name}", docs=hub_name == "embedded")
