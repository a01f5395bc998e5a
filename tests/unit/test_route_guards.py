"""Every route is behind the login guard, except the WorkTool webhooks (token in the URL)."""

from __future__ import annotations

import pytest

from app import config
from app.auth.guards import require_login


def test_only_the_webhooks_are_outside_the_login_guard(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from app.main import create_app

    settings = config.load_settings(
        {"SECRET_KEY": "k" * 32, "DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}"}
    )
    monkeypatch.setattr(config, "_settings", settings)
    app = create_app(settings)
    unguarded = {
        route.path
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if not any(getattr(guard, "func", guard) is require_login for guard in handler.resolve_guards())
    }
    assert unguarded == {
        "/webhooks/worktool/{robot_id:str}/message",
        "/webhooks/worktool/{robot_id:str}/result",
    }
    assert len(app.routes) > 50
