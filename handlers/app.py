"""The one FastAPI app: REST API, health, OpenAPI at /docs; the worker starts and stops with it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from handlers import api_audit, api_calibration, api_config, api_incidents, health, metrics
from handlers.errors import install_error_handlers
from handlers.health import VERSION
from handlers.limits import BodySizeLimit
from handlers.services import Services
from handlers.slack.listeners import endpoint as slack_endpoint
from handlers.webhooks import alertmanager, datadog, grafana, incidents, opsgenie, pagerduty


def create_app(services: Services, *, manage_worker: bool = True) -> FastAPI:
    """Build the HTTP app around the bot's services; with `manage_worker`, the app's lifespan
    starts and stops the worker and jobs (services.start, services.stop)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_worker:
            services.start()
        try:
            yield
        finally:
            if manage_worker:
                services.stop()
                print(
                    "Autoresolve stopped: no new runs claimed, runs in flight finished or marked.", flush=True
                )

    app = FastAPI(
        title="Autoresolve",
        description="Auto-resolves high-confidence incidents with operator-written runbooks, "
        "with a complete audit trail and a kill switch.",
        version=VERSION,
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    for module in (
        health,
        metrics,
        api_incidents,
        api_config,
        api_audit,
        api_calibration,
        incidents,
        alertmanager,
        grafana,
        pagerduty,
        opsgenie,
        datadog,
        slack_endpoint,
    ):
        # The routes themselves, not include_router(): FastAPI 0.165 keeps an included router as a
        # branch that is matched and then matched again inside, on every request (bench/RESULTS.md,
        # "Design choices and their measurements"). The routers' prefixes, tags and guards are
        # already on their routes (the OpenAPI document is the same; test_every_api_route_is_guarded).
        app.router.routes.extend(module.router.routes)
    app.add_middleware(BodySizeLimit, max_bytes=services.settings.max_body_bytes)
    return app
