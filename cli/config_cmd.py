"""`config show|set`: per-category settings and the global limits, changed with an audit row."""

from __future__ import annotations

import argparse
import json

from cli.context import cli_actor, configuration_service, open_storage
from cli.errors import CliError
from engine.config_changes import SETTING_GRAMMAR, SettingError, parse_setting_change
from engine.configuration import category_as_dict
from engine.formatting import percent
from settings import Settings
from storage.config_store import CategorySetting


def parse_change(words: list[str]) -> dict[str, object]:
    """The same grammar as `/autoresolve config <category> ...` in Slack."""
    try:
        return parse_setting_change(words)
    except SettingError as exc:
        raise CliError(f"{exc}; expected: {SETTING_GRAMMAR}") from None


def category_json(row: CategorySetting) -> dict[str, object]:
    """A category's settings as `config show --json` writes them (two named shorter than stored)."""
    values = category_as_dict(row)
    del values["category"]
    return {
        "enabled": values.pop("auto_resolution_enabled"),
        "threshold": values.pop("confidence_threshold"),
        **values,
    }


def show(settings: Settings, args: argparse.Namespace) -> int:
    glob = configuration_service(settings).snapshot()
    rows = glob.categories
    if args.json:
        document = {
            "max_concurrent_resolutions": glob.max_concurrent_resolutions,
            "default_confidence_threshold": glob.default_confidence_threshold,
            "categories": {r.category: category_json(r) for r in rows},
        }
        print(json.dumps(document, indent=2))
        return 0
    print(
        f"max concurrent runs: {glob.max_concurrent_resolutions}; "
        f"default threshold {percent(glob.default_confidence_threshold)}"
    )
    print(
        f"{'category':<16} {'enabled':<8} {'threshold':<10} {'retries':<8} {'dry run':<8} {'approval':<9} DMs"
    )
    for r in rows:
        approval = percent(r.approval_floor) if r.approval_floor is not None else "-"
        enabled = "yes" if r.auto_resolution_enabled else "NO"
        print(
            f"{r.category:<16} {enabled:<8} {percent(r.confidence_threshold):<10} "
            f"{r.max_retry_attempts:<8} {'yes' if r.dry_run else 'no':<8} {approval:<9} "
            f"{'yes' if r.notification_required else 'no'}"
            + (f"  PAUSED: {r.paused_reason}" if r.paused_reason else "")
        )
    return 0


def set_value(settings: Settings, args: argparse.Namespace) -> int:
    configuration = configuration_service(settings)
    actor = cli_actor(args.actor)
    if args.target == "global":
        if len(args.setting) != 2 or args.setting[0] not in ("max-concurrent", "default-threshold"):
            raise CliError("expected: config set global max-concurrent <1-100> | default-threshold <0.5-1>")
        name, raw = args.setting
        try:
            value: float = int(raw) if name == "max-concurrent" else float(raw)
        except ValueError:
            raise CliError(f"{name} must be a number, not {raw!r}") from None
        field = "max_concurrent_resolutions" if name == "max-concurrent" else "default_confidence_threshold"
        configuration.update_global(actor=actor, changes={field: value})
        print(f"{field} = {value}")
        return 0
    changes = parse_change(args.setting)
    row = configuration.update_category(
        category=args.target, actor=actor, changes=changes, create=args.create
    )
    print(
        f"{row.category}: {'enabled' if row.auto_resolution_enabled else 'disabled'}, "
        f"threshold {percent(row.confidence_threshold)}, {row.max_retry_attempts} retries, "
        f"dry run {'on' if row.dry_run else 'off'}, approval "
        f"{percent(row.approval_floor) if row.approval_floor is not None else 'off'}, "
        f"failure budget {row.failure_budget or 'off'}"
        + (f", PAUSED: {row.paused_reason}" if row.paused_reason else "")
    )
    return 0


def config(settings: Settings, args: argparse.Namespace) -> int:
    open_storage(settings)
    return show(settings, args) if args.action == "show" else set_value(settings, args)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "config",
        help="show or change per-category settings",
        epilog="examples:\n  python bot.py config show\n  python bot.py config set database threshold 0.95\n"
        "  python bot.py config set network dry-run on\n  python bot.py config set payments enable --create\n"
        "  python bot.py config set global max-concurrent 5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True)
    show_parser = actions.add_parser("show", help="every category's settings")
    show_parser.add_argument("--json", action="store_true", help="as JSON")
    set_parser = actions.add_parser("set", help="change one setting of a category, or a global one")
    set_parser.add_argument("target", help="a category name, or 'global'")
    set_parser.add_argument("setting", nargs="+", help=SETTING_GRAMMAR)
    set_parser.add_argument("--create", action="store_true", help="add the category if it does not exist")
    set_parser.add_argument("--actor", help="who is doing it (default: cli:<your user name>)")
    parser.set_defaults(handler=config)
