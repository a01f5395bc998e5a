"""Tier 3 of message classification: an optional LLM behind an OpenAI-compatible API (PRODUCT.md §3.2, §10).

DeepSeek, Qwen (DashScope compatible mode), Doubao (Ark), Kimi (Moonshot), OpenAI … all accept
``POST {base_url}/chat/completions``. :class:`LLMTier` tries the configured providers in order; each call
has a timeout covering the whole HTTP exchange, up to ``max_retries`` attempts with a short back-off on
timeouts, 5xx and connection errors (never on 4xx), and a :class:`CircuitBreaker` per provider. Whenever
no provider gives a valid answer, :meth:`LLMTier.classify` returns ``(None, note)`` and the caller keeps
the answer of tiers 1–2: the hub works fully with no LLM configured.

The breaker tracks availability: transport errors, timeouts, HTTP errors and malformed response envelopes
count as failures; a well-formed answer whose *content* is unusable (not JSON, wrong type) falls back
but counts as a success of the provider.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec

from app.config import ConfigError
from app.understanding.types import (
    CATEGORY_OF_ROLE,
    TYPES_BY_CATEGORY,
    TYPES_BY_CODE,
    Classification,
    MessageInput,
)

NOT_CONFIGURED = "未配置"
BREAKER_OPEN = "熔断中"
TIMED_OUT = "超时"
CONNECT_FAILED = "连接失败"
BAD_FORMAT = "返回格式无效"
BAD_TYPE = "返回类型无效"
UNKNOWN_ROLE = "发送者角色未知"

USAGE_LOG_SIZE = 200
MAX_CONTEXT_LINES = 10
MAX_LINE_CHARS = 300
MAX_TEXT_CHARS = 2000
ROLE_NAMES = {"user": "号主", "staff": "工作人员", "operator": "运营", "robot": "机器人"}
CATEGORY_NAMES = {"user": "号主（用户）", "staff": "工作人员", "operator": "运营"}

Json = dict[str, Any]


class LLMConfigError(ConfigError):
    """An LLM provider setting is invalid; the message names it."""


class ProviderConfig(msgspec.Struct, frozen=True):
    """One OpenAI-compatible provider. ``base_url`` is the API root, e.g. ``https://api.deepseek.com/v1``."""

    name: str
    base_url: str
    model: str
    api_key: str = ""
    timeout_seconds: float = 3.0
    max_retries: int = 3  # attempts per call, the first one included
    enabled: bool = True

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise LLMConfigError("LLM 提供方名称不能为空")
        _check_base_url(self.base_url, f"LLM 提供方 {self.name} 的 base_url")
        if not self.model.strip():
            raise LLMConfigError(f"LLM 提供方 {self.name} 的模型名称（model）不能为空")
        if not self.timeout_seconds > 0:
            raise LLMConfigError(
                f"LLM 提供方 {self.name} 的超时必须大于 0 秒，当前值为 {self.timeout_seconds}"
            )
        if self.max_retries < 1:
            raise LLMConfigError(f"LLM 提供方 {self.name} 的重试次数至少为 1，当前值为 {self.max_retries}")

    @property
    def chat_url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def __repr__(self) -> str:  # never print the API key
        return (
            f"ProviderConfig(name={self.name!r}, base_url={self.base_url!r}, model={self.model!r}, "
            f"api_key={'***' if self.api_key else ''!r}, timeout_seconds={self.timeout_seconds}, "
            f"max_retries={self.max_retries}, enabled={self.enabled})"
        )


def _check_base_url(url: str, what: str) -> None:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LLMConfigError(f"{what} 必须以 http:// 或 https:// 开头，当前值为 {url!r}")


def providers_from_env(environ: Mapping[str, str]) -> list[ProviderConfig]:
    """The provider configured by ``HUB_LLM_*`` variables, or none when ``HUB_LLM_BASE_URL`` is unset."""
    base_url = environ.get("HUB_LLM_BASE_URL", "").strip()
    if not base_url:
        return []
    _check_base_url(base_url, "HUB_LLM_BASE_URL")
    model = environ.get("HUB_LLM_MODEL", "").strip()
    if not model:
        raise LLMConfigError("设置了 HUB_LLM_BASE_URL 时必须同时设置 HUB_LLM_MODEL（模型名称）")
    raw_timeout = environ.get("HUB_LLM_TIMEOUT", "").strip()
    timeout = 3.0
    if raw_timeout:
        try:
            timeout = float(raw_timeout)
        except ValueError as exc:
            raise LLMConfigError(f"HUB_LLM_TIMEOUT 必须是数字（秒），当前值为 {raw_timeout!r}") from exc
        if not 0 < timeout <= 120:
            raise LLMConfigError(f"HUB_LLM_TIMEOUT 必须在 0–120 秒之间，当前值为 {raw_timeout}")
    return [
        ProviderConfig(
            name=environ.get("HUB_LLM_NAME", "").strip() or "default",
            base_url=base_url.rstrip("/"),
            model=model,
            api_key=environ.get("HUB_LLM_API_KEY", "").strip(),
            timeout_seconds=timeout,
        )
    ]


# ----- circuit breaker ---------------------------------------------------------------------------------


class CircuitBreaker:
    """closed → open after ``failure_threshold`` consecutive failures → half-open after ``cooldown_seconds``.

    Half-open lets one trial call through (:meth:`allow` answers True once); its success closes the
    breaker, its failure opens it for another cool-down. A trial that never reports back (cancelled) is
    given up after one more cool-down so the breaker cannot stay stuck.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        cooldown_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self.clock = clock
        self.failures = 0  # consecutive
        self.opened_at: float | None = None
        self._state = "closed"
        self._trial_started: float | None = None

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open`` (an open breaker past its cool-down reports half_open)."""
        if self._state == "open" and self._cooled_down():
            return "half_open"
        return self._state

    def _cooled_down(self) -> bool:
        return self.opened_at is not None and self.clock() - self.opened_at >= self.cooldown_seconds

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open state this reserves the single trial call."""
        if self._state == "closed":
            return True
        now = self.clock()
        if self._state == "open":
            if not self._cooled_down():
                return False
            self._state = "half_open"
            self._trial_started = now
            return True
        # half-open: one trial at a time, unless the previous one was abandoned
        if self._trial_started is None or now - self._trial_started >= self.cooldown_seconds:
            self._trial_started = now
            return True
        return False

    def record_success(self) -> None:
        self._state, self.failures, self.opened_at, self._trial_started = "closed", 0, None, None

    def record_failure(self) -> None:
        self.failures += 1
        if self._state == "half_open" or self.failures >= self.failure_threshold:
            self._state, self.opened_at, self._trial_started = "open", self.clock(), None

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a trial call through (0 when calls are allowed)."""
        if self._state != "open" or self.opened_at is None:
            return 0.0
        return max(self.opened_at + self.cooldown_seconds - self.clock(), 0.0)

    def snapshot(self) -> Json:
        return {"state": self.state, "failures": self.failures, "retry_in": round(self.retry_in(), 3)}


# ----- prompt and answer parsing -----------------------------------------------------------------------

SYSTEM_PROMPT = (
    "你是企业微信客户群（号主群）消息分类助手。根据发送者身份、上下文和消息内容，"
    "从给定的类型中选出最合适的一个。只输出一个 JSON 对象，不要输出其他任何文字。"
)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_messages(message: MessageInput, category: str) -> list[Json]:
    """The chat messages (system + user) asking to classify ``message`` among its category's types."""
    codes = TYPES_BY_CATEGORY[category]
    type_lines = "\n".join(
        f"- {code}（{TYPES_BY_CODE[code].name}）：{TYPES_BY_CODE[code].description}" for code in codes
    )
    role = ROLE_NAMES.get(message.sender_role, message.sender_role)
    parts = [
        f"发送者身份：{role}（只能从{CATEGORY_NAMES[category]}类消息类型中选择）",
        f"可选类型：\n{type_lines}",
    ]
    context = message.context[-MAX_CONTEXT_LINES:]
    if context:
        lines = "\n".join(
            f"[{ROLE_NAMES.get(line.role, line.role)}] {_clip(line.content, MAX_LINE_CHARS)}"
            for line in context
        )
        parts.append(f"最近的上下文（从早到晚）：\n{lines}")
    else:
        parts.append("最近的上下文：无")
    task = f"是（{message.open_task_type}）" if message.open_task and message.open_task_type else None
    parts.append(f"发送者在本群是否有未完成的售后任务：{task or ('是' if message.open_task else '否')}")
    parts.append(f"消息中@的人：{'、'.join(message.at_names) if message.at_names else '无'}")
    if message.media_kind != "text":
        parts.append(f"消息形式：{message.media_kind}（以下为其中携带的文字）")
    parts.append(f"待分类消息：\n{_clip(message.text, MAX_TEXT_CHARS) or '（无文字内容）'}")
    parts.append(
        "请只输出严格的 JSON："
        '{"type": "类型代码", "confidence": 0到1之间的小数, "reason": "简短的中文理由"}。'
        f"type 必须是以下之一：{', '.join(codes)}。"
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n\n".join(parts)}]


_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def _json_object(content: str) -> Json | None:
    text = _THINK.sub("", content).strip()
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    candidates = [text]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def parse_answer(content: str, category: str) -> tuple[str, float, str] | str:
    """``(type, confidence, reason)`` from the model's content, or the fallback note when unusable."""
    data = _json_object(content)
    if data is None or "type" not in data:
        return BAD_FORMAT
    raw_type = data["type"]
    if not isinstance(raw_type, str):
        return BAD_TYPE
    code = raw_type.strip()
    allowed = TYPES_BY_CATEGORY[category]
    if code not in allowed:
        lowered = code.lower()
        by_name = [c for c in allowed if lowered in (c.lower(), TYPES_BY_CODE[c].name.lower())]
        if len(by_name) != 1:
            return BAD_TYPE
        code = by_name[0]
    try:
        confidence = float(data.get("confidence", 0.6))
    except (TypeError, ValueError):
        confidence = 0.6
    if confidence != confidence:  # NaN
        confidence = 0.6
    confidence = min(max(confidence, 0.0), 1.0)
    reason = data.get("reason", "")
    return code, confidence, reason.strip() if isinstance(reason, str) else str(reason)


# ----- the tier ----------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    content: str | None = None  # None: the call failed
    error: str = ""
    status: int | None = None
    attempts: int = 0
    usage: Json = field(default_factory=dict)


class LLMTier:
    """Classification through OpenAI-compatible providers, tried in order; see the module docstring."""

    def __init__(
        self,
        providers: Iterable[ProviderConfig],
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        failure_threshold: int = 5,
        cooldown_seconds: float = 30.0,
        backoff_seconds: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.providers: tuple[ProviderConfig, ...] = tuple(providers)
        names = [p.name for p in self.providers]
        if len(set(names)) != len(names):
            raise LLMConfigError(f"LLM 提供方名称重复：{names}")
        self.transport = transport
        self.backoff_seconds = backoff_seconds
        self.breakers: dict[str, CircuitBreaker] = {
            p.name: CircuitBreaker(failure_threshold, cooldown_seconds, clock) for p in self.providers
        }
        self._usage: deque[Json] = deque(maxlen=USAGE_LOG_SIZE)
        self._no_json_mode: set[str] = set()  # providers that rejected response_format
        self._client: httpx.AsyncClient | None = None

    @property
    def enabled(self) -> bool:
        return any(p.enabled for p in self.providers)

    @property
    def usage(self) -> list[Json]:
        """The last calls (oldest first): time, provider, model, ok, error, status, attempts, latency_ms,
        prompt_tokens, completion_tokens, total_tokens, type."""
        return list(self._usage)

    def status(self) -> list[Json]:
        """Per-provider state for a monitor page (no API keys)."""
        return [
            {
                "name": p.name,
                "model": p.model,
                "base_url": p.base_url,
                "enabled": p.enabled,
                "json_mode": p.name not in self._no_json_mode,
                "breaker": self.breakers[p.name].snapshot(),
            }
            for p in self.providers
        ]

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def __aenter__(self) -> LLMTier:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self.transport,
                timeout=httpx.Timeout(30.0),  # each request gets its provider's timeout
                headers={"User-Agent": "worktool-ai-hub"},
            )
        return self._client

    async def classify(self, message: MessageInput) -> tuple[Classification | None, str]:
        """``(classification with tier "llm", note)`` or ``(None, why it fell back)``."""
        active = [p for p in self.providers if p.enabled]
        if not active:
            return None, NOT_CONFIGURED
        category = CATEGORY_OF_ROLE.get(message.sender_role)
        if category is None:
            return None, UNKNOWN_ROLE
        messages = build_messages(message, category)
        failures: list[str] = []
        for provider in active:
            breaker = self.breakers[provider.name]
            if not breaker.allow():
                failures.append(f"{provider.name}: {BREAKER_OPEN}")
                self._log(provider, _Outcome(error=BREAKER_OPEN), 0.0)
                continue
            started = time.perf_counter()
            outcome = await self._call(provider, messages)
            latency = time.perf_counter() - started
            if outcome.content is None:
                breaker.record_failure()
                tries = f"（{outcome.attempts} 次尝试）" if outcome.attempts > 1 else ""
                failures.append(f"{provider.name}: {outcome.error}{tries}")
                self._log(provider, outcome, latency)
                continue
            breaker.record_success()
            parsed = parse_answer(outcome.content, category)
            if isinstance(parsed, str):
                outcome.error = parsed
                failures.append(f"{provider.name}: {parsed}")
                self._log(provider, outcome, latency)
                continue
            code, confidence, reason = parsed
            self._log(provider, outcome, latency, code)
            note = f"{provider.name}: {round(latency * 1000)} ms"
            classification = Classification(
                type=code,
                confidence=confidence,
                reason=reason or f"LLM（{provider.name}）判定",
                tier="llm",
                notes=(*failures, note),
            )
            return classification, "; ".join([*failures, note])
        return None, "; ".join(failures)

    async def _call(self, provider: ProviderConfig, messages: Sequence[Json]) -> _Outcome:
        outcome = _Outcome()
        for attempt in range(1, provider.max_retries + 1):
            outcome.attempts = attempt
            retryable = True
            try:
                async with asyncio.timeout(provider.timeout_seconds):
                    response = await self._post(provider, messages)
            except (TimeoutError, httpx.TimeoutException):
                outcome.error = TIMED_OUT
            except httpx.TransportError as exc:
                outcome.error = f"{CONNECT_FAILED}（{type(exc).__name__}）"
            else:
                outcome.status = response.status_code
                if response.is_success:
                    envelope = _envelope(response)
                    if envelope is None:
                        outcome.error = BAD_FORMAT
                        return outcome
                    outcome.content, outcome.usage = envelope
                    outcome.error = ""
                    return outcome
                outcome.error = f"HTTP {response.status_code}"
                retryable = response.status_code >= 500
            if not retryable or attempt == provider.max_retries:
                break
            await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        return outcome

    async def _post(self, provider: ProviderConfig, messages: Sequence[Json]) -> httpx.Response:
        client = self._http()
        headers = {"Authorization": f"Bearer {provider.api_key}"} if provider.api_key else {}
        body: Json = {"model": provider.model, "messages": list(messages), "temperature": 0}
        json_mode = provider.name not in self._no_json_mode
        if json_mode:
            body["response_format"] = {"type": "json_object"}
        timeout = httpx.Timeout(provider.timeout_seconds)
        response = await client.post(provider.chat_url, json=body, headers=headers, timeout=timeout)
        if response.status_code == 400 and json_mode:
            # Some providers / models reject response_format: ask again without it, and remember.
            self._no_json_mode.add(provider.name)
            body.pop("response_format")
            response = await client.post(provider.chat_url, json=body, headers=headers, timeout=timeout)
            if response.status_code == 400:
                self._no_json_mode.discard(provider.name)  # the 400 was about something else
        return response

    def _log(
        self, provider: ProviderConfig, outcome: _Outcome, latency: float, code: str | None = None
    ) -> None:
        usage = outcome.usage

        def tokens(key: str) -> int | None:
            value = usage.get(key)
            return value if isinstance(value, int) else None

        self._usage.append(
            {
                "time": time.time(),
                "provider": provider.name,
                "model": provider.model,
                "ok": code is not None,
                "error": outcome.error or None,
                "status": outcome.status,
                "attempts": outcome.attempts,
                "latency_ms": round(latency * 1000, 1),
                "prompt_tokens": tokens("prompt_tokens"),
                "completion_tokens": tokens("completion_tokens"),
                "total_tokens": tokens("total_tokens"),
                "type": code,
            }
        )


def _envelope(response: httpx.Response) -> tuple[str, Json] | None:
    """``(content, usage)`` of an OpenAI chat.completion answer, None when it has another shape."""
    try:
        data = response.json()
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if not isinstance(content, str):
        return None
    usage = data.get("usage")
    return content, usage if isinstance(usage, dict) else {}
