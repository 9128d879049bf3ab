"""`make bench`: the figures of issues 6 and 17, each beside its baseline in the same run, on SQLite and
(when it answers) PostgreSQL; a table on the terminal, JSON in bench/out/results.json.

Needs `wrk` (Debian: apt-get install wrk). BENCH_SECONDS sets each wrk run's length (default 10);
BENCH_FIGURES picks figures (e.g. "1,4"); BENCH_PROCESSES the bot processes figures 1, 1b, 2 and 7
start on PostgreSQL (default 2); BENCH_POSTGRES_URL (or TEST_DATABASE_URL) names the
PostgreSQL server, on which each figure gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import audit, end_to_end, ingest, storm
from bench.harness import ROOT, Database, postgres_database, postgres_server, sqlite_database

Figure = Callable[[Path, Database], list[dict[str, Any]]]


def selected() -> set[str]:
    return {f.strip() for f in os.environ.get("BENCH_FIGURES", "1,1b,2,3,4,5,6,7").split(",") if f.strip()}


def figures(baseline: dict[str, Any]) -> list[tuple[set[str], str, Figure]]:
    """Which figures each step measures, the database file it uses, and the step."""
    return [
        ({"1", "3"}, "ingest.db", lambda scratch, db: ingest.figures_ingest(scratch, db, baseline)),
        ({"1b"}, "grouped.db", lambda scratch, db: [ingest.figure_grouped_ingest(scratch, db, baseline)]),
        ({"2"}, "e2e.db", lambda scratch, db: [end_to_end.figure_end_to_end(scratch, db, baseline)]),
        ({"5"}, "burst.db", lambda scratch, db: [end_to_end.figure_burst(scratch, db)]),
        ({"5b"}, "mixed.db", lambda scratch, db: [end_to_end.figure_mixed_burst(scratch, db)]),
        ({"7"}, "storm.db", lambda scratch, db: [storm.figure_storm(scratch, db)]),
        ({"4", "6"}, "audit.db", lambda scratch, db: list(audit.figure_audit(scratch, db))),
    ]


@contextmanager
def database_for(kind: str, scratch: Path, name: str, server: str | None) -> Iterator[Database]:
    if kind == "sqlite":
        yield sqlite_database(scratch, name)
    else:
        assert server is not None
        with postgres_database(server) as database:
            yield database


def main() -> int:
    if shutil.which("wrk") is None:
        print("make bench needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    wanted = selected()
    server = postgres_server()
    kinds = ["sqlite"] + (["postgresql"] if server else [])
    if not server:
        print("PostgreSQL: not reachable (set BENCH_POSTGRES_URL); SQLite only", file=sys.stderr)
    results: list[dict[str, Any]] = []
    for kind in kinds:
        baseline = ingest.bare_baseline() if wanted & {"1", "1b", "2", "3"} else {}
        for covers, name, step in figures(baseline):
            if not covers & wanted:
                continue
            with (
                tempfile.TemporaryDirectory(prefix="autoresolve-bench-") as scratch,
                database_for(kind, Path(scratch), name, server) as database,
            ):
                print(f"measuring figure(s) {', '.join(sorted(covers))} on {kind}...", file=sys.stderr)
                results.extend(step(Path(scratch), database))
    results = [r for r in results if r["figure"].split()[0] in wanted]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    when = datetime.now(UTC).isoformat(timespec="seconds")
    document = {"when": when, "machine": machine, "figures": results}
    (out / "results.json").write_text(json.dumps(document, indent=2))
    print(f"machine: {machine}")
    for figure in sorted(results, key=lambda r: (r["figure"], r["database"])):
        verdict = "met" if figure["met"] else "MISSED"
        shown = ("figure", "met", "target", "database")
        details = ", ".join(f"{k}={v}" for k, v in figure.items() if k not in shown)
        print(f"{figure['figure']} [{figure['database']}]: {details}  [{figure['target']}: {verdict}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
