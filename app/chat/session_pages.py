"""Console pages for user sessions, group sessions and message corrections; the corrections API."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, post
from litestar.plugins.htmx import HTMXRequest as Request
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.guards import requires
from app.auth.service import audit
from app.chat import session_service as svc
from app.chat.models import Message
from app.db import get_db
from app.errors import HubError
from app.jobs import enqueue
from app.understanding import retrain
from app.understanding.types import SENTIMENT_LABELS, TYPES_BY_CATEGORY, TYPES_BY_CODE
from app.web.envelope import ok
from app.web.pages import page
from app.web.params import client_ip, parse_time

# What the session templates need besides page()'s context.
VIEW = {
    "TYPES_BY_CODE": TYPES_BY_CODE,
    "TYPES_BY_CATEGORY": TYPES_BY_CATEGORY,
    "SENTIMENT_LABELS": SENTIMENT_LABELS,
    "SENTIMENT_NAMES": svc.SENTIMENT_NAMES,
    "CATEGORY_NAMES": svc.CATEGORY_NAMES,
    "CORRECTION_FIELDS": svc.CORRECTION_FIELDS,
    "RESPONSE_NAMES": svc.RESPONSE_NAMES,
    "type_category": svc.type_category,
    "label_name": svc.label_name,
}


def view(request: Request, template: str, active: str, status_code: int = 200, **context: Any) -> Template:
    return page(request, template, active, status_code, **VIEW, **context)


def download(body: bytes, filename: str, media_type: str) -> Response[bytes]:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


async def models_context(
    session: AsyncSession, error: str | None = None, notice: str | None = None
) -> dict[str, Any]:
    """What sessions/_models.html (the retraining section of the corrections page) shows."""
    models = await retrain.list_models(session)
    return {
        "models": models,
        "active_model": await retrain.active_model_id(session),
        "training": any(map(retrain.is_running, models)),
        "model_error": error,
        "notice": notice,
    }


async def models_fragment(request: Request, error: str | None = None, notice: str | None = None) -> Template:
    async with get_db().session() as session:
        context = await models_context(session, error, notice)
    return view(request, "sessions/_models.html", "corrections", **context)


def correction_filter(
    field: str | None,
    by: str | None,
    since: str | None,
    until: str | None,
    page_no: int = 1,
    page_size: int = svc.PAGE_SIZE,
    latest_only: bool = False,
) -> svc.CorrectionFilter:
    return svc.CorrectionFilter(
        field or "",
        by or "",
        parse_time(since, "开始时间"),
        parse_time(until, "结束时间"),
        latest_only,
        page_no,
        page_size,
    )


class SessionPages(Controller):
    include_in_schema = False

    # ── user sessions ──

    @get("/sessions")
    async def sessions(
        self,
        request: Request,
        group: str = "",
        q: str = "",
        has_intervention: str = "",
        sentiment: str = "",
        page_no: int = 1,
    ) -> Template:
        f = svc.SessionFilter(group, q, has_intervention, sentiment, "user", max(page_no, 1))
        items: list[dict[str, Any]] = []
        total, error = 0, None
        async with get_db().session() as session:
            try:
                items, total = await svc.list_sessions(session, f)
            except HubError as exc:
                error = exc.message
            groups = await svc.group_choices(session)
        return view(
            request,
            "sessions/index.html",
            "sessions",
            items=items,
            total=total,
            page_no=f.page,
            pages=max(1, -(-total // f.page_size)),
            groups=groups,
            filters={"group": group, "q": q, "has_intervention": has_intervention, "sentiment": sentiment},
            error=error,
        )

    @get("/sessions/{session_id:int}")
    async def session_detail(self, request: Request, session_id: int, before: int | None = None) -> Template:
        async with get_db().session() as session:
            chat, group = await svc.get_session(session, session_id)
            profile = await svc.user_profile(session, chat)
            stats = await svc.analytics(session, chat)
            messages = await svc.timeline(session, chat, before=before)
            corrected = await svc.corrected_ids(session, [m.id for m in messages])
        return view(
            request,
            "sessions/detail.html",
            "sessions",
            chat=chat,
            group=group,
            profile=profile,
            stats=stats,
            messages=messages,
            corrected=corrected,
            before=before,
            older=len(messages) >= svc.TIMELINE_LIMIT,
        )

    @get("/sessions/{session_id:int}/timeline")
    async def session_timeline(self, request: Request, session_id: int, after: int = 0) -> Template:
        """Only the timeline rows newer than `after` (the live refresh of the detail page)."""
        async with get_db().session() as session:
            chat, _ = await svc.get_session(session, session_id)
            messages = await svc.timeline(session, chat, after=after, limit=svc.LIVE_LIMIT)
            corrected = await svc.corrected_ids(session, [m.id for m in messages])
        return view(request, "sessions/_rows.html", "sessions", messages=messages, corrected=corrected)

    @get("/sessions/{session_id:int}/export.csv")
    async def session_export(self, session_id: int) -> Response[bytes]:
        async with get_db().session() as session:
            chat, _ = await svc.get_session(session, session_id)
            body = await svc.export_session_csv(session, chat)
        return download(body, f"session-{chat.id}.csv", "text/csv; charset=utf-8")

    # ── corrections ──

    @post("/messages/{message_id:int}/correct", guards=[requires("agent")])
    async def correct(self, request: Request, message_id: int) -> Template:
        form = await request.form()
        field, value = str(form.get("field", "")), str(form.get("value", ""))
        async with get_db().transaction() as session:
            message, correction = await svc.correct_message(
                session, message_id, field, value, request.user.username
            )
            await audit(
                session,
                request.user.username,
                "message.correct",
                f"message:{message.id}",
                {"field": field, "old": correction.old_value, "new": correction.new_value},
                client_ip(request),
            )
        return view(request, "sessions/_row.html", "sessions", m=message, corrected={message.id}, saved=field)

    @get("/corrections")
    async def corrections(
        self,
        request: Request,
        field: str | None = None,
        by: str | None = None,
        since: str | None = None,
        until: str | None = None,
        page_no: int = 1,
    ) -> Template:
        items: list[Any] = []
        total, error = 0, None
        async with get_db().session() as session:
            try:
                f = correction_filter(field, by, since, until, max(page_no, 1))
                items, total = await svc.list_corrections(session, f)
            except HubError as exc:
                error = exc.message
            people = await svc.correctors(session)
            retraining = await models_context(session)
        return view(
            request,
            "sessions/corrections.html",
            "corrections",
            **retraining,
            items=items,
            total=total,
            page_no=max(page_no, 1),
            pages=max(1, -(-total // svc.PAGE_SIZE)),
            people=people,
            filters={"field": field or "", "by": by or "", "since": since or "", "until": until or ""},
            error=error,
        )

    @get(["/corrections/export.jsonl", "/corrections/export.csv"])
    async def corrections_export(
        self,
        request: Request,
        field: str | None = None,
        by: str | None = None,
        since: str | None = None,
        until: str | None = None,
        history: bool = False,
    ) -> Response[bytes]:
        """Labelled data: by default the current label per message and field; history=true: every row."""
        fmt = request.url.path.rsplit(".", 1)[1]
        f = correction_filter(field, by, since, until, latest_only=not history)
        async with get_db().session() as session:
            body = await svc.export_corrections(session, f, fmt)
        media = "application/x-ndjson; charset=utf-8" if fmt == "jsonl" else "text/csv; charset=utf-8"
        return download(body, f"corrections.{fmt}", media)

    # ── retraining the type model from the corrections ──

    @get("/corrections/models")
    async def trained_models(self, request: Request) -> Template:
        return await models_fragment(request)

    @post("/corrections/retrain", guards=[requires("admin")])
    async def retrain(self, request: Request) -> Template:
        try:
            async with get_db().transaction() as session:
                model = await retrain.start_retraining(session, request.user.username)
                await audit(
                    session,
                    request.user.username,
                    "model.retrain",
                    f"trained_model:{model.id}",
                    {},
                    client_ip(request),
                )
        except HubError as exc:
            return await models_fragment(request, error=exc.message)
        await enqueue("retrain_type_model", model_id=model.id)
        return await models_fragment(request, notice=f"已开始训练 #{model.id}，通常需要几十秒。")

    @post(
        ["/corrections/models/{model_id:int}/activate", "/corrections/models/shipped/activate"],
        guards=[requires("admin")],
    )
    async def activate_model(self, request: Request, model_id: int | None = None) -> Template:
        try:
            async with get_db().transaction() as session:
                await retrain.activate(session, model_id, request.user.username)
                await audit(
                    session,
                    request.user.username,
                    "model.activate",
                    f"trained_model:{model_id}" if model_id else "trained_model:shipped",
                    {},
                    client_ip(request),
                )
        except HubError as exc:
            return await models_fragment(request, error=exc.message)
        used = f"重新训练的模型 #{model_id}" if model_id else "内置模型"
        return await models_fragment(request, notice=f"消息类型识别已改用{used}，新消息即刻生效。")

    # ── groups ──

    @get("/groups")
    async def groups(self, request: Request, q: str = "", sort: str = "recent", page_no: int = 1) -> Template:
        items: list[dict[str, Any]] = []
        total, error = 0, None
        async with get_db().session() as session:
            try:
                items, total = await svc.list_groups(session, q, sort, max(page_no, 1))
            except HubError as exc:
                error = exc.message
        return view(
            request,
            "sessions/groups.html",
            "groups",
            items=items,
            total=total,
            page_no=max(page_no, 1),
            pages=max(1, -(-total // svc.PAGE_SIZE)),
            filters={"q": q, "sort": sort},
            error=error,
        )

    @get("/groups/{group_id:int}")
    async def group_detail(self, request: Request, group_id: int, page_no: int = 1) -> Template:
        f = svc.SessionFilter(group=str(group_id), role=None, page=max(page_no, 1))
        async with get_db().session() as session:
            group = await svc.get_group(session, group_id)
            sessions, total = await svc.list_sessions(session, f)
            today = (await svc.today_figures(session, [group_id])).get(group_id, {})
            activity = await svc.group_activity(session, group_id)
            messages = await svc.group_messages(session, group_id)
            corrected = await svc.corrected_ids(session, [m.id for m in messages])
        return view(
            request,
            "sessions/group_detail.html",
            "groups",
            group=group,
            sessions=sessions,
            total=total,
            page_no=f.page,
            pages=max(1, -(-total // f.page_size)),
            today=today,
            activity=activity,
            messages=messages,
            corrected=corrected,
        )

    @get("/groups/{group_id:int}/messages")
    async def group_live(self, request: Request, group_id: int, after: int = 0) -> Template:
        """Only the group's messages newer than `after`, newest first (the live refresh)."""
        async with get_db().session() as session:
            messages: list[Message] = await svc.group_messages(session, group_id, after, svc.LIVE_LIMIT)
            corrected = await svc.corrected_ids(session, [m.id for m in messages])
        return view(
            request, "sessions/_rows.html", "groups", messages=messages, corrected=corrected, show_group=False
        )


class CorrectionsApi(Controller):
    path = "/api/corrections"
    tags = ["消息更正"]

    @get("/", summary="查询消息更正（类型 / 情绪的人工标注）")
    async def list_corrections(
        self,
        field: str | None = None,
        by: str | None = None,
        since: str | None = None,
        until: str | None = None,
        latest_only: bool = False,
        page: int = 1,
        page_size: int = svc.PAGE_SIZE,
    ) -> Response[dict[str, Any]]:
        f = correction_filter(field, by, since, until, page, page_size, latest_only)
        async with get_db().session() as session:
            items, total = await svc.list_corrections(session, f)
        return ok(
            {
                "items": [svc.correction_dict(c) for c in items],
                "total": total,
                "page": f.page,
                "page_size": f.page_size,
            }
        )
