"""WorkTool webhook routes (WORKTOOL.md §1 and §3)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Controller, Request, Response, post
from litestar.exceptions import ClientException
from sqlalchemy import insert

from app import clock
from app.commands.tasks import settle_soon
from app.db import get_db
from app.errors import HubError, InvalidInput, PayloadTooLarge, RateLimited
from app.ingest.schemas import MAX_BODY_BYTES, coerce_form, decode_json_object, to_message, to_result
from app.robots.models import CommandResult

log = logging.getLogger(__name__)

ACCEPTED = {"code": 0, "message": "success", "data": {"type": 5000, "info": {"text": ""}}}
ACCEPTED_BODY = msgspec.json.encode(ACCEPTED)  # the hot path answers with these bytes as they are
RESULT_ACCEPTED = {"code": 0, "message": "success", "data": None}


async def read_body(request: Request[Any, Any, Any]) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge("请求体超过 64 KB 上限")
    try:
        body = await request.body()
    except ClientException as exc:
        if exc.status_code == 413:
            raise PayloadTooLarge("请求体超过 64 KB 上限") from exc
        raise InvalidInput(f"无法读取请求体：{exc.detail}") from exc
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge("请求体超过 64 KB 上限")
    return body


async def parse_payload(request: Request[Any, Any, Any]) -> dict[str, Any]:
    body = await read_body(request)
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("application/x-www-form-urlencoded"):
        return coerce_form(dict(parse_qsl(body.decode("utf-8", errors="strict"), keep_blank_values=True)))
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        return coerce_form({key: form.getall(key) for key in form if isinstance(form.get(key), str)})
    return decode_json_object(body)


def envelope_error(exc: HubError) -> Response[dict[str, Any]]:
    return Response({"code": -1, "message": exc.message, "data": None}, status_code=exc.status_code)


class WebhookController(Controller):
    path = "/webhooks/worktool/{robot_id:str}"
    opt = {"public": True}  # robots authenticate with the per-robot token in the URL
    tags = ["WorkTool 回调"]

    @post("/message", summary="WorkTool 消息回调", status_code=200, request_max_body_size=MAX_BODY_BYTES)
    async def message(
        self, request: Request[Any, Any, Any], robot_id: str, token: str | None = None
    ) -> Response[Any]:
        state = request.app.state  # read directly: injecting `State` copies it on every request
        try:
            robot = await state.robots.authenticate(robot_id, token)
            if not state.rate_limiter.allow(robot.pk):
                raise RateLimited("回调过于频繁，请稍后重试")
            raw = await parse_payload(request)
            payload = to_message(raw)
        except HubError as exc:
            return envelope_error(exc)
        try:
            message_id = await state.ingest.submit(robot, payload, raw)
        except Exception:
            log.exception("webhook message not stored", extra={"robot_id": robot_id})
            return Response({"code": -1, "message": "消息存储失败，请重试", "data": None}, status_code=503)
        return Response(
            ACCEPTED_BODY, media_type="application/json", headers={"X-Hub-Message-Id": str(message_id)}
        )

    @post("/result", summary="WorkTool 指令结果回调", status_code=200, request_max_body_size=MAX_BODY_BYTES)
    async def result(
        self, request: Request[Any, Any, Any], robot_id: str, token: str | None = None
    ) -> Response[dict[str, Any]]:
        state = request.app.state
        try:
            robot = await state.robots.authenticate(robot_id, token)
            if not state.rate_limiter.allow(robot.pk):
                raise RateLimited("回调过于频繁，请稍后重试")
            raw = await parse_payload(request)
            result = to_result(raw)
        except HubError as exc:
            return envelope_error(exc)
        async with get_db().transaction() as session:
            stored = await session.execute(
                insert(CommandResult).returning(CommandResult.id),
                [
                    {
                        "robot_id": robot.pk,
                        "worktool_message_id": result.messageId,
                        "command_type": result.type,
                        "error_code": result.errorCode,
                        "error_reason": result.errorReason,
                        "time_cost": result.timeCost,
                        "run_time_ms": result.runTime,
                        "success_list": result.successList,
                        "fail_list": result.failList,
                        "raw_payload": raw,
                        "received_at": clock.now(),
                        "settled": False,
                    }
                ],
            )
            result_id = stored.scalar_one()
        await settle_soon(result.messageId)
        return Response(RESULT_ACCEPTED, headers={"X-Hub-Result-Id": str(result_id)})
