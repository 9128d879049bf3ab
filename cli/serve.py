"""`serve`: the HTTP app, the worker and the Slack connection, until SIGTERM or Ctrl-C; SIGHUP
reloads the runbooks file (engine/runbook_library.py)."""

from __future__ import annotations

import argparse
import gc
import os
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

from settings import Settings


def freeze_startup_objects() -> None:
    """Leave what start-up built (modules, the app, the runbooks) out of the garbage collector's
    full scans, which otherwise walk it all every time, stopping every thread (bench/RESULTS.md,
    "Design choices and their measurements")."""
    gc.collect()
    gc.freeze()


def reload_on_sighup(reload: Callable[[str], object]) -> None:
    """SIGHUP reloads the runbooks, in a thread of its own (a handler must not wait on the database
    the interrupted thread may hold)."""

    def handler(signum: int, frame: object) -> None:
        threading.Thread(target=reload, args=("SIGHUP",), name="runbooks-reload", daemon=True).start()

    signal.signal(signal.SIGHUP, handler)


def serve(settings: Settings, args: argparse.Namespace) -> int:
    from cli import processes

    listen_fd = getattr(args, "listen_fd", None)
    if listen_fd is None and settings.processes > 1:
        return processes.supervise(settings)
    sock = None if listen_fd is None else processes.inherited_socket(listen_fd)
    if sock is not None:
        processes.end_with_parent()
    return serve_one(settings, sock)


def serve_one(settings: Settings, sock: socket.socket | None) -> int:
    """One bot process: on HOST:PORT, or on the supervisor's socket (then a replica among others)."""
    import uvicorn

    from handlers.app import create_app
    from runtime import build_runtime
    from storage.database import redact_url

    runtime = build_runtime(settings)
    app = create_app(runtime.services)
    freeze_startup_objects()
    reload_on_sighup(runtime.runbooks.reload)
    base = f"http://{settings.host}:{settings.port}"
    if sock is not None:
        print(f"Autoresolve process {os.getpid()} serving {base}.", flush=True)
        uvicorn.Server(uvicorn.Config(app, **uvicorn_options(settings))).run(sockets=[sock])
        return 0
    mode = "offline (no SLACK_BOT_TOKEN: Slack messages are printed here)" if settings.offline else "Slack"
    print(
        f"Autoresolve on {base} ({mode}); database {redact_url(settings.database_url)}; "
        f"{len(runtime.catalog.runbooks)} runbook(s) from {settings.runbooks_file}.\n"
        f"API docs: {base}/docs   health: {base}/health   metrics: {base}/metrics",
        flush=True,
    )
    if not settings.api_credentials():
        print(
            "API_TOKEN is not set: the REST API answers this machine only, and refuses requests "
            "that came through a proxy (X-Forwarded-For, Forwarded). Set it before putting a proxy in front.",
            flush=True,
        )
    if settings.offline:
        auth = ' -H "Authorization: Bearer $API_TOKEN"' if settings.api_credentials() else ""
        print(
            "Try it: send a sample incident, then read its audit trail:\n"
            f"  curl -s -X POST {base}/api/v1/incidents/INC-1/auto-resolve{auth} "
            '-H \'Content-Type: application/json\' -d \'{"incident_id": "INC-1", "title": '
            '"Connection pool exhausted", "category": "database", "priority": "high", '
            '"confidence_score": 0.95, "created_by": "U012ABCDEF", "service": "orders-db"}\'\n'
            f"  curl -s {base}/api/v1/audit/incident/INC-1{auth}\n"
            "What the bot would send to Slack is printed below, marked [slack offline]. "
            "Or run `make demo` for a tour.",
            flush=True,
        )
    uvicorn.run(app, **uvicorn_options(settings))
    return 0


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    from handlers.http_server import server_options

    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "log_config": None,  # our logging configuration (text or JSON) applies to uvicorn too
        **server_options(settings),
    }
