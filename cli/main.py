"""The command line: parse, load settings, run one sub-command; errors are one line, never a trace."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import peewee

from cli import audit_cmd, calibration_cmd, check, config_cmd, demo, killswitch_cmd, runbooks_cmd
from cli.context import cli_actor, configure_logging, load_settings
from cli.db_cmd import db_upgrade
from cli.errors import CliError
from cli.serve import serve
from cli.setting_names import misnamed_settings
from engine.errors import EngineError, RunbookError
from engine.permissions import record_refusal_or_log
from storage.database import DatabaseUrlError

log = logging.getLogger("cli")

EXAMPLES = """examples:
  python bot.py                                    serve (the same as `serve`)
  python bot.py check                              is the configuration right?
  python bot.py killswitch on --reason 'deploy'    stop all automation, even with Slack down
  python bot.py config set database threshold 0.95
  python bot.py audit tail --follow
  python bot.py runbooks test db-pool-reset --incident incident.json
  python bot.py report calibration --since 30d    does each category's confidence hold up?
  python bot.py db upgrade                         apply schema migrations before a rollout
  python bot.py demo                               sample incidents, dry run, throw-away database

Settings come from the environment or .env (see .env.example and docs/settings.md)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bot.py",
        description="Autoresolve: auto-resolves high-confidence incidents with operator-written runbooks.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    serve_parser = sub.add_parser("serve", help="serve the HTTP API, Slack and the worker (the default)")
    serve_parser.set_defaults(handler=serve)
    # PROCESSES > 1: the supervisor starts each process on its socket (cli/processes.py)
    serve_parser.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)
    check.add_parser(sub)
    killswitch_cmd.add_parser(sub)
    config_cmd.add_parser(sub)
    audit_cmd.add_parser(sub)
    runbooks_cmd.add_parser(sub)
    calibration_cmd.add_parser(sub)
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply pending schema migrations").set_defaults(handler=db_upgrade)
    demo.add_parser(sub)
    parser.set_defaults(handler=serve)
    return parser


def audit_refusal(exc: EngineError, args: argparse.Namespace, argv: Sequence[str]) -> None:
    """What the engine refused from the command line is audited as from anywhere else (unless it was
    already), with the command as typed; a database that cannot take the row leaves the error said."""
    if not exc.audited:
        actor = cli_actor(getattr(args, "actor", None))
        record_refusal_or_log(actor=actor, error=str(exc), command=" ".join(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "needs_settings", True) is False:
            return int(args.handler(None, args))
        settings = load_settings()
        configure_logging(settings.log_level, json_format=settings.log_format == "json")
        for line in misnamed_settings():
            log.warning("%s", line)
        return int(args.handler(settings, args))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except RunbookError as exc:
        print(f"error: runbooks file refused: {exc}", file=sys.stderr)
    except DatabaseUrlError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        audit_refusal(exc, args, sys.argv[1:] if argv is None else argv)
    except peewee.OperationalError as exc:
        print(f"error: cannot use the database: {exc}", file=sys.stderr)
    return 2
