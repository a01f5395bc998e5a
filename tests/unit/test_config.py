from __future__ import annotations

import pytest

from app.config import ConfigError, load_settings, normalise_database_url

BASE = {"SECRET_KEY": "k" * 32}


def test_defaults_are_embedded_sqlite_shanghai_and_unscaled() -> None:
    s = load_settings(BASE)
    assert s.is_sqlite and s.embedded and s.port == 8000
    assert s.tz_name == "Asia/Shanghai" and s.time_scale == 1.0
    assert s.database_url.startswith("sqlite+aiosqlite:///") and s.database_url.endswith("var/hub.db")


def test_postgres_urls_map_to_psycopg() -> None:
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert load_settings({**BASE, "DATABASE_URL": "sqlite:///x.db"}).sync_database_url == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"PORT": "abc"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"HUB_TIME_SCALE": "0"}, "HUB_TIME_SCALE"),
        ({"HUB_TIME_SCALE": "fast"}, "HUB_TIME_SCALE"),
        ({"TZ": "Mars/Olympus"}, "TZ"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"REDIS_URL": "redis://x"}, "PostgreSQL"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"HUB_API_TOKEN": "short"}, "HUB_API_TOKEN"),
        ({"WORKTOOL_API_BASE": "ftp://x"}, "WORKTOOL_API_BASE"),
        ({"HUB_PROCESSING_CONCURRENCY": "0"}, "HUB_PROCESSING_CONCURRENCY"),
        ({"HUB_PROCESSING_CONCURRENCY": "many"}, "HUB_PROCESSING_CONCURRENCY"),
    ],
)
def test_invalid_settings_name_the_variable(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_settings({**BASE, **env})


def test_time_scale_shortens_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    from app import clock, config

    monkeypatch.setattr(config, "_settings", load_settings({**BASE, "HUB_TIME_SCALE": "0.01"}))
    assert clock.scaled_seconds(60) == pytest.approx(0.6)
    assert clock.scaled(1800).total_seconds() == pytest.approx(18)


def test_demo_sandbox_flag_is_off_by_default_and_validated() -> None:
    assert load_settings(BASE).demo_sandbox is False
    for on in ("1", "true", "YES", " on "):
        assert load_settings({**BASE, "HUB_DEMO_SANDBOX": on}).demo_sandbox is True
    for off in ("", "0", "false", "no", "off"):
        assert load_settings({**BASE, "HUB_DEMO_SANDBOX": off}).demo_sandbox is False
    with pytest.raises(ConfigError, match="HUB_DEMO_SANDBOX"):
        load_settings({**BASE, "HUB_DEMO_SANDBOX": "maybe"})


async def test_processing_slots_follow_the_setting() -> None:
    from app.runtime import Runtime

    assert load_settings(BASE).processing_concurrency == 3
    settings = load_settings({**BASE, "HUB_PROCESSING_CONCURRENCY": "2"})
    runtime = Runtime(settings, None, None, None)  # type: ignore[arg-type]
    async with runtime.processing_slots, runtime.processing_slots:
        assert runtime.processing_slots.locked()  # a third batch would wait
    assert not runtime.processing_slots.locked()
