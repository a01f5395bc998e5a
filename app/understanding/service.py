"""Understanding as a service: analyse one text with everything the flow would use."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput
from app.understanding.classifier import TASK_FAMILY, classify, compile_lexicons
from app.understanding.context import at_names
from app.understanding.lexicon import load_lexicons, load_response_words
from app.understanding.llm_gateway import llm_tier
from app.understanding.responses import detect_response
from app.understanding.retrain import active_type_model
from app.understanding.schemas import MAX_TEXT, IdentifyTypeIn
from app.understanding.sentiment_gateway import analyse_sentiment
from app.understanding.types import MESSAGE_TYPES, ContextLine, MessageInput

ROLES = ("user", "staff", "operator")
LLM_BELOW = 0.6


def types_catalogue() -> list[dict[str, Any]]:
    return [
        {
            "code": t.code,
            "name": t.name,
            "category": t.category,
            "priority": t.priority,
            "description": t.description,
        }
        for t in MESSAGE_TYPES
    ]


def to_input(data: IdentifyTypeIn) -> MessageInput:
    text = data.message.strip()
    if not text:
        raise InvalidInput("message 不能为空")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"message 过长（最多 {MAX_TEXT} 个字符）")
    if data.open_task_type is not None and data.open_task_type not in TASK_FAMILY:
        choices = " | ".join(TASK_FAMILY)
        raise InvalidInput(f"open_task_type 取值无效：{data.open_task_type}（可选 {choices}）")
    if data.sender_role not in ROLES:
        raise InvalidInput(f"sender_role 取值无效：{data.sender_role}（可选 user | staff | operator）")
    context = tuple(
        ContextLine(c.role if c.role in ROLES else "user", c.content[:MAX_TEXT]) for c in data.context[-10:]
    )
    return MessageInput(
        text=text,
        sender_role=data.sender_role,
        at_names=at_names(text),
        context=context,
        open_task=data.open_task,
        open_task_type=data.open_task_type,
    )


async def identify(session: AsyncSession, data: IdentifyTypeIn) -> dict[str, Any]:
    item = to_input(data)
    lexicons = compile_lexicons(await load_lexicons(session))
    response_words = await load_response_words(session)
    model, model_label = await active_type_model(session)
    result = classify(item, lexicons, model, response_words=response_words)
    tier = llm_tier()
    if tier is not None and result.confidence < LLM_BELOW:
        answer, note = await tier.classify(item)
        result = answer or dataclasses.replace(result, notes=(*result.notes, f"LLM 未采用：{note}"))
    sentiment = analyse_sentiment(item.text, item.sender_role)
    response, _ = detect_response(
        item.text,
        item.open_task and item.sender_role == "user",
        response_words,
        item.context,
        result.type,
    )
    return {
        "type": result.type,
        "type_name": result.type_name,
        "category": result.category,
        "confidence": result.confidence,
        "reason": result.reason,
        "tier": result.tier,
        "model": model_label,
        "notes": list(result.notes),
        "sentiment": {"label": sentiment.label, "score": round(sentiment.score, 4)},
        "after_sales_response": response,
    }
