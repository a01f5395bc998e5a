"""Domain exceptions; one handler (app.web.errors) maps them onto HTTP."""

from __future__ import annotations


class HubError(Exception):
    status_code = 500
    default_message = "服务器内部错误"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InvalidInput(HubError):
    status_code = 400
    default_message = "请求参数无效"


class Unauthorized(HubError):
    status_code = 401
    default_message = "未登录或凭证无效"


class Forbidden(HubError):
    status_code = 403
    default_message = "没有权限执行此操作"


class NotFound(HubError):
    status_code = 404
    default_message = "找不到对象"


class Conflict(HubError):
    status_code = 409
    default_message = "数据冲突"


class PayloadTooLarge(HubError):
    status_code = 413
    default_message = "请求体过大"


class RateLimited(HubError):
    status_code = 429
    default_message = "请求过于频繁"


class ServiceUnavailable(HubError):
    status_code = 503
    default_message = "服务暂不可用"
