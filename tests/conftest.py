"""Shared fixtures: databases (SQLite file, and PostgreSQL when TEST_DATABASE_URL is set), a wired engine,
a real local HTTP server for `http` steps, and the bot's app served over real HTTP."""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from engine.incident import IncidentIn
from runtime import Runtime, build_runtime
from settings import Settings
from storage import migrations
from storage.database import bind, db, open_database
from storage.schema import ALL_MODELS
from tests.support.factories import incident_body
from tests.support.notifier import RecordingNotifier
from tests.support.servers import EchoServer, ServedApp, serve_app

SETTINGS_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "AUDIT_CHANNEL",
    "ADMIN_USERS",
    "DATABASE_URL",
    "RUNBOOKS_FILE",
    "HOST",
    "PORT",
    "API_TOKEN",
    "WEBHOOK_TOKEN",
    "WEBHOOK_SECRET",
    "RESULT_WEBHOOK_URL",
    "LOG_LEVEL",
    "AUTO_RESOLVE_WAIT_SECONDS",
)

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker gets a PostgreSQL database of its own (test_gw0, test_gw1, ...),
    created on first use, so that workers never empty each other's tables."""
    worker = getattr(config, "workerinput", {}).get("workerid")
    url = os.environ.get("TEST_DATABASE_URL")
    if worker and url:
        os.environ["TEST_DATABASE_URL"] = worker_database(url, worker)


def worker_database(url: str, worker: str) -> str:
    parsed = urlsplit(url)
    name = f"{parsed.path.lstrip('/') or 'test'}_{worker}"
    connection = psycopg2.connect(url)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
    return urlunsplit(parsed._replace(path=f"/{name}"))


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests see no settings from the machine (nor a .env file in the working directory)."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def _drop_everything() -> None:
    tables = [m._meta.table_name for m in ALL_MODELS]
    with db.connection_context():
        db.execute_sql(f"DROP TABLE IF EXISTS {', '.join(tables)} CASCADE")


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for each backend: a fresh SQLite file, or the (emptied) test PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("PostgreSQL run: set TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    bind(open_database(url))
    _drop_everything()
    db.obj.close_all()
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
def database(database_url: str) -> Iterator[str]:
    """The database bound and upgraded to the latest schema."""
    bind(open_database(database_url))
    migrations.upgrade()
    yield database_url
    _close_pool()


def _close_pool() -> None:
    if hasattr(db.obj, "close_all"):
        db.obj.close_all()


@pytest.fixture
def http_server() -> Iterator[EchoServer]:
    server = EchoServer()
    server.start()
    yield server
    server.stop()


def write_runbooks(directory: Path, text: str) -> Path:
    path = directory / "runbooks.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


EngineFactory = Callable[..., Runtime]


def wired_runtime(
    database_url: str, directory: Path, runbooks: str, *, recording_notifier: bool = True, **settings: object
) -> Runtime:
    """A wired (not started) bot on the test database, with runbooks from text."""
    options: dict[str, object] = {
        "database_url": database_url,
        "runbooks_file": write_runbooks(directory, runbooks),
        "audit_key_file": directory / "audit.key",
        "audit_checkpoint_file": directory / "audit-checkpoints.log",
        "worker_poll_seconds": 0.2,
        **settings,
    }
    return build_runtime(
        Settings(**options),  # type: ignore[arg-type]
        notifier=RecordingNotifier() if recording_notifier else None,
    )


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[EngineFactory]:
    """Build a running engine on the test database from runbooks text; stopped after the test."""
    started: list[Runtime] = []

    def make(runbooks: str, **settings: Any) -> Runtime:
        runtime = wired_runtime(database_url, tmp_path, runbooks, **settings)
        runtime.start()
        started.append(runtime)
        return runtime

    yield make
    for runtime in started:
        runtime.stop(grace_seconds=5)
    _close_pool()


@pytest.fixture
def served(sqlite_url: str, tmp_path: Path) -> Iterator[Callable[..., ServedApp]]:
    """Serve the whole bot over real HTTP on a random loopback port."""
    apps: list[ServedApp] = []

    def make(runbooks: str, **settings: Any) -> ServedApp:
        app = serve_app(wired_runtime(sqlite_url, tmp_path, runbooks, **settings))
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.stop()
    _close_pool()


def eventually(check: Callable[[], object], timeout: float = 15.0, interval: float = 0.05) -> object:
    """Poll until `check` returns something truthy; fail with its last value after `timeout`."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {value!r}")
        time.sleep(interval)
        value = check()
    return value


def make_incident(**overrides: Any) -> IncidentIn:
    """An incident factory: a valid high-confidence database incident unless told otherwise."""
    return IncidentIn.model_validate(incident_body(**{"labels": {"host": "127.0.0.1"}, **overrides}))
