"""`killswitch on|off|status`: works on the database directly, so it works when Slack is down.

Running bots read the kill switch before every step and while each runs, so `on` stops them at once.
"""

from __future__ import annotations

import argparse

from cli.context import cli_actor, configuration_service, open_storage
from cli.errors import CliError
from engine.configuration import KillSwitchState, kill_switch_state
from engine.durations import duration_and_reason
from engine.errors import InvalidInput
from settings import Settings


def describe(state: KillSwitchState) -> str:
    if not state.active:
        return "kill switch: OFF (automation runs)"
    parts = ["kill switch: ON"]
    if state.actor:
        parts.append(f"by {state.actor}")
    if state.since:
        parts.append(f"since {state.since:%Y-%m-%d %H:%M:%S} UTC")
    if state.until:
        parts.append(f"until {state.until:%Y-%m-%d %H:%M:%S} UTC")
    text = " ".join(parts)
    return f"{text}: {state.reason}" if state.reason else text


def killswitch(settings: Settings, args: argparse.Namespace) -> int:
    open_storage(settings)
    if args.action == "status":
        print(describe(kill_switch_state()))
        return 0
    configuration = configuration_service(settings)
    actor = cli_actor(args.actor)
    said_duration, said_reason = duration_and_reason(args.words)  # the Slack form: on 30m why...
    if args.words and args.action != "on":
        said_reason = " ".join(args.words)
    args.duration = args.duration if args.duration is not None else said_duration
    args.reason = args.reason if args.reason is not None else said_reason
    if args.action == "on":
        if args.duration is not None and not args.duration.strip():
            raise CliError("--duration: empty (leave it out for no end)")
        try:
            change = configuration.activate_kill_switch(
                actor=actor,
                reason=args.reason or "Pulled from the command line",
                duration=args.duration,
                may_shorten=True,  # the host's operator, as an admin
            )
        except InvalidInput as exc:
            raise CliError(f"--{exc.field}: {exc.message}") from None
        state = change.state
        for note in change.notes:
            print(f"note: {note}")
    else:
        state = configuration.deactivate_kill_switch(actor=actor, reason=args.reason)
    print(describe(state))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "killswitch",
        help="stop or restart all automation (works without Slack)",
        description="Stop all automation now (runs in flight stop at once), or let it run again.",
        epilog="examples:\n  python bot.py killswitch on --reason 'db migration' --duration 2h\n"
        "  python bot.py killswitch on 2h db migration   (the same, as Slack's /killswitch reads it)\n"
        "  python bot.py killswitch status\n  python bot.py killswitch off --reason 'migration done'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["on", "off", "status"])
    parser.add_argument(
        "words", nargs="*", help="as in Slack: on [30m] [why...] | off [why...] (or use the options)"
    )
    parser.add_argument("--reason", help="why (recorded in the audit trail and announced)")
    parser.add_argument(
        "--duration", help="with on: turn itself off after this long, e.g. 30m, 2h, 1d (at most 30 days)"
    )
    parser.add_argument("--actor", help="who is doing it (default: cli:<your user name>)")
    parser.set_defaults(handler=killswitch)
