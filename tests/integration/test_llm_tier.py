"""The LLM tier over real HTTP against the loopback OpenAI-compatible stub."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from app.understanding.llm import (
    CircuitBreaker,
    LLMConfigError,
    LLMTier,
    ProviderConfig,
    build_messages,
    parse_answer,
    providers_from_env,
)
from app.understanding.types import TYPES_BY_CATEGORY, ContextLine, MessageInput
from tests.stubs.openai_stub import OpenAIStub

MESSAGE = MessageInput(
    text="我的号登录不上了，要扫码吗？",
    sender_role="user",
    at_names=("客服小王",),
    context=(ContextLine("staff", "请大家今天完成扫码登录"), ContextLine("user", "收到")),
    open_task=True,
)
AFTER_SALES = {"type": "chat_after_sales", "confidence": 0.83, "reason": "号主需要扫码登录"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def stub_server() -> Iterator[OpenAIStub]:
    with OpenAIStub() as running:
        yield running


@pytest.fixture
def stub(stub_server: OpenAIStub) -> OpenAIStub:
    stub_server.reset()
    return stub_server


def provider(stub: OpenAIStub, **overrides: Any) -> ProviderConfig:
    fields: dict[str, Any] = {
        "name": "stub",
        "base_url": stub.base_url,
        "model": "stub-model",
        "api_key": "sk-test",
    }
    return ProviderConfig(**{**fields, **overrides})


@pytest.fixture
async def make_tier() -> AsyncIterator[Callable[..., LLMTier]]:
    tiers: list[LLMTier] = []

    def make(*providers: ProviderConfig, **kwargs: Any) -> LLMTier:
        kwargs.setdefault("backoff_seconds", 0.01)
        tier = LLMTier(providers, **kwargs)
        tiers.append(tier)
        return tier

    yield make
    for tier in tiers:
        await tier.aclose()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# ----- answers -----------------------------------------------------------------------------------------


async def test_classification_is_parsed_from_the_answer(
    stub: OpenAIStub, make_tier: Callable[..., LLMTier]
) -> None:
    stub.configure(reply=AFTER_SALES)
    tier = make_tier(provider(stub))
    assert tier.enabled
    result, note = await tier.classify(MESSAGE)
    assert result is not None, note
    assert (result.type, result.confidence, result.reason, result.tier) == (
        "chat_after_sales",
        0.83,
        "号主需要扫码登录",
        "llm",
    )
    assert result.type_name == "售后任务" and result.category == "user"
    assert note.startswith("stub: ") and note.endswith(" ms") and result.notes == (note,)
    [usage] = tier.usage
    stub_usage = _answer_usage(stub, AFTER_SALES)
    assert usage["ok"] and usage["provider"] == "stub" and usage["model"] == "stub-model"
    assert usage["type"] == "chat_after_sales" and usage["attempts"] == 1 and usage["error"] is None
    assert usage["total_tokens"] == stub_usage["total_tokens"] > 0
    assert usage["prompt_tokens"] == stub_usage["prompt_tokens"] and usage["latency_ms"] > 0


def _answer_usage(stub: OpenAIStub, reply: dict[str, Any]) -> dict[str, int]:
    """The usage block the stub computed for its last request."""
    body = stub.requests[-1].body
    prompt = sum(len(m["content"]) for m in body["messages"])
    completion = len(json.dumps(reply, ensure_ascii=False))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def test_request_shape(stub: OpenAIStub, make_tier: Callable[..., LLMTier]) -> None:
    tier = make_tier(provider(stub))
    await tier.classify(MESSAGE)
    [request] = await stub.wait_requests(1)
    assert request.path == "/v1/chat/completions"
    assert request.authorization == "Bearer sk-test"
    assert request.headers["content-type"] == "application/json"
    body = request.body
    assert body["model"] == "stub-model" and body["temperature"] == 0
    assert body["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    prompt = body["messages"][1]["content"]
    for code in TYPES_BY_CATEGORY["user"]:
        assert code in prompt
    for code in TYPES_BY_CATEGORY["staff"] + TYPES_BY_CATEGORY["operator"]:
        assert code not in prompt
    assert "号主需要" not in prompt  # only the question, not the answer
    assert "请大家今天完成扫码登录" in prompt and "收到" in prompt
    assert "未完成的售后任务：是" in prompt and "客服小王" in prompt
    assert MESSAGE.text in prompt and '"confidence"' in prompt


async def test_no_authorization_header_without_a_key(
    stub: OpenAIStub, make_tier: Callable[..., LLMTier]
) -> None:
    tier = make_tier(provider(stub, api_key=""))
    result, _ = await tier.classify(MESSAGE)
    assert result is not None
    assert stub.requests[0].authorization is None


@pytest.mark.parametrize(
    ("role", "category", "reply_type"),
    [
        ("staff", "staff", "staff_at_user"),
        ("robot", "staff", "staff_other"),
        ("operator", "operator", "operator_tone_hard"),
    ],
)
async def test_types_offered_follow_the_sender_category(
    stub: OpenAIStub, make_tier: Callable[..., LLMTier], role: str, category: str, reply_type: str
) -> None:
    stub.configure(reply={"type": reply_type, "confidence": 0.7, "reason": "r"})
    tier = make_tier(provider(stub))
    result, note = await tier.classify(MessageInput("@张三 今天必须把视频发了", sender_role=role))
    assert result is not None and result.type == reply_type, note
    prompt = stub.requests[0].body["messages"][1]["content"]
    others = [code for cat, codes in TYPES_BY_CATEGORY.items() if cat != category for code in codes]
    assert all(code in prompt for code in TYPES_BY_CATEGORY[category])
    assert not any(code in prompt for code in others)


async def test_fenced_json_content_is_accepted(stub: OpenAIStub, make_tier: Callable[..., LLMTier]) -> None:
    stub.configure(
        reply="好的，结果如下：\n```json\n"
        '{"type": "chat_complaint", "confidence": "0.9", "reason": "不满"}\n```'
    )
    tier = make_tier(provider(stub))
    result, note = await tier.classify(MessageInput("你们公司就是骗子"))
    assert result is not None, note
    assert (result.type, result.confidence, result.reason) == ("chat_complaint", 0.9, "不满")


@pytest.mark.parametrize("reply", ["这是一条分类结果：售后任务", "", "[1, 2]", '{"confidence": 0.9}'])
async def test_invalid_content_falls_back(
    stub: OpenAIStub, make_tier: Callable[..., LLMTier], reply: str
) -> None:
    stub.configure(reply=reply)
    tier = make_tier(provider(stub))
    assert await tier.classify(MESSAGE) == (None, "stub: 返回格式无效")
    assert stub.request_count == 1  # a well-formed answer is not retried …
    assert tier.breakers["stub"].failures == 0  # … and the provider is up
    assert tier.usage[-1]["error"] == "返回格式无效" and not tier.usage[-1]["ok"]


async def test_invalid_envelope_falls_back_and_counts_as_failure(
    stub: OpenAIStub, make_tier: Callable[..., LLMTier]
) -> None:
    stub.configure(raw_body="<html>gateway</html>")
    tier = make_tier(provider(stub))
    assert await tier.classify(MESSAGE) == (None, "stub: 返回格式无效")
    assert tier.breakers["stub"].failures == 1


@pytest.mark.parametrize("reply_type", ["staff_reply_user", "operator_other", "no_such_type", 7])
async def test_type_outside_the_sender_category_falls_back(
    stub: OpenAIStub, make_tier: Callable[..., LLMTier], reply_type: object
) -> None:
    stub.configure(reply={"type": reply_type, "confidence": 0.9, "reason": "r"})
    tier = make_tier(provider(stub))
    assert await tier.classify(MESSAGE) == (None, "stub: 返回类型无效")


# ----- failures, retries, fall-back -------------------------------------------------------------------


async def test_timeout_is_retried_then_falls_back(
    stub: OpenAIStub, make_tier: Callable[..., LLMTier]
) -> None:
    stub.configure(delay=10)
    tier = make_tier(provider(stub, timeout_seconds=0.3, max_retries=3))
    started = time.monotonic()
    result, note = await tier.classify(MESSAGE)
    elapsed = time.monotonic() - started
    assert result is None and "超时" in note and "3 次尝试" in note
    assert stub.request_count == 3
    assert 0.9 <= elapsed < 2.5  # the timeout bounds each whole attempt
    finished = await stub.wait_finished(3)  # the client hung up on each delayed answer
    assert all(r.disconnected for r in finished)
    assert tier.usage[-1]["attempts"] == 3 and tier.usage[-1]["error"] == "超时"


async def test_server_errors_are_retried_then_fall_back(
    stub: OpenAIStub, make_tier: Callable[..., LLMTier]
) -> None:
    stub.configure(status=500)
    tier = make_tier(provider(stub))
    result, note = await tier.classify(MESSAGE)
    assert result is None and note == "stub: HTTP 500（3 次尝试）"
    assert stub.request_count == 3
    assert tier.usage[-1]["status"] == 500 and tier.breakers["stub"].failures == 1


async def test_failures_then_success_within_the_retries(
    stub: OpenAIStub, make_tier: Callable[..., LLMTier]
) -> None:
    stub.configure(status=503, status_times=2, reply=AFTER_SALES)
    tier = make_tier(provider(stub))
    result, note = await tier.classify(MESSAGE)
    assert result is not None and result.type == "chat_after_sales", note
    assert stub.request_count == 3 and tier.usage[-1]["attempts"] == 3
    assert tier.breakers["stub"].failures == 0


@pytest.mark.parametrize("status", [429, 401, 404])
async def test_client_errors_are_not_retried(
    stub: OpenAIStub, make_tier: Callable[..., LLMTier], status: int
) -> None:
    stub.configure(status=status)
    tier = make_tier(provider(stub))
    assert await tier.classify(MESSAGE) == (None, f"stub: HTTP {status}")
    assert stub.request_count == 1


async def test_wrong_api_key_is_an_http_401(stub: OpenAIStub, make_tier: Callable[..., LLMTier]) -> None:
    stub.configure(require_key="sk-right")
    assert await make_tier(provider(stub, api_key="sk-wrong")).classify(MESSAGE) == (None, "stub: HTTP 401")
    result, _ = await make_tier(provider(stub, api_key="sk-right")).classify(MESSAGE)
    assert result is not None


async def test_response_format_rejected_is_retried_without_it(
    stub: OpenAIStub, make_tier: Callable[..., LLMTier]
) -> None:
    stub.configure(reject_response_format=True, reply=AFTER_SALES)
    tier = make_tier(provider(stub))
    result, note = await tier.classify(MESSAGE)
    assert result is not None and result.type == "chat_after_sales", note
    first, second = await stub.wait_requests(2)
    assert "response_format" in first.body and "response_format" not in second.body
    assert first.status == 400 and second.status == 200
    assert second.body["messages"] == first.body["messages"]
    # the provider is remembered as not supporting it
    result, _ = await tier.classify(MESSAGE)
    assert result is not None and stub.request_count == 3
    assert "response_format" not in stub.requests[2].body
    assert tier.status()[0]["json_mode"] is False


async def test_other_400s_are_not_blamed_on_response_format(
    stub: OpenAIStub, make_tier: Callable[..., LLMTier]
) -> None:
    stub.configure(status=400)
    tier = make_tier(provider(stub))
    assert await tier.classify(MESSAGE) == (None, "stub: HTTP 400")
    assert stub.request_count == 2  # once with, once without response_format; no retries
    assert tier.status()[0]["json_mode"] is True


async def test_connection_errors_are_retried(make_tier: Callable[..., LLMTier]) -> None:
    dead = ProviderConfig("dead", closed_port_url(), "m", timeout_seconds=1.0, max_retries=3)
    tier = make_tier(dead)
    result, note = await tier.classify(MESSAGE)
    assert result is None and note.startswith("dead: 连接失败") and "3 次尝试" in note


async def test_providers_are_tried_in_order(stub: OpenAIStub, make_tier: Callable[..., LLMTier]) -> None:
    stub.configure(reply=AFTER_SALES)
    dead = ProviderConfig("dead", closed_port_url(), "m", max_retries=1)
    tier = make_tier(dead, provider(stub), failure_threshold=1)
    result, note = await tier.classify(MESSAGE)
    assert result is not None and result.type == "chat_after_sales"
    assert note.startswith("dead: 连接失败") and "; stub: " in note
    assert result.notes[0].startswith("dead: 连接失败")
    # the first provider's breaker is open now: it is skipped without a connection attempt
    result, note = await tier.classify(MESSAGE)
    assert result is not None and note.startswith("dead: 熔断中; stub: ")
    assert stub.request_count == 2


async def test_breaker_opens_stops_calling_then_half_opens_and_closes(
    stub: OpenAIStub, make_tier: Callable[..., LLMTier]
) -> None:
    clock = FakeClock()
    stub.configure(status=500, reply=AFTER_SALES)
    tier = make_tier(provider(stub, max_retries=2), failure_threshold=3, cooldown_seconds=30, clock=clock)
    breaker = tier.breakers["stub"]
    for calls in range(1, 4):
        result, note = await tier.classify(MESSAGE)
        assert result is None and "HTTP 500" in note
        assert stub.request_count == 2 * calls
    assert breaker.state == "open"
    for _ in range(3):
        assert await tier.classify(MESSAGE) == (None, "stub: 熔断中")
    assert stub.request_count == 6  # no more calls while open

    clock.advance(29.9)
    assert await tier.classify(MESSAGE) == (None, "stub: 熔断中")
    clock.advance(0.1)
    assert breaker.state == "half_open"
    # a failing trial opens it again for another cool-down (a single call, no retries beyond max_retries)
    result, note = await tier.classify(MESSAGE)
    assert result is None and "HTTP 500" in note and stub.request_count == 8
    assert breaker.state == "open"
    assert await tier.classify(MESSAGE) == (None, "stub: 熔断中")
    assert stub.request_count == 8

    clock.advance(30)
    stub.configure(status=None)
    result, note = await tier.classify(MESSAGE)
    assert result is not None and result.type == "chat_after_sales", note
    assert breaker.state == "closed" and breaker.failures == 0 and stub.request_count == 9
    assert tier.status()[0]["breaker"] == {"state": "closed", "failures": 0, "retry_in": 0.0}


async def test_not_configured_or_disabled_makes_no_http_call(
    stub: OpenAIStub, make_tier: Callable[..., LLMTier]
) -> None:
    empty = make_tier()
    assert not empty.enabled
    assert await empty.classify(MESSAGE) == (None, "未配置")
    disabled = make_tier(provider(stub, enabled=False))
    assert not disabled.enabled
    assert await disabled.classify(MESSAGE) == (None, "未配置")
    assert stub.request_count == 0 and disabled.usage == [] and disabled._client is None


async def test_unknown_sender_role_falls_back(stub: OpenAIStub, make_tier: Callable[..., LLMTier]) -> None:
    tier = make_tier(provider(stub))
    assert await tier.classify(MessageInput("hi", sender_role="alien")) == (None, "发送者角色未知")
    assert stub.request_count == 0


async def test_client_is_reused_and_closed(stub: OpenAIStub) -> None:
    tier = LLMTier([provider(stub)])
    await tier.classify(MESSAGE)
    client = tier._client
    assert client is not None
    await tier.classify(MESSAGE)
    assert tier._client is client
    await tier.aclose()
    assert tier._client is None and client.is_closed
    async with tier:  # usable again after aclose: a new client is created lazily
        result, _ = await tier.classify(MESSAGE)
    assert result is not None and tier._client is None


async def test_usage_log_keeps_the_last_200(stub: OpenAIStub, make_tier: Callable[..., LLMTier]) -> None:
    stub.configure(status=500)
    tier = make_tier(provider(stub, max_retries=1), failure_threshold=1)
    for _ in range(205):
        await tier.classify(MESSAGE)
    usage = tier.usage
    assert len(usage) == 200 and stub.request_count == 1
    assert all(u["error"] == "熔断中" and u["attempts"] == 0 for u in usage)
    tier.usage.clear()  # a copy: the log itself is untouched
    assert len(tier.usage) == 200


# ----- pure parts ---------------------------------------------------------------------------------------


def test_circuit_breaker_state_machine() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, cooldown_seconds=10, clock=clock)
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    breaker.record_success()  # success resets the consecutive count
    breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow() and breaker.retry_in() == 10
    clock.advance(10)
    assert breaker.state == "half_open"
    assert breaker.allow()  # the single trial …
    assert not breaker.allow()  # … and nobody else meanwhile
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow()


def test_abandoned_half_open_trial_is_given_up_after_a_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_seconds=5, clock=clock)
    breaker.record_failure()
    clock.advance(5)
    assert breaker.allow() and not breaker.allow()  # trial taken, never reported (cancelled)
    clock.advance(5)
    assert breaker.allow()


def test_providers_from_env() -> None:
    assert providers_from_env({}) == []
    assert providers_from_env({"HUB_LLM_MODEL": "x"}) == []
    [p] = providers_from_env(
        {
            "HUB_LLM_BASE_URL": "https://api.deepseek.com/v1/",
            "HUB_LLM_MODEL": "deepseek-chat",
            "HUB_LLM_API_KEY": "sk",
        }
    )
    assert (p.name, p.base_url, p.model, p.api_key, p.timeout_seconds, p.max_retries, p.enabled) == (
        "default",
        "https://api.deepseek.com/v1",
        "deepseek-chat",
        "sk",
        3.0,
        3,
        True,
    )
    assert p.chat_url == "https://api.deepseek.com/v1/chat/completions"
    [q] = providers_from_env(
        {
            "HUB_LLM_BASE_URL": "http://127.0.0.1:1/v1",
            "HUB_LLM_MODEL": "qwen",
            "HUB_LLM_NAME": "qwen",
            "HUB_LLM_TIMEOUT": "1.5",
        }
    )
    assert q.name == "qwen" and q.timeout_seconds == 1.5 and q.api_key == ""


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"HUB_LLM_BASE_URL": "ftp://x/v1", "HUB_LLM_MODEL": "m"}, "HUB_LLM_BASE_URL"),
        ({"HUB_LLM_BASE_URL": "api.deepseek.com", "HUB_LLM_MODEL": "m"}, "HUB_LLM_BASE_URL"),
        ({"HUB_LLM_BASE_URL": "https://x/v1"}, "HUB_LLM_MODEL"),
        (
            {"HUB_LLM_BASE_URL": "https://x/v1", "HUB_LLM_MODEL": "m", "HUB_LLM_TIMEOUT": "soon"},
            "HUB_LLM_TIMEOUT",
        ),
        (
            {"HUB_LLM_BASE_URL": "https://x/v1", "HUB_LLM_MODEL": "m", "HUB_LLM_TIMEOUT": "0"},
            "HUB_LLM_TIMEOUT",
        ),
    ],
)
def test_providers_from_env_errors_name_the_variable(env: dict[str, str], needle: str) -> None:
    with pytest.raises(LLMConfigError, match=needle):
        providers_from_env(env)


def test_provider_config_validation_and_repr() -> None:
    with pytest.raises(LLMConfigError, match="http"):
        ProviderConfig("p", "file:///etc", "m")
    with pytest.raises(LLMConfigError, match="model"):
        ProviderConfig("p", "https://x/v1", " ")
    with pytest.raises(LLMConfigError, match="超时"):
        ProviderConfig("p", "https://x/v1", "m", timeout_seconds=0)
    with pytest.raises(LLMConfigError, match="重试"):
        ProviderConfig("p", "https://x/v1", "m", max_retries=0)
    with pytest.raises(LLMConfigError, match="重复"):
        LLMTier([ProviderConfig("p", "https://x/v1", "m"), ProviderConfig("p", "https://y/v1", "m")])
    assert "sk-secret" not in repr(ProviderConfig("p", "https://x/v1", "m", api_key="sk-secret"))


def test_parse_answer_is_robust() -> None:
    assert parse_answer('{"type": "chat_daily", "confidence": 1.7, "reason": " 问候 "}', "user") == (
        "chat_daily",
        1.0,
        "问候",
    )
    assert parse_answer('<think>{"type": "x"}</think>{"type":"chat_daily"}', "user") == (
        "chat_daily",
        0.6,
        "",
    )
    assert parse_answer('{"type": "售后任务", "confidence": 0.5}', "user") == ("chat_after_sales", 0.5, "")
    assert parse_answer('{"type": "其他", "confidence": null}', "staff") == ("staff_other", 0.6, "")
    assert parse_answer('{"type": "staff_other"}', "user") == "返回类型无效"
    assert parse_answer("not json", "user") == "返回格式无效"


def test_prompt_without_context() -> None:
    prompt = build_messages(MessageInput("[图片]", media_kind="image"), "user")[1]["content"]
    assert "最近的上下文：无" in prompt and "未完成的售后任务：否" in prompt
    assert "@的人：无" in prompt and "image" in prompt
