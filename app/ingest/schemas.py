"""WorkTool message callback (WORKTOOL.md §1) and result callback (§3) payloads."""

from __future__ import annotations

from typing import Any

import msgspec

from app.errors import InvalidInput

MAX_BODY_BYTES = 64 * 1024
FIELD_LIMITS = {"receivedName": 120, "groupName": 200, "groupRemark": 200}


class WorkToolMessage(msgspec.Struct, frozen=True):
    receivedName: str
    roomType: int
    textType: int
    spoken: str = ""
    rawSpoken: str = ""
    groupName: str = ""
    groupRemark: str = ""
    atMe: bool = False


class WorkToolResult(msgspec.Struct, frozen=True):
    messageId: str
    errorCode: int = 0
    errorReason: str = ""
    type: int | None = None
    rawMsg: str = ""
    runTime: int | None = None
    timeCost: float | None = None
    successList: list[str] = []
    failList: list[str] = []


_json_decoder = msgspec.json.Decoder()


def _describe(exc: msgspec.ValidationError) -> str:
    text = str(exc)
    return (
        text.replace("Object missing required field", "缺少必填字段")
        .replace("Expected", "类型错误：应为")
        .replace("got", "实际为")
        .replace("at `$.", "，字段 `")
    )


def decode_json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise InvalidInput("请求体为空")
    try:
        value = _json_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"JSON 格式错误：{exc}") from exc
    if not isinstance(value, dict):
        raise InvalidInput("请求体必须是 JSON 对象")
    return value


def _form_value(raw: Any) -> Any:
    if isinstance(raw, list):
        return raw[-1] if raw else ""
    return raw


_BOOL_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False, "": False}


def coerce_form(form: dict[str, Any]) -> dict[str, Any]:
    """Form-data carries strings only; convert the typed fields WorkTool sends."""
    data = {key: _form_value(value) for key, value in form.items()}
    for key in ("roomType", "textType"):
        if key in data and isinstance(data[key], str):
            try:
                data[key] = int(data[key].strip())
            except ValueError as exc:
                raise InvalidInput(f"字段 `{key}` 类型错误：应为整数，实际为 {data[key]!r}") from exc
    if "atMe" in data and isinstance(data["atMe"], str):
        word = data["atMe"].strip().lower()
        if word not in _BOOL_WORDS:
            raise InvalidInput(f"字段 `atMe` 类型错误：应为布尔值，实际为 {data['atMe']!r}")
        data["atMe"] = _BOOL_WORDS[word]
    return data


def to_message(data: dict[str, Any]) -> WorkToolMessage:
    try:
        message = msgspec.convert(data, WorkToolMessage, strict=True)
    except msgspec.ValidationError as exc:
        raise InvalidInput(_describe(exc)) from exc
    if "spoken" not in data and "rawSpoken" not in data:
        raise InvalidInput("缺少必填字段 `spoken` 或 `rawSpoken`")
    if not message.receivedName.strip():
        raise InvalidInput("字段 `receivedName` 不能为空")
    for field, limit in FIELD_LIMITS.items():
        if len(getattr(message, field)) > limit:
            raise InvalidInput(f"字段 `{field}` 过长（最多 {limit} 个字符）")
    if message.roomType not in (1, 2, 3, 4):
        raise InvalidInput(f"字段 `roomType` 取值无效：{message.roomType}（应为 1–4）")
    if message.textType < 0 or message.textType > 99:
        raise InvalidInput(f"字段 `textType` 取值无效：{message.textType}")
    if message.roomType in (1, 3) and not message.groupName.strip():
        raise InvalidInput("群聊消息（roomType 1 或 3）缺少 `groupName`")
    return message


def to_result(data: dict[str, Any]) -> WorkToolResult:
    data = dict(data)
    for key in ("successList", "failList"):
        if isinstance(data.get(key), str):  # rawMsg/list sends these as JSON strings
            try:
                data[key] = msgspec.json.decode(data[key]) if data[key] else []
            except msgspec.DecodeError as exc:
                raise InvalidInput(f"字段 `{key}` 不是有效的 JSON 数组") from exc
    if isinstance(data.get("messageId"), int):
        data["messageId"] = str(data["messageId"])
    try:
        return msgspec.convert(data, WorkToolResult, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(_describe(exc)) from exc
