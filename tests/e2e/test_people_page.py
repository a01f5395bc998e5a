"""People registry: register a person, relabel the role in place (htmx), the change sticks."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.async_api import Page, expect

from tests.conftest import HubProcess, register_robot
from tests.e2e.conftest import post_message, wait_processed, worktool_message

pytestmark = pytest.mark.e2e


async def test_register_operator_then_change_role_inline(page: Page, hub: HubProcess, unique: str) -> None:
    name = f"财神爷-王总{unique}"
    await page.goto("/people")
    await expect(page.locator(".page-title")).to_have_text("人员登记")
    create = page.locator("form[action='/people'][method=post]")
    await page.locator("summary", has_text="登记人员").click()
    await create.get_by_label("显示名").fill(name)
    await create.locator("select[name=role]").select_option("operator")
    await create.get_by_label("别名").fill(f"王总{unique}，王老板{unique}")
    await create.get_by_label("备注").fill("华东区运营负责人")
    await create.get_by_role("button", name="登记").click()

    await expect(page).to_have_url(f"{hub.base_url}/people")
    await page.goto(f"/people?q={quote(name)}")
    row = page.locator("tr[id^=person-]", has_text=name)
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text(f"王总{unique}、王老板{unique}")
    await expect(row).to_contain_text("全局")
    await expect(row).to_contain_text("华东区运营负责人")
    role = row.locator("select[name=role]")
    await expect(role).to_have_value("operator")
    await expect(row).not_to_contain_text("已保存")
    person_id = await row.get_attribute("id")
    await page.evaluate("window.__sameDocument = true")

    await role.select_option("assistant")  # hx-trigger="change" posts it, the row is swapped in place
    await expect(row.locator(".ok")).to_have_text("已保存")
    await expect(row.locator("select[name=role]")).to_have_value("assistant")
    assert await row.get_attribute("id") == person_id
    assert await page.evaluate("window.__sameDocument") is True

    await page.reload()
    await expect(row.locator("select[name=role]")).to_have_value("assistant")
    await expect(row).not_to_contain_text("已保存")
    with hub.api() as api:
        people = api.get("/api/people", params={"q": name}).json()["data"]["items"]
    assert [(p["display_name"], p["role"]) for p in people] == [(name, "assistant")]


async def test_registered_role_applies_to_later_messages(page: Page, hub: HubProcess, unique: str) -> None:
    """A sender registered as operator is labelled 运营 on the messages that follow."""
    group = f"抖音号主服务{unique}群"
    name = f"运营-陈总{unique}"
    robot = register_robot(hub, "monitor", f"people-{unique}", [group])
    await page.goto("/people")
    await page.locator("summary", has_text="登记人员").click()
    create = page.locator("form[action='/people'][method=post]")
    await create.get_by_label("显示名").fill(name)
    await create.locator("select[name=role]").select_option("operator")
    await create.get_by_label("所属群").fill(group)
    await create.get_by_role("button", name="登记").click()
    await expect(page).to_have_url(f"{hub.base_url}/people")

    message_id = await post_message(
        robot["message_url"], worktool_message("@阿杰 今天晚上8点前把自拍视频发一下", name, group)
    )
    message = await wait_processed(hub, message_id)
    assert message["sender_role"] == "operator"
    await page.goto(f"/messages/{message_id}")
    await expect(page.locator(".facts")).to_contain_text(f"{name} 运营")
