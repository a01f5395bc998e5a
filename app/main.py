"""create_app(): plugins, routes, lifespan; nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from litestar import Litestar, Router
from litestar.channels import ChannelsPlugin
from litestar.config.compression import CompressionConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import HTTPException
from litestar.logging import LoggingConfig
from litestar.middleware import DefineMiddleware
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.htmx import HTMXPlugin, HTMXRequest
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from app.aftersales.routes import ROUTES as AFTER_SALES_ROUTES
from app.alerts.routes import ROUTES as ALERT_ROUTES
from app.auth.guards import HubAuthenticationMiddleware, require_login
from app.auth.pages import AuditPages, AuthPages
from app.auth.users_pages import UserPages
from app.chat.api import MessagesApi, PeopleApi
from app.chat.pages import ConsolePages
from app.chat.session_pages import CorrectionsApi, SessionPages
from app.commands.api import CommandsApi
from app.commands.pages import CommandPages
from app.config import ROOT, Settings, get_settings
from app.db import close_db, get_db
from app.demo.sandbox import PUBLIC_PATH as SANDBOX_PATH
from app.demo.sandbox import sandbox_routes
from app.errors import HubError
from app.flows.executor import FlowExecutor
from app.ingest.api import WebhookController
from app.ingest.live import announce_stored
from app.ingest.ratelimit import RateLimiter
from app.ingest.service import IngestWriter, RobotDirectory
from app.jobs import InProcessRunner, configure_jobs, enqueue, periodic_due, set_queue
from app.realtime.bus import EventBus, make_backend, set_bus
from app.realtime.sse import EventsController
from app.realtime.topics import ALL_TOPICS
from app.replies.routes import ROUTES as REPLY_ROUTES
from app.robots.api import RobotsApi
from app.robots.pages import RobotPages
from app.runtime import Runtime, load_plugins
from app.understanding.api import UnderstandingApi
from app.understanding.llm_gateway import llm_tier
from app.understanding.pages import UnderstandingPages
from app.understanding.retrain import close_interrupted
from app.web.errors import http_error_handler, hub_error_handler, internal_error_handler
from app.web.health import health, ready
from app.web.templating import jinja_env

log = logging.getLogger("app")

PUBLIC_PATHS = ["^/webhooks/", "^/static/", "^/health$", "^/ready$"]
SWEEP_INTERVAL_SECONDS = 60.0


async def _embedded_sweeper() -> None:
    elapsed = 0
    while True:
        await asyncio.sleep(1.0)
        elapsed += 1
        due = periodic_due(elapsed)
        if elapsed % int(SWEEP_INTERVAL_SECONDS) == 0:
            due += ["sweep_unprocessed", "sweep_commands"]
        for name in due:
            with contextlib.suppress(Exception):
                await enqueue(name)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    load_plugins()
    backend = make_backend(settings)
    channels = ChannelsPlugin(
        backend=backend,
        channels=list(ALL_TOPICS),
        subscriber_max_backlog=2000,
        subscriber_backlog_strategy="dropleft",
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        db = get_db()
        bus = EventBus(backend)
        bus.started = True  # the ChannelsPlugin starts and stops the backend
        set_bus(bus)
        runtime = Runtime(settings, db, bus, FlowExecutor(db, settings.max_processing_attempts))
        queue = configure_jobs(settings)
        if isinstance(queue, InProcessRunner):
            queue.ctx = {"runtime": runtime}
        else:
            await queue.connect()

        async def enqueue_stored(ids: list[int]) -> None:
            await enqueue("process_messages", message_ids=ids)

        llm_tier()  # a misconfigured LLM provider stops start-up with a clear message

        async def announce(rows: list[dict[str, Any]]) -> None:
            await announce_stored(bus, rows)

        writer = IngestWriter(db, enqueue_stored, announce)
        writer.start()
        if isinstance(queue, InProcessRunner):  # embedded: processing shares the one SQLite writer
            runtime.executor.yield_to = writer.waiting
        app.state.update(
            settings=settings,
            runtime=runtime,
            ingest=writer,
            robots=RobotDirectory(db),
            rate_limiter=RateLimiter(settings.webhook_rate_limit, settings.webhook_rate_burst),
        )
        sweeper = None
        if isinstance(queue, InProcessRunner):
            # Embedded: this process is also the worker, so it does the crash-recovery sweep.
            await enqueue("sweep_unprocessed", startup=True)
            await enqueue("sweep_commands", startup=True)
            async with db.transaction() as session:
                await close_interrupted(session, older_than=timedelta(0))
            sweeper = asyncio.create_task(_embedded_sweeper())
        log.info("hub started", extra={"embedded": settings.embedded})
        try:
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
            await writer.stop()
            if isinstance(queue, InProcessRunner):
                await queue.drain(wait_seconds=5)
            await queue.close()
            set_queue(None)
            set_bus(None)
            await close_db()

    # The demo WorkTool sandbox (HUB_DEMO_SANDBOX=1) is mounted, and public, only when enabled.
    sandbox = sandbox_routes(settings)
    public_paths = PUBLIC_PATHS + ([SANDBOX_PATH] if sandbox else [])
    session_config = CookieBackendConfig(
        secret=settings.session_key,
        key="hub_session",
        max_age=12 * 3600,
        httponly=True,
        samesite="lax",
        secure=bool(settings.public_base_url and settings.public_base_url.startswith("https://")),
        exclude=public_paths,
    )
    # Every route needs a logged-in user unless its opt says public (require_login). The webhooks
    # are public (robots authenticate with their token) and hot: they sit outside the guarded
    # router, since Litestar copies the route handler for every guard call (6 % of the web
    # process's CPU under webhook load).
    guarded = Router(
        path="/",
        guards=[require_login],
        route_handlers=[
            health,
            ready,
            EventsController,
            MessagesApi,
            UnderstandingApi,
            PeopleApi,
            RobotsApi,
            CommandsApi,
            AuthPages,
            AuditPages,
            UserPages,
            ConsolePages,
            RobotPages,
            CommandPages,
            SessionPages,
            CorrectionsApi,
            UnderstandingPages,
            *ALERT_ROUTES,
            *AFTER_SALES_ROUTES,
            *REPLY_ROUTES,
            *sandbox,
            create_static_files_router(
                path="/static",
                directories=[ROOT / "static"],
                opt={"public": True},
                cache_control=CacheControlHeader(max_age=3600),
            ),
        ],
    )
    return Litestar(
        route_handlers=[WebhookController, guarded],
        lifespan=[lifespan],
        plugins=[channels, HTMXPlugin()],
        request_class=HTMXRequest,
        middleware=[
            session_config.middleware,
            DefineMiddleware(HubAuthenticationMiddleware, exclude=public_paths),
        ],
        template_config=TemplateConfig(engine=JinjaTemplateEngine.from_environment(jinja_env())),
        exception_handlers={
            HubError: hub_error_handler,
            HTTPException: http_error_handler,
            Exception: internal_error_handler,
        },
        openapi_config=OpenAPIConfig(
            title="WorkTool AI Hub API",
            version="1.0.0",
            description="JSON API：统一信封 {code, message, data}；会话 Cookie 或 Bearer 令牌认证。",
            openapi_router=Router(path="/api/schema", guards=[require_login], route_handlers=[]),
            render_plugins=[
                JsonRenderPlugin(),
                SwaggerRenderPlugin(
                    js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
                    css_url="/static/vendor/swagger-ui/swagger-ui.css",
                    standalone_preset_js_url="/static/vendor/swagger-ui/swagger-ui-standalone-preset.js",
                    favicon="<link rel='icon' type='image/png' href='/static/img/favicon.png'>",
                ),
            ],
            security=[{"BearerToken": []}],
            components=Components(
                security_schemes={"BearerToken": SecurityScheme(type="http", scheme="bearer")}
            ),
        ),
        compression_config=CompressionConfig(
            backend="gzip", minimum_size=2048, exclude=["^/events", "^/webhooks/"]
        ),
        logging_config=LoggingConfig(
            root={"level": "INFO", "handlers": ["queue_listener"]},
            formatters={"standard": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
            log_exceptions="debug",
        ),
        debug=False,
    )


def app_factory() -> Litestar:
    """Entry point for uvicorn --factory."""
    return create_app()
