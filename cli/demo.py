"""`demo`: a handful of sample incidents through the real engine, against a throw-away database,
every category in dry-run mode (nothing is executed), showing decisions and what Slack would get."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from engine.console import ConsoleNotifier
from engine.incident import IncidentIn
from settings import Settings
from storage import config_store, runs
from storage.database import db_connection

SAMPLES: list[tuple[str, str, str, float, dict[str, Any]]] = [
    ("DEMO-1", "Connection pool exhausted on orders-db", "database", 0.97, {"service": "orders-db"}),
    ("DEMO-2", "Checkout service not responding", "application", 0.92, {"service": "checkout"}),
    ("DEMO-3", "Disk almost full on web1", "infrastructure", 0.90, {}),
    ("DEMO-4", "DNS lookups failing in eu-west", "network", 0.85, {}),
    ("DEMO-5", "Suspicious login burst", "security", 0.99, {}),
    ("DEMO-6", "Account locked out", "user_access", 0.95, {"labels": {"kind": "lockout", "user": "ada"}}),
]


def demo(settings: Settings, args: argparse.Namespace) -> int:
    from runtime import build_runtime  # the whole bot's wiring: loaded only when the demo runs

    with tempfile.TemporaryDirectory(prefix="autoresolve-demo-") as scratch:
        demo_settings = settings.model_copy(
            update={
                "database_url": f"sqlite:///{Path(scratch) / 'demo.db'}",
                "slack_bot_token": None,
                "audit_key": None,
                "audit_key_file": Path(scratch) / "audit.key",
                "audit_checkpoint_file": Path(scratch) / "audit-checkpoints.log",
            }
        )
        runtime = build_runtime(demo_settings, notifier=ConsoleNotifier("#audit (demo)"))
        with db_connection():
            for row in config_store.list_categories():
                runtime.configuration.update_category(
                    category=row.category, actor="demo", changes={"dry_run": True}
                )
        print(
            f"Demo: {len(SAMPLES)} sample incidents, runbooks from {settings.runbooks_file}, "
            "every category in dry-run mode (nothing is executed).\n",
            flush=True,
        )
        runtime.start()
        try:
            results = []
            for incident_id, title, category, confidence, extra in SAMPLES:
                incident = IncidentIn.model_validate(
                    {
                        "incident_id": incident_id,
                        "title": title,
                        "category": category,
                        "priority": "high",
                        "confidence_score": confidence,
                        "created_by": "U012ABCDEF",
                        **extra,
                    }
                )
                submission = runtime.resolution.submit(incident, actor="demo")
                run = runtime.resolution.wait_for_run(submission.run_id, 30) if submission.run_id else None
                results.append((incident_id, category, confidence, submission, run))
        finally:
            runtime.stop()
        print("\nSummary:")
        for incident_id, category, confidence, submission, run in results:
            outcome = run.status if run else submission.decision.outcome.value
            detail = (run.message if run else submission.decision.reason) or ""
            print(f"  {incident_id} {category:<15} {confidence:.2f}  {outcome:<9} {detail}")
        with db_connection():
            counted = runs.count_by_status()
        print(
            f"\n{sum(counted.values())} run(s) recorded; nothing was executed. "
            "Send your own with `make run` and the README's curl example."
        )
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help="send sample incidents through the engine (dry run, throw-away database)",
    )
    parser.set_defaults(handler=demo)
