"""Entry point and operator CLI: `python bot.py` serves; sub-commands for operators."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import peewee
from pydantic import ValidationError

from engine.errors import RunbookError
from settings import Settings
from storage.database import DatabaseUrlError

EXAMPLES = """examples:
  python bot.py                 serve on HOST:PORT (default 127.0.0.1:3000)
  python bot.py serve           the same
  python bot.py db upgrade      apply pending database migrations and exit
"""


class CliError(Exception):
    """A problem the operator can fix; printed as one line, exit status 2."""


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            ("".join(f"{str(p).upper()}: " for p in error["loc"][:1]))
            + error["msg"].removeprefix("Value error, ")
            for error in exc.errors()
        )
        raise CliError(f"invalid settings: {problems}") from None


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    quieter = max(logging.WARNING, logging.getLevelName(level))
    for noisy in ("apscheduler", "httpx"):  # one line per job run or step request is too much
        logging.getLogger(noisy).setLevel(quieter)


def serve(settings: Settings) -> None:
    import uvicorn

    from handlers.app import create_app
    from runtime import build_runtime

    runtime = build_runtime(settings)
    app = create_app(runtime)
    base = f"http://{settings.host}:{settings.port}"
    mode = "offline (no SLACK_BOT_TOKEN: Slack messages are printed here)" if settings.offline else "Slack"
    print(
        f"Autoresolve on {base} ({mode}); database {settings.database_url}; "
        f"{len(runtime.catalog.runbooks)} runbook(s) from {settings.runbooks_file}.\n"
        f"API docs: {base}/docs   health: {base}/health",
        flush=True,
    )
    if settings.api_token is None:
        print("API_TOKEN is not set: the REST API is open to this machine only.", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower())


def db_upgrade(settings: Settings) -> None:
    from storage import migrations
    from storage.database import bind, open_database

    bind(open_database(settings.database_url))
    applied = migrations.upgrade()
    version = migrations.current_version()
    print(
        f"applied {applied}; schema version {version}"
        if applied
        else f"up to date (schema version {version})"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bot.py",
        description="Autoresolve: auto-resolves high-confidence incidents with operator-written runbooks.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve the HTTP API and run incidents (the default)")
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply pending schema migrations")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.log_level)
        if args.command in (None, "serve"):
            serve(settings)
        elif args.command == "db":
            db_upgrade(settings)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RunbookError as exc:
        print(f"error: runbooks file refused: {exc}", file=sys.stderr)
        return 2
    except DatabaseUrlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except peewee.OperationalError as exc:
        print(f"error: cannot use the database: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
