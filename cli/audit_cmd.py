"""`audit tail|query|verify`: read the audit trail, and check its hash chain."""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path

from cli.context import open_storage
from cli.errors import CliError
from engine.audit_checkpoints import latest_anchor
from engine.audit_trail import AuditFilter, search
from engine.errors import InvalidInput
from settings import Settings
from storage.audit import AuditEntry
from storage.audit_chain import Anchor, AuditChain
from storage.audit_key import AuditKeyError, load_audit_key


def line(row: AuditEntry) -> str:
    detail = row.error_message or row.details.get("reason") or row.details.get("step") or ""
    incident = f" {row.incident_id}" if row.incident_id else ""
    return f"{row.timestamp:%Y-%m-%d %H:%M:%S} {row.action:<28}{incident} by {row.actor}" + (
        f": {detail}" if detail else ""
    )


def as_json(row: AuditEntry) -> str:
    return json.dumps(
        {
            "audit_id": row.audit_id,
            "timestamp": row.timestamp.isoformat(),
            "action": row.action,
            "incident_id": row.incident_id,
            "actor": row.actor,
            "confidence_score": row.confidence_score,
            "details": row.details,
            "success": row.success,
            "error_message": row.error_message,
            "run_id": row.run_id,
        }
    )


def _time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"{name}: not a time like 2026-11-27T10:00:00Z") from None
    return moment


def tail(args: argparse.Namespace) -> int:
    rows = list(reversed(search(AuditFilter(limit=args.lines))))
    show = as_json if args.json else line
    for row in rows:
        print(show(row), flush=True)
    if not args.follow:
        return 0
    last_id = rows[-1].id if rows else 0
    try:
        while True:
            time.sleep(1)
            newer = [r for r in reversed(search(AuditFilter(limit=500))) if r.id > last_id]
            for row in newer:
                print(show(row), flush=True)
                last_id = row.id
    except KeyboardInterrupt:
        return 0


def query(args: argparse.Namespace) -> int:
    wanted = AuditFilter(
        incident_id=args.incident,
        action=args.action,
        actor=args.actor,
        start_date=_time(args.since, "--since"),
        end_date=_time(args.until, "--until"),
        limit=args.limit,
    )
    try:
        wanted.check({"start_date": "--since", "end_date": "--until"})
    except InvalidInput as exc:
        raise CliError(str(exc)) from None
    rows = search(wanted)
    show = as_json if args.json else line
    for row in rows:
        print(show(row))
    return 0


def chain_of(settings: Settings) -> AuditChain:
    value = settings.audit_key.get_secret_value() if settings.audit_key else None
    try:
        return AuditChain(load_audit_key(value, settings.audit_key_file, create=False))
    except AuditKeyError as exc:
        raise CliError(str(exc)) from None


def verify(settings: Settings, args: argparse.Namespace) -> int:
    """Read only: the chain is walked, never sealed here (the bot seals)."""
    if args.anchor:
        try:
            anchor: Anchor | None = Anchor.parse(args.anchor)
        except ValueError as exc:
            raise CliError(f"--anchor: {exc}") from None
        where = "given"
    else:
        anchor = latest_anchor(settings.audit_checkpoint_file)
        where = f"from {settings.audit_checkpoint_file}" if anchor else "none found"
    verdict = chain_of(settings).verify(anchor)
    against = f"checkpoint {anchor.seq} ({where})" if anchor else f"no checkpoint ({where})"
    if verdict.ok:
        sealed = f"{verdict.checked} rows chained, {verdict.unsealed} not sealed yet"
        print(f"audit trail intact: {sealed}; {against}")
        return 0
    print(f"audit trail BROKEN after {verdict.checked} good rows: {verdict.problem}; {against}")
    return 1


def rekey(settings: Settings, args: argparse.Namespace) -> int:
    """Re-seal the chain with the current key, after verifying it with the old one (key rotation)."""
    try:
        old = load_audit_key(None, Path(args.old_key_file), create=False)
    except AuditKeyError as exc:
        raise CliError(f"--old-key-file: {exc}") from None
    try:
        count = chain_of(settings).rekey(old)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(f"re-sealed {count} rows with the audit key {chain_of(settings).key_id}")
    return 0


def audit_command(settings: Settings, args: argparse.Namespace) -> int:
    open_storage(settings)
    if args.audit_command == "verify":
        return verify(settings, args)
    if args.audit_command == "rekey":
        return rekey(settings, args)
    return {"tail": tail, "query": query}[args.audit_command](args)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "audit",
        help="read the audit trail, or verify its hash chain",
        epilog="examples:\n  python bot.py audit tail -n 50 --follow\n"
        "  python bot.py audit query --incident INC-1\n"
        "  python bot.py audit query --action kill_switch_activated --since 2026-11-01T00:00:00Z --json\n"
        "  python bot.py audit verify\n"
        "  python bot.py audit verify --anchor 1234:<hash from the audit channel's checkpoint>",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="audit_command", required=True)
    tail_parser = actions.add_parser("tail", help="the newest entries, oldest first")
    tail_parser.add_argument("-n", "--lines", type=int, default=20)
    tail_parser.add_argument("-f", "--follow", action="store_true", help="keep printing new entries")
    tail_parser.add_argument("--json", action="store_true")
    query_parser = actions.add_parser("query", help="entries matching filters, newest first")
    query_parser.add_argument("--incident")
    query_parser.add_argument("--action")
    query_parser.add_argument("--actor")
    query_parser.add_argument("--since", help="ISO time with zone")
    query_parser.add_argument("--until", help="ISO time with zone")
    query_parser.add_argument("--limit", type=int, default=100)
    query_parser.add_argument("--json", action="store_true")
    verify_parser = actions.add_parser(
        "verify",
        help="check the keyed hash chain against the latest checkpoint (reads only); exit 1 at the "
        "first changed, removed or unsealed row",
    )
    verify_parser.add_argument(
        "--anchor",
        help="a checkpoint <seq>:<hash> copied from the audit channel (default: the checkpoint file's last)",
    )
    rekey_parser = actions.add_parser("rekey", help="re-seal the chain with the current key (key rotation)")
    rekey_parser.add_argument(
        "--old-key-file", required=True, help="the file holding the key the chain is sealed with"
    )
    parser.set_defaults(handler=audit_command)
