"""The one FastAPI app: REST API, health, OpenAPI at /docs; the worker starts and stops with it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from handlers import api_audit, api_config, api_incidents, health, metrics
from handlers.errors import install_error_handlers
from handlers.health import VERSION
from handlers.limits import BodySizeLimit
from handlers.slack import endpoint as slack_endpoint
from handlers.webhooks import alertmanager, incidents
from runtime import Runtime


def create_app(runtime: Runtime, *, manage_worker: bool = True) -> FastAPI:
    """Build the HTTP app around a wired runtime; with `manage_worker`, the app's lifespan runs it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_worker:
            runtime.start()
        try:
            yield
        finally:
            if manage_worker:
                runtime.stop()
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
    app.state.runtime = runtime
    app.state.bolt = runtime.slack.bolt if runtime.slack else None
    install_error_handlers(app)
    for module in (
        health,
        metrics,
        api_incidents,
        api_config,
        api_audit,
        incidents,
        alertmanager,
        slack_endpoint,
    ):
        app.include_router(module.router)
    app.add_middleware(BodySizeLimit, max_bytes=runtime.settings.max_body_bytes)
    return app
