from __future__ import annotations

import pytest

from app.auth.pages import safe_next
from app.auth.passwords import hash_password, verify_password
from app.auth.service import CurrentUser
from app.errors import InvalidInput
from app.web.params import parse_time


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (None, "/"),
        ("/messages?q=1", "/messages?q=1"),
        ("https://evil.example/", "/"),
        ("//evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_login_redirects_stay_on_site(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_passwords_are_argon2() -> None:
    digest = hash_password("correct horse")
    assert digest.startswith("$argon2")
    assert verify_password(digest, "correct horse") and not verify_password(digest, "wrong")
    assert not verify_password("not-a-hash", "x")


def test_role_ranks() -> None:
    admin = CurrentUser(1, "a", "a", "admin", "session")
    viewer = CurrentUser(2, "v", "v", "viewer", "session")
    assert admin.at_least("supervisor") and not viewer.at_least("agent") and viewer.at_least("viewer")


def test_times_without_zone_are_read_in_hub_timezone(monkeypatch: pytest.MonkeyPatch) -> None:
    from app import config

    monkeypatch.setattr(config, "_settings", config.load_settings({"SECRET_KEY": "k" * 32}))
    moment = parse_time("2026-01-01T08:00", "since")
    assert moment is not None and moment.isoformat() == "2026-01-01T00:00:00+00:00"
    with pytest.raises(InvalidInput):
        parse_time("yesterday", "since")
