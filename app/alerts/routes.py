"""Route handlers of this capability, mounted by app.main."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from app.alerts.api import AlertsApi, AlertSettingsApi
from app.alerts.pages import AlertPages

ROUTES: list[ControllerRouterHandler] = [AlertsApi, AlertSettingsApi, AlertPages]
