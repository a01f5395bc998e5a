"""JSON API: message types and one-off identification."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, post

from app.db import get_db
from app.understanding.schemas import IdentifyTypeIn
from app.understanding.service import identify, types_catalogue
from app.web.envelope import ok


class UnderstandingApi(Controller):
    path = "/api/messages"
    tags = ["消息理解"]

    @get("/types", summary="消息类型目录（编码、名称、类别、优先级、说明）")
    async def types(self) -> Response[dict[str, Any]]:
        return ok(types_catalogue())

    @post("/identify-type", summary="识别一条消息的类型、情绪和售后响应", status_code=200)
    async def identify_type(self, data: IdentifyTypeIn) -> Response[dict[str, Any]]:
        async with get_db().session() as session:
            return ok(await identify(session, data))
