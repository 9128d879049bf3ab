"""`audit tail|query|verify`: read the audit trail, and check its hash chain."""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime

from cli.context import open_storage
from cli.errors import CliError
from settings import Settings
from storage import audit, audit_chain
from storage.models import AuditEntry


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
    if moment.tzinfo is None:
        raise CliError(f"{name}: needs a time zone, e.g. 2026-11-27T10:00:00Z")
    return moment


def tail(args: argparse.Namespace) -> int:
    rows = list(reversed(audit.query(limit=args.lines)))
    show = as_json if args.json else line
    for row in rows:
        print(show(row), flush=True)
    if not args.follow:
        return 0
    last_id = rows[-1].id if rows else 0
    try:
        while True:
            time.sleep(1)
            newer = [r for r in reversed(audit.query(limit=500)) if r.id > last_id]
            for row in newer:
                print(show(row), flush=True)
                last_id = row.id
    except KeyboardInterrupt:
        return 0


def query(args: argparse.Namespace) -> int:
    rows = audit.query(
        incident_id=args.incident,
        action=args.action,
        actor=args.actor,
        start_date=_time(args.since, "--since"),
        end_date=_time(args.until, "--until"),
        limit=args.limit,
    )
    show = as_json if args.json else line
    for row in rows:
        print(show(row))
    return 0


def verify(args: argparse.Namespace) -> int:
    audit_chain.seal_all()  # rows written since the bot last sealed
    verdict = audit_chain.verify()
    if verdict.ok:
        print(f"audit trail intact: {verdict.checked} rows chained")
        return 0
    print(f"audit trail BROKEN after {verdict.checked} good rows: {verdict.problem}")
    return 1


def audit_command(settings: Settings, args: argparse.Namespace) -> int:
    open_storage(settings)
    return {"tail": tail, "query": query, "verify": verify}[args.audit_command](args)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "audit",
        help="read the audit trail, or verify its hash chain",
        epilog="examples:\n  python bot.py audit tail -n 50 --follow\n"
        "  python bot.py audit query --incident INC-1\n"
        "  python bot.py audit query --action kill_switch_activated --since 2026-11-01T00:00:00Z --json\n"
        "  python bot.py audit verify",
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
    actions.add_parser("verify", help="check the hash chain; exit 1 at the first changed or removed row")
    parser.set_defaults(handler=audit_command)
