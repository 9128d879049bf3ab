"""What CLI sub-commands share: settings, an open database, and a notifier for what they change."""

from __future__ import annotations

import getpass
import logging
import sys

from pydantic import ValidationError

from cli.errors import CliError
from engine.configuration import ConfigurationService
from engine.events import Notifier
from settings import Settings
from storage import migrations
from storage.database import bind, open_database


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
    except UnicodeDecodeError as exc:  # the .env file
        byte = exc.object[exc.start]
        raise CliError(f"invalid settings: .env is not UTF-8 text (byte {byte:#x})") from None


def configure_logging(level: str, json_format: bool = False) -> None:
    from cli.logs import JsonFormatter, TextFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_format else TextFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    quieter = max(logging.WARNING, logging.getLevelName(level))
    for noisy in ("apscheduler", "httpx"):  # one line per job run or step request is too much
        logging.getLogger(noisy).setLevel(quieter)


def open_storage(settings: Settings, *, upgrade: bool = True) -> None:
    """Bind the database; with `upgrade`, apply pending migrations (as the bot does at start-up)."""
    bind(open_database(settings.database_url, pool_size=settings.database_pool_size))
    if upgrade:
        migrations.upgrade()
    elif migrations.current_version() < migrations.LATEST_VERSION:
        raise CliError("the database schema is behind: run `python bot.py db upgrade`")


def cli_actor(given: str | None) -> str:
    return given or f"cli:{getpass.getuser()}"


def notifier_for(settings: Settings) -> Notifier:
    """Changes made from the CLI are announced like any other: queued for the running bot to deliver."""
    from runtime import people_notifier  # the whole bot's wiring: only for commands that change things

    return people_notifier(settings)


def configuration_service(settings: Settings) -> ConfigurationService:
    from engine.autonomy import Mode, settings_for

    return ConfigurationService(notifier_for(settings), settings_for(Mode(settings.new_category_mode)))
