"""Console over HTTP as a browser would use it: login, CSRF, roles, users and tokens, audit."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx
import pytest

from tests.conftest import ROOT, HubProcess

pytestmark = pytest.mark.integration

CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def hub(embedded_hub: HubProcess) -> HubProcess:
    subprocess.run(
        [sys.executable, "-m", "app.cli", "create-admin", "--password", "admin-pass-123"],
        cwd=ROOT,
        env=embedded_hub.env,
        check=True,
        capture_output=True,
    )
    return embedded_hub


def login(hub: HubProcess, username: str, password: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=hub.base_url, follow_redirects=False, timeout=10)
    token = CSRF.search(client.get("/login").text)
    assert token is not None
    answer = client.post(
        "/login",
        data={"username": username, "password": password, "_csrf": token.group(1), "next": "/messages"},
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/messages"
    page = client.get("/users" if username == "admin" else "/")
    csrf = CSRF.search(page.text)
    return client, csrf.group(1) if csrf else ""


def test_login_rejects_bad_password_and_foreign_redirects(hub: HubProcess) -> None:
    client = httpx.Client(base_url=hub.base_url, timeout=10)
    token = CSRF.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
    bad = client.post("/login", data={"username": "admin", "password": "nope", "_csrf": token})
    assert bad.status_code == 401 and "用户名或密码错误" in bad.text
    no_csrf = client.post("/login", data={"username": "admin", "password": "admin-pass-123"})
    assert no_csrf.status_code == 403
    good = client.post(
        "/login",
        data={
            "username": "admin",
            "password": "admin-pass-123",
            "_csrf": token,
            "next": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert good.headers["location"] == "/"
    cookie = good.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_forms_need_the_csrf_token(hub: HubProcess, unique: str) -> None:
    client, csrf = login(hub, "admin", "admin-pass-123")
    refused = client.post("/people", data={"display_name": f"甲{unique}", "role": "operator"})
    assert refused.status_code == 403
    accepted = client.post("/people", data={"display_name": f"甲{unique}", "role": "operator", "_csrf": csrf})
    assert accepted.status_code == 303
    htmx = client.post(
        "/people",
        data={"display_name": f"乙{unique}", "role": "user"},
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
    )
    assert htmx.status_code == 303


def test_roles_limit_what_users_can_change(hub: HubProcess, unique: str) -> None:
    admin, csrf = login(hub, "admin", "admin-pass-123")
    created = admin.post(
        "/users",
        data={
            "username": f"agent{unique}",
            "display_name": "客服甲",
            "role": "agent",
            "password": "agent-pass-1",
            "_csrf": csrf,
        },
    )
    assert created.status_code == 303
    agent, agent_csrf = login(hub, f"agent{unique}", "agent-pass-1")
    assert agent.get("/").status_code == 200
    assert agent.get("/users").status_code == 403
    assert (
        agent.post("/people", data={"display_name": "x", "role": "user", "_csrf": agent_csrf}).status_code
        == 403
    )
    assert (
        agent.post(
            "/robots", data={"robot_id": "x", "name": "x", "role": "monitor", "_csrf": agent_csrf}
        ).status_code
        == 403
    )


def test_last_admin_cannot_be_disabled(hub: HubProcess) -> None:
    admin, csrf = login(hub, "admin", "admin-pass-123")
    page = admin.get("/users").text
    admin_id = re.search(r'action="/users/(\d+)"', page).group(1)  # type: ignore[union-attr]
    answer = admin.post(f"/users/{admin_id}", data={"action": "toggle", "_csrf": csrf})
    assert answer.status_code == 409 and "至少需要保留一个" in answer.text


def test_api_token_from_console_works_and_can_be_revoked(hub: HubProcess, unique: str) -> None:
    admin, csrf = login(hub, "admin", "admin-pass-123")
    page = admin.post("/users/tokens", data={"name": f"监控{unique}", "role": "viewer", "_csrf": csrf}).text
    token = re.search(r'id="new-token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    api = httpx.Client(base_url=hub.base_url, headers={"Authorization": f"Bearer {token}"})
    assert api.get("/api/messages").status_code == 200
    assert api.post("/api/people", json={"display_name": "x", "role": "user"}).status_code == 403
    token_id = re.search(r'action="/users/tokens/(\d+)/revoke"', page).group(1)  # type: ignore[union-attr]
    admin.post(f"/users/tokens/{token_id}/revoke", data={"_csrf": csrf})
    # Revocation reaches every process within the auth cache's lifetime (10 s).
    from tests.conftest import wait_for

    wait_for(lambda: api.get("/api/messages").status_code == 401, timeout=15, interval=0.5)


def test_logins_and_changes_are_in_the_audit_log(hub: HubProcess, unique: str) -> None:
    admin, csrf = login(hub, "admin", "admin-pass-123")
    admin.post("/people", data={"display_name": f"审计{unique}", "role": "operator", "_csrf": csrf})
    audit = admin.get("/audit").text
    assert "person.create" in audit and f"审计{unique}" in audit and "login" in audit
    assert admin.post("/logout", data={"_csrf": csrf}).status_code == 303
    assert admin.get("/").status_code in (302, 303, 307)
