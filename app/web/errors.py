"""The one error handler: domain exceptions and framework errors → envelope or error page."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.exceptions import ValidationException as LitestarValidation
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from app.errors import HubError
from app.web.envelope import error_body

log = logging.getLogger(__name__)

FRAMEWORK_MESSAGES = {
    400: "请求参数无效",
    401: "未登录或凭证无效",
    403: "没有权限执行此操作",
    404: "页面或接口不存在",
    405: "不支持的请求方法",
    413: "请求体过大（上限 64 KB）",
    429: "请求过于频繁",
}


def wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith(("/api", "/webhooks", "/events")) or "application/json" in request.headers.get(
        "accept", ""
    )


def _respond(request: Request, status: int, message: str, detail: str | None = None) -> Response:
    if wants_json(request):
        return Response(error_body(message, detail), status_code=status)
    if status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"/login?{urlencode({'next': target})}")
    if request.headers.get("hx-request"):
        return Response(
            f'<div class="alert alert-error">{_escape(message)}</div>',
            status_code=status,
            media_type="text/html",
        )
    from app.web.pages import page

    try:
        return page(request, "error.html", status_code=status, status=status, message=message)
    except Exception:  # the error page must render even when the request state is broken
        return Template("error.html", context={"status": status, "message": message}, status_code=status)


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def hub_error_handler(request: Request, exc: HubError) -> Response:
    return _respond(request, exc.status_code, exc.message)


def http_error_handler(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if isinstance(exc, LitestarValidation):
        extra = exc.extra if isinstance(exc.extra, list) else []
        detail = "; ".join(
            f"{e.get('key', '')}: {e.get('message', '')}" for e in extra if isinstance(e, dict)
        )
        return _respond(request, 400, f"请求参数无效：{detail}" if detail else "请求参数无效", detail)
    if isinstance(exc, NotAuthorizedException):
        status = 401
    elif isinstance(exc, PermissionDeniedException):
        status = 403
    message = FRAMEWORK_MESSAGES.get(status, exc.detail or "请求失败")
    return _respond(request, status, message, exc.detail)


def internal_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", extra={"path": request.url.path})
    return _respond(request, HTTP_500_INTERNAL_SERVER_ERROR, "服务器内部错误，请稍后重试")
