"""Route handlers of this capability, mounted by app.main."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from app.aftersales.api import AfterSalesApi
from app.aftersales.pages import AfterSalesPages, ReportPages, ReportsApi
from app.aftersales.screen import SCREEN_ROUTES

ROUTES: list[ControllerRouterHandler] = [
    AfterSalesApi,
    AfterSalesPages,
    ReportPages,
    ReportsApi,
    *SCREEN_ROUTES,
]
