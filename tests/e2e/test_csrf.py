"""CSRF: a logged-in browser's form POST without the page's token is refused."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.conftest import HubProcess

pytestmark = pytest.mark.e2e


def people_named(hub: HubProcess, name: str) -> list[str]:
    with hub.api() as api:
        items = api.get("/api/people", params={"q": name}).json()["data"]["items"]
    return [p["display_name"] for p in items]


async def test_form_post_without_csrf_token_is_refused(page: Page, hub: HubProcess, unique: str) -> None:
    await page.goto("/people")
    await expect(page.locator(".page-title")).to_have_text("人员登记")
    name = f"伪造请求{unique}"

    refused = await page.request.post("/people", form={"display_name": name, "role": "operator"})
    assert refused.status == 403
    assert "CSRF" in await refused.text()
    wrong = await page.request.post(
        "/people", form={"display_name": name, "role": "operator", "_csrf": "not-the-token"}
    )
    assert wrong.status == 403
    assert people_named(hub, name) == []

    # The same request with the page's token goes through: the 403 was the missing token, not the session.
    token = await page.locator("form[action='/people'] input[name=_csrf]").input_value()
    accepted = await page.request.post(
        "/people", form={"display_name": name, "role": "operator", "_csrf": token}, max_redirects=0
    )
    assert accepted.status == 303
    assert accepted.headers["location"] == "/people"
    assert people_named(hub, name) == [name]


async def test_htmx_post_without_csrf_header_is_refused(page: Page, hub: HubProcess, unique: str) -> None:
    """htmx sends the token as X-CSRF-Token (hx-headers on <body>); without it the change is refused."""
    name = f"无令牌改角色{unique}"
    with hub.api() as api:
        person = api.post("/api/people", json={"display_name": name, "role": "user"}).json()["data"]
    await page.goto("/people")
    refused = await page.request.post(
        f"/people/{person['id']}/role", form={"role": "operator"}, headers={"HX-Request": "true"}
    )
    assert refused.status == 403
    with hub.api() as api:
        assert api.get(f"/api/people/{person['id']}").json()["data"]["role"] == "user"
