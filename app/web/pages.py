"""Render a console page with the context every page needs (user, CSRF token, live cursor)."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Template

from app.auth.guards import ensure_csrf_token
from app.realtime.bus import next_seq

NAV = [
    ("dashboard", "/", "总览"),
    ("messages", "/messages", "消息监控"),
    ("sessions", "/sessions", "用户会话"),
    ("groups", "/groups", "群会话"),
    ("corrections", "/corrections", "标注更正"),
    ("robots", "/robots", "机器人"),
    ("commands", "/commands", "指令队列"),
    ("alerts", "/alerts", "告警管理"),
    ("after_sales", "/after-sales", "售后任务"),
    ("after_sales_settings", "/after-sales/settings", "售后大屏"),
    ("after_sales_report", "/reports/daily-after-sales", "日报"),
    ("people", "/people", "人员登记"),
    ("settings", "/settings/understanding", "识别规则"),
    ("reply_settings", "/settings/replies", "回复设置"),
    ("audit", "/audit", "操作日志"),
    ("users", "/users", "用户与令牌"),
]
# Pages that later capabilities add; shown so staff know where they will live.
NAV_SOON: list[str] = []


def page(
    request: Request[Any, Any, Any], template: str, active: str = "", status_code: int = 200, **context: Any
) -> Template:
    context.update(
        request=request,
        current_user=request.scope.get("user"),
        csrf_token=ensure_csrf_token(request),
        nav=NAV,
        nav_soon=NAV_SOON,
        active=active,
        live_since=next_seq(),
    )
    return Template(template, context=context, status_code=status_code)
