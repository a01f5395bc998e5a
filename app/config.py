"""One frozen Settings object read from the environment and validated at start-up."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = ROOT / "var"


class ConfigError(ValueError):
    """Raised when the environment holds an invalid setting; the message names it."""


def _int(env: dict[str, str], name: str, default: int, minimum: int = 0, maximum: int = 1 << 31) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} 必须是整数，当前值为 {raw!r}") from exc
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name} 必须在 {minimum}–{maximum} 之间，当前值为 {value}")
    return value


def env_float(
    env: dict[str, str], name: str, default: float, minimum: float, maximum: float = float("inf")
) -> float:
    """A number from the environment, or the default; out of range → ConfigError naming it."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} 必须是数字，当前值为 {raw!r}") from exc
    if value < minimum and maximum == float("inf"):
        raise ConfigError(f"{name} 不能小于 {minimum:g}，当前值为 {value:g}")
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name} 必须在 {minimum:g}–{maximum:g} 之间，当前值为 {value:g}")
    return value


def normalise_database_url(url: str) -> str:
    """Map the URLs operators write onto the async drivers the hub uses."""
    if url.startswith("sqlite+aiosqlite://"):
        return url
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+asyncpg://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith("postgresql+psycopg://"):
        return url
    raise ConfigError(f"DATABASE_URL 只支持 sqlite:// 或 postgresql://，当前值为 {url.split(':', 1)[0]}://…")


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    redis_url: str | None
    secret_key: str
    port: int
    api_token: str | None
    admin_password: str | None
    worktool_api_base: str
    tz_name: str
    time_scale: float
    webhook_rate_limit: int
    webhook_rate_burst: int
    max_processing_attempts: int
    public_base_url: str | None
    worker_nice: int = 19
    processing_concurrency: int = 3
    demo_sandbox: bool = False  # HUB_DEMO_SANDBOX=1: app/demo/sandbox.py answers as WorkTool (demo only)
    secret_key_generated: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def embedded(self) -> bool:
        return self.redis_url is None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.tz_name)

    @property
    def sync_database_url(self) -> str:
        """URL for Alembic, which runs synchronously."""
        if self.database_url.startswith("sqlite+aiosqlite://"):
            return "sqlite://" + self.database_url[len("sqlite+aiosqlite://") :]
        return self.database_url

    @property
    def session_key(self) -> bytes:
        import hashlib

        return hashlib.sha256(b"session:" + self.secret_key.encode()).digest()


def _flag(env: dict[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} 必须是 1 或 0，当前值为 {raw!r}")


def _secret_key(env: dict[str, str]) -> tuple[str, bool]:
    value = env.get("SECRET_KEY", "").strip()
    if value:
        if len(value) < 16:
            raise ConfigError("SECRET_KEY 至少需要 16 个字符")
        return value, False
    # Embedded default: keep a generated key under var/ so sessions survive restarts.
    key_file = VAR_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip(), True
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    key_file.write_text(value)
    key_file.chmod(0o600)
    return value, True


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    default_db = f"sqlite:///{VAR_DIR / 'hub.db'}"
    database_url = normalise_database_url(env.get("DATABASE_URL", "").strip() or default_db)
    redis_url = env.get("REDIS_URL", "").strip() or None
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("REDIS_URL 必须以 redis:// 或 rediss:// 开头")
    if redis_url and database_url.startswith("sqlite"):
        raise ConfigError("配置了 REDIS_URL（独立 worker 进程）时，DATABASE_URL 必须是 PostgreSQL")
    tz_name = env.get("TZ", "").strip() or "Asia/Shanghai"
    try:
        ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"TZ 不是有效的时区名称：{tz_name!r}") from exc
    api_base = (env.get("WORKTOOL_API_BASE", "").strip() or "https://api.worktool.ymdyes.cn").rstrip("/")
    if not api_base.startswith(("http://", "https://")):
        raise ConfigError("WORKTOOL_API_BASE 必须以 http:// 或 https:// 开头")
    secret_key, generated = _secret_key(env)
    api_token = env.get("HUB_API_TOKEN", "").strip() or None
    if api_token is not None and len(api_token) < 16:
        raise ConfigError("HUB_API_TOKEN 至少需要 16 个字符")
    public_base = env.get("HUB_PUBLIC_URL", "").strip().rstrip("/") or None
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        secret_key=secret_key,
        port=_int(env, "PORT", 8000, 1, 65535),
        api_token=api_token,
        admin_password=env.get("HUB_ADMIN_PASSWORD", "").strip() or None,
        worktool_api_base=api_base,
        tz_name=tz_name,
        time_scale=env_float(env, "HUB_TIME_SCALE", 1.0, 0.0001),
        webhook_rate_limit=_int(env, "HUB_WEBHOOK_RATE_LIMIT", 500, 1),
        webhook_rate_burst=_int(env, "HUB_WEBHOOK_RATE_BURST", 1000, 1),
        max_processing_attempts=_int(env, "HUB_MAX_PROCESSING_ATTEMPTS", 3, 1, 20),
        public_base_url=public_base,
        worker_nice=_int(env, "HUB_WORKER_NICE", 19, 0, 19),
        processing_concurrency=_int(env, "HUB_PROCESSING_CONCURRENCY", 3, 1, 20),
        demo_sandbox=_flag(env, "HUB_DEMO_SANDBOX"),
        secret_key_generated=generated,
    )


_settings: Settings | None = None


def get_settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def reset_settings(settings: Settings | None = None) -> None:
    """Replace the cached settings (tests, CLI commands)."""
    global _settings
    _settings = settings
