"""After-sales big screen (售后实时监控大屏, PRODUCT §6.5): kiosk link with a revocable viewer token.

The three routes below are public to the login guard (opt public) and check the viewer token
themselves: the page, its JSON snapshot and its SSE stream. Nothing else accepts the token.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request, Response, get
from litestar.channels import ChannelsPlugin
from litestar.response import ServerSentEvent, ServerSentEventMessage, Template
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.aftersales.config import load_settings
from app.aftersales.models import (
    COOPERATION_LEVELS,
    OPEN_STATUSES,
    RESPONSE_STATUSES,
    STAFF_STATUSES,
    STATUSES,
    AfterSalesConflict,
    AfterSalesTask,
    ScreenToken,
)
from app.aftersales.report import day_bounds, efficiency_score, median
from app.aftersales.service import iso
from app.aftersales.staff import staff_rows, sync_staff
from app.auth.service import CurrentUser
from app.db import get_db
from app.errors import InvalidInput, NotFound, Unauthorized
from app.realtime.sse import event_stream, resume_point
from app.realtime.topics import AFTER_SALES

TASK_ROWS = 30
REMINDER_ROWS = 20
LAST_USED_EVERY_SECONDS = 60.0
RECHECK_SECONDS = 60.0  # an open stream re-checks its token this often


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_dict(t: ScreenToken) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "created_at": iso(t.created_at),
        "created_by": t.created_by,
        "revoked_at": iso(t.revoked_at),
        "last_used_at": iso(t.last_used_at),
        "active": t.revoked_at is None,
    }


async def create_screen_token(session: AsyncSession, name: str, by: str) -> tuple[ScreenToken, str]:
    name = (name or "").strip() or "售后大屏"
    if len(name) > 100:
        raise InvalidInput("名称不超过 100 个字符")
    token = "scr_" + secrets.token_urlsafe(24)
    row = ScreenToken(name=name, token_hash=_hash(token), created_at=clock.now(), created_by=by[:60])
    session.add(row)
    await session.flush()
    return row, token


async def list_screen_tokens(session: AsyncSession) -> list[ScreenToken]:
    return list((await session.execute(select(ScreenToken).order_by(ScreenToken.id.desc()))).scalars())


async def revoke_screen_token(session: AsyncSession, token_id: int) -> ScreenToken:
    row = await session.get(ScreenToken, token_id)
    if row is None:
        raise NotFound(f"大屏链接 {token_id} 不存在")
    if row.revoked_at is None:
        row.revoked_at = clock.now()
    return row


async def check_screen_token(token: str | None, request: Any = None) -> ScreenToken | None:
    """The viewer token of a kiosk link; revoked or unknown → 401 (checked on every request).
    A signed-in console user may open the screen without one (preview)."""
    if not token and request is not None and isinstance(request.scope.get("user"), CurrentUser):
        return None
    if not token or len(token) > 200:
        raise Unauthorized("大屏链接缺少查看令牌")
    async with get_db().transaction() as session:
        row = (
            await session.execute(select(ScreenToken).where(ScreenToken.token_hash == _hash(token)))
        ).scalar()
        if row is None or row.revoked_at is not None:
            raise Unauthorized("大屏链接无效或已被吊销")
        now = clock.now()
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > LAST_USED_EVERY_SECONDS:
            row.last_used_at = now
        return row


async def snapshot(session: AsyncSession) -> dict[str, Any]:
    """Everything the big screen shows, in one JSON object."""
    now = clock.now()
    settings = await load_settings(session)
    start, end = day_bounds(clock.local_now().date())
    counts = dict(
        (
            await session.execute(select(AfterSalesTask.status, func.count()).group_by(AfterSalesTask.status))
        ).all()
    )
    today = list(
        (
            await session.execute(
                select(AfterSalesTask).where(
                    AfterSalesTask.updated_at >= start, AfterSalesTask.updated_at < end
                )
            )
        ).scalars()
    )
    done_today = [t for t in today if t.status == "completed" and t.completed_at and t.completed_at >= start]
    known = [t for t in today if t.user_cooperation_level in ("high", "medium", "low")]
    satisfaction = (
        round(100 * sum(1 for t in known if t.user_cooperation_level != "low") / len(known))
        if known
        else None
    )
    open_tasks = list(
        (
            await session.execute(
                select(AfterSalesTask)
                .where(AfterSalesTask.status.in_((*OPEN_STATUSES, "timeout")))
                .order_by(AfterSalesTask.updated_at.desc())
                .limit(TASK_ROWS)
            )
        ).scalars()
    )
    await sync_staff(session, now)
    staff = []
    for s, status, load in await staff_rows(session, settings, now, active_only=True):
        mine = [t for t in today if t.assigned_staff_id == s.id]
        done = [t for t in mine if t.status == "completed" and t.completed_at]
        handling = median([(t.completed_at - t.created_at).total_seconds() for t in done if t.completed_at])
        staff.append(
            {
                "name": s.name,
                "status": status,
                "status_name": STAFF_STATUSES.get(status, status),
                "open_tasks": load,
                "done_today": len(done),
                # Not scored before the agent finished anything today (a 0 on the wall misleads).
                "efficiency_score": efficiency_score(len(mine), len(done), handling) if done else None,
            }
        )
    conflicts = list(
        (
            await session.execute(
                select(AfterSalesConflict).where(AfterSalesConflict.status == "open").limit(10)
            )
        ).scalars()
    )
    reminders = _reminders(today, settings.max_reminders, iso(start) or "")
    return {
        "generated_at": iso(now),
        "kpi": {
            "pending": sum(int(counts.get(s, 0)) for s in ("pending", "waiting_user_response")),
            "in_progress": int(counts.get("in_progress", 0)),
            "done_today": len(done_today),
            "timeout": int(counts.get("timeout", 0)),
            "satisfaction": satisfaction,
        },
        "tasks": [
            {
                "id": t.id,
                "group": t.group_name,
                "user": t.target_user,
                "task_type": t.task_type,
                "status": t.status,
                "status_name": STATUSES.get(t.status, t.status),
                "staff": t.assigned_staff_name or "未分配",
                "response": t.user_response_status,
                "response_name": RESPONSE_STATUSES.get(t.user_response_status, t.user_response_status),
                "cooperation": COOPERATION_LEVELS.get(t.user_cooperation_level, t.user_cooperation_level),
                "near_timeout": t.reminders_sent >= settings.max_reminders
                and t.status == "waiting_user_response",
                "updated_at": iso(t.updated_at),
            }
            for t in open_tasks
        ],
        "staff": staff,
        "conflicts": [{"id": c.id, "group": c.group_name, "reason": c.reason} for c in conflicts],
        "reminders": reminders,
    }


def _reminders(tasks: list[AfterSalesTask], max_reminders: int, since: str) -> list[dict[str, Any]]:
    """Today's notable moments, newest first: 群1 张三说"在", 李四未响应, near time-out."""
    items: list[dict[str, Any]] = []
    for t in tasks:
        for entry in t.history or []:
            kind = entry.get("event")
            text = None
            if str(entry.get("at") or "") < since:
                continue
            if kind == "created":
                text = f"新任务：{t.group_name} · {t.target_user}（{t.task_type}）"
            elif kind == "user_responded":
                text = f"{t.group_name} {t.target_user}说“{str(entry.get('note') or '')[:20]}”"
            elif kind == "user_refused":
                text = f"{t.group_name} {t.target_user}拒绝配合"
            elif kind == "reminder":
                text = f"{t.group_name} {t.target_user}未响应"
                if str(entry.get("note", "")).startswith(f"第 {max_reminders} 次"):
                    text += "，任务即将超时"
            elif kind == "status" and entry.get("to") == "timeout":
                text = f"{t.group_name} {t.target_user}超时未响应"
            elif kind == "status" and entry.get("to") == "completed":
                text = f"{t.group_name} {t.target_user} 任务已完成"
            if text:
                items.append({"at": entry.get("at"), "text": text, "kind": kind})
    items.sort(key=lambda i: str(i["at"]), reverse=True)
    return items[:REMINDER_ROWS]


@get("/after-sales/screen", opt={"public": True}, include_in_schema=False)
async def screen_page(request: Request[Any, Any, Any], token: str | None = None) -> Template:
    await check_screen_token(token, request)
    return Template("aftersales/screen.html", context={"token": token, "request": request})


@get("/after-sales/screen/data", opt={"public": True}, include_in_schema=False)
async def screen_data(request: Request[Any, Any, Any], token: str | None = None) -> Response[dict[str, Any]]:
    await check_screen_token(token, request)
    async with get_db().transaction() as session:
        data = await snapshot(session)
    return Response({"code": 0, "message": "ok", "data": data}, headers={"Cache-Control": "no-store"})


@get("/after-sales/screen/events", opt={"public": True}, include_in_schema=False)
async def screen_events(
    request: Request[Any, Any, Any],
    channels: ChannelsPlugin,
    token: str | None = None,
    since: int | None = None,
) -> ServerSentEvent:
    await check_screen_token(token, request)
    return ServerSentEvent(
        _while_valid(event_stream(channels, [AFTER_SALES], resume_point(request, since)), token, request),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _while_valid(
    stream: AsyncGenerator[ServerSentEventMessage, None], token: str | None, request: Any
) -> AsyncGenerator[ServerSentEventMessage, None]:
    """End the stream once the token is revoked (checked at most every minute, heartbeats included);
    the screen's reconnect is then refused and it shows that the link is no longer valid."""
    checked = time.monotonic()
    try:
        async for message in stream:
            if time.monotonic() - checked > RECHECK_SECONDS:
                checked = time.monotonic()
                try:
                    await check_screen_token(token, request)
                except Unauthorized:
                    return
            yield message
    finally:
        await stream.aclose()


SCREEN_ROUTES = [screen_page, screen_data, screen_events]
