"""Settings page for recognition rules: keyword lexicons, name patterns, response words; try box."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from app.auth.guards import requires
from app.auth.service import audit
from app.db import get_db
from app.errors import HubError, InvalidInput
from app.system.service import put_setting
from app.understanding.classifier import TASK_FAMILY
from app.understanding.lexicon import (
    NAME_PATTERNS_KEY,
    RESPONSE_KEY,
    clean_words,
    load_lexicons,
    load_name_patterns,
    load_response_words,
    save_lexicons,
)
from app.understanding.schemas import IdentifyTypeIn
from app.understanding.service import identify
from app.understanding.types import MESSAGE_TYPES
from app.web.pages import page
from app.web.params import client_ip


def split_words(raw: str) -> list[str]:
    return clean_words(raw.replace("，", ",").replace("、", ",").replace("\n", ",").split(","))


class UnderstandingPages(Controller):
    path = "/settings/understanding"
    include_in_schema = False

    async def _render(
        self,
        request: Request[Any, Any, Any],
        error: str | None = None,
        saved: bool = False,
        status_code: int = 200,
    ) -> Template:
        async with get_db().session() as session:
            lexicons = await load_lexicons(session)
            patterns = await load_name_patterns(session)
            responses = await load_response_words(session)
        return page(
            request,
            "understanding/settings.html",
            "settings",
            types=MESSAGE_TYPES,
            task_types=TASK_FAMILY,
            lexicons=lexicons,
            patterns=patterns,
            responses=responses,
            error=error,
            saved=saved,
            status_code=status_code,
        )

    @get("/")
    async def index(self, request: Request[Any, Any, Any], saved: bool = False) -> Template:
        return await self._render(request, saved=saved)

    @post("/", guards=[requires("supervisor")])
    async def save(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        form = await request.form()
        lexicons = {t.code: split_words(str(form.get(f"kw_{t.code}", ""))) for t in MESSAGE_TYPES}
        patterns = {role: split_words(str(form.get(f"pattern_{role}", ""))) for role in ("staff", "operator")}
        responses = {kind: split_words(str(form.get(f"resp_{kind}", ""))) for kind in ("response", "refusal")}
        try:
            if not responses["response"] or not responses["refusal"]:
                raise InvalidInput("响应词和拒绝词都至少需要一个")
            async with get_db().transaction() as session:
                by = request.user.username
                await save_lexicons(session, lexicons, by)
                await put_setting(session, NAME_PATTERNS_KEY, patterns, by)
                await put_setting(session, RESPONSE_KEY, responses, by)
                await audit(
                    session,
                    by,
                    "settings.understanding",
                    "识别规则",
                    {"keywords": sum(len(v) for v in lexicons.values())},
                    client_ip(request),
                )
        except HubError as exc:
            return await self._render(request, error=exc.message, status_code=exc.status_code)
        return Redirect("/settings/understanding?saved=true", status_code=303)

    @post("/try")
    async def try_sentence(self, request: Request[Any, Any, Any]) -> Template:
        form = await request.form()
        data = IdentifyTypeIn(
            message=str(form.get("message", "")),
            sender_role=str(form.get("sender_role", "user")),
            open_task=form.get("open_task") == "on",
            open_task_type=str(form.get("open_task_type", "")) or None,
        )
        try:
            async with get_db().session() as session:
                result = await identify(session, data)
            return page(request, "understanding/_try_result.html", result=result, error=None)
        except HubError as exc:
            return page(request, "understanding/_try_result.html", result=None, error=exc.message)
