"""`check`: validate settings, runbooks.yml and the database; say what is wrong and how to fix it."""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass, field

import peewee

from cli.context import load_settings
from cli.errors import CliError
from cli.setting_names import misnamed_settings
from engine.errors import RunbookError
from engine.runbooks import RunbookCatalog, load_runbooks
from settings import Settings, is_loopback
from storage import config_store, migrations
from storage.database import DatabaseUrlError, bind, open_database, ping, redact_url


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    failures: int = 0

    def ok(self, text: str) -> None:
        self.lines.append(f"ok    {text}")

    def warn(self, text: str) -> None:
        self.lines.append(f"warn  {text}")

    def fail(self, text: str) -> None:
        self.failures += 1
        self.lines.append(f"FAIL  {text}")


def check_slack(settings: Settings, report: Report) -> None:
    if settings.slack_bot_token is None:
        report.ok("Slack: offline (no SLACK_BOT_TOKEN); messages are printed to the console")
        return
    if not settings.slack_bot_token.get_secret_value().startswith("xoxb-"):
        report.fail(
            "SLACK_BOT_TOKEN: a bot token starts with xoxb- (OAuth & Permissions in the app's settings)"
        )
    if settings.slack_app_token is not None and not settings.slack_app_token.get_secret_value().startswith(
        "xapp-"
    ):
        report.fail(
            "SLACK_APP_TOKEN: an app-level token starts with xapp- (Basic Information > App-Level Tokens)"
        )
    mode = "Socket Mode" if settings.slack_app_token else "HTTP mode (Slack must reach POST /slack/events)"
    report.ok(f"Slack: {mode}, API {settings.slack_api_url}")
    channel = settings.audit_channel
    if not channel:
        report.warn(
            "AUDIT_CHANNEL is not set: only DMs will be sent; set it to a channel ID like C0123456789"
        )
    elif channel[:1] not in ("C", "G") or channel.startswith("#"):
        report.warn(
            f"AUDIT_CHANNEL={channel}: use the channel's ID (C...), from its details pane, not its name"
        )
    if not settings.admin_users:
        report.warn(
            "ADMIN_USERS is empty: nobody can change config, approve, force or turn the kill switch off"
        )


def check_runbooks(settings: Settings, report: Report) -> RunbookCatalog | None:
    try:
        catalog = load_runbooks(settings.runbooks_file, settings.runbook_secrets())
    except RunbookError as exc:
        report.fail(f"runbooks: {exc}")
        return None
    report.ok(f"runbooks: {len(catalog.runbooks)} loaded from {settings.runbooks_file}")
    for runbook in catalog.runbooks:
        for step in runbook.steps:
            for action in (step, step.rollback):
                if action is not None and action.command and shutil.which(action.command[0]) is None:
                    report.warn(
                        f"runbook {runbook.id!r}, step {step.name!r}: program {action.command[0]!r} "
                        "is not on this machine's PATH"
                    )
    return catalog


def check_database(settings: Settings, catalog: RunbookCatalog | None, report: Report) -> None:
    try:
        bind(open_database(settings.database_url))
    except DatabaseUrlError as exc:
        report.fail(str(exc))
        return
    if not ping():
        report.fail(
            f"database {redact_url(settings.database_url)}: cannot connect "
            "(is it running? are the credentials right?)"
        )
        return
    try:
        version = migrations.current_version()
    except peewee.PeeweeException as exc:
        report.fail(f"database: {exc}")
        return
    if version < migrations.LATEST_VERSION:
        report.warn(
            f"database schema version {version}, latest {migrations.LATEST_VERSION}: "
            "`python bot.py db upgrade` (serve also upgrades at start-up)"
        )
        return
    report.ok(f"database: {redact_url(settings.database_url)}, schema version {version}")
    configured = {c.category: c for c in config_store.list_categories()}
    for runbook in catalog.runbooks if catalog else []:
        if runbook.category not in configured:
            report.warn(
                f"runbook {runbook.id!r}: category {runbook.category!r} is not configured, so no "
                f"incident reaches it (`python bot.py config set {runbook.category} enable --create`)"
            )


def check(settings: Settings | None, args: argparse.Namespace) -> int:
    report = Report()
    try:
        settings = settings or load_settings()
    except CliError as exc:
        print(f"FAIL  {exc}")
        return 1
    report.ok(f"settings: HTTP on {settings.host}:{settings.port}")
    for line in misnamed_settings():
        report.warn(line)
    if not is_loopback(settings.host):
        report.ok("HTTP: bound beyond loopback with API and webhook authentication set")
    elif not settings.api_credentials():
        report.warn(
            "API_TOKEN is not set: the REST API is open to anyone on this machine; requests through a "
            "reverse proxy (X-Forwarded-For, Forwarded) are refused, so set it before putting one in front"
        )
    check_slack(settings, report)
    catalog = check_runbooks(settings, report)
    check_database(settings, catalog, report)
    print("\n".join(report.lines))
    print("all good" if not report.failures else f"{report.failures} problem(s) to fix")
    return 1 if report.failures else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "check",
        help="validate settings, runbooks.yml and the database",
        description="Check the configuration without starting anything; exit 1 if something must be fixed.",
    )
    parser.set_defaults(handler=check, needs_settings=False)
