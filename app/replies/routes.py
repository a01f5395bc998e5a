"""Route handlers of this capability, mounted by app.main."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from app.replies.api import ReplySettingsApi, ReplyTemplatesApi
from app.replies.pages import ReplySettingsPages, ReplyTemplatePages

ROUTES: list[ControllerRouterHandler] = [
    ReplySettingsApi,
    ReplyTemplatesApi,
    ReplySettingsPages,
    ReplyTemplatePages,
]
