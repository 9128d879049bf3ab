"""The audit trail's hash chain: rows are sealed in commit order, each hash covering the one before.

Sealing happens off the write path (a periodic job, one replica at a time): a row gets the next
`seq` and chain_hash = SHA-256(previous hash + the row's content). Changing a sealed row breaks its
own hash; removing one leaves a gap in `seq` and breaks the next row's hash. `verify` walks the
chain and reports the first row that does not fit.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

from storage import statements
from storage.database import db, key_lock, write_transaction
from storage.models import AuditEntry

GENESIS = "0" * 64
HEAD = "SELECT seq, chain_hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1"
BATCH = 1000


def row_digest(previous: str, row: AuditEntry) -> str:
    content = [
        row.audit_id,
        row.timestamp.isoformat(),
        row.action,
        row.incident_id,
        row.actor,
        row.confidence_score,
        row.details,
        row.success,
        row.error_message,
        row.run_id,
    ]
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((previous + canonical).encode()).hexdigest()


def seal_pending(limit: int = 200) -> int:
    """Give unsealed rows (in id order) the next sequence numbers and hashes; returns how many.

    Small batches: the write lock is held for one batch only.
    """
    with write_transaction():
        key_lock("audit-chain")
        head = db.execute_sql(HEAD).fetchone()
        seq, previous = (int(head[0]), str(head[1])) if head else (0, GENESIS)
        rows = statements.select_all(AuditEntry, limit=limit, seq=None)
        updates = []
        for row in rows:
            seq += 1
            previous = row_digest(previous, row)
            updates.append((seq, previous, row.id))
        if updates:
            db.execute_sql(_sealing_sql(len(updates)), [value for row in updates for value in row])
        return len(rows)


def _sealing_sql(rows: int) -> str:
    """One UPDATE for a batch (executemany would cost PostgreSQL a round trip per row); values go
    as parameters, `rows` triples of seq, hash and id."""
    mark = db.param  # the driver's placeholder ("?" or "%s")
    values = ", ".join([f"({mark}, {mark}, {mark})"] * rows)
    return (
        f"WITH sealed(seq, chain_hash, id) AS (VALUES {values}) "  # noqa: S608
        "UPDATE audit_log SET seq = sealed.seq, chain_hash = sealed.chain_hash "
        "FROM sealed WHERE audit_log.id = sealed.id"
    )


def seal_all(budget_seconds: float | None = None) -> int:
    """Seal batch after batch (each its own transaction, so writers get in between) until none is
    left or `budget_seconds` have passed; returns how many rows were sealed."""
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    sealed = total = seal_pending()
    while sealed and (deadline is None or time.monotonic() < deadline):
        sealed = seal_pending()
        total += sealed
    return total


def seal_recent() -> int:
    """The periodic job: keep up with a busy trail (a batch a tick would fall behind), within half
    a second of work per tick."""
    return seal_all(budget_seconds=0.5)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    checked: int
    unsealed: int
    problem: str | None = None  # the first row that was changed or removed


def _sealed_in_order() -> Iterator[AuditEntry]:
    last = 0
    while True:
        with db.connection_context():
            batch = list(
                AuditEntry.select().where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(BATCH)
            )
        if not batch:
            return
        yield from batch
        last = int(batch[-1].seq or 0)


def verify() -> Verdict:
    previous, expected, checked = GENESIS, 1, 0
    for row in _sealed_in_order():
        if row.seq != expected:
            return Verdict(
                False, checked, _unsealed(), f"row {expected} was removed (the chain jumps to {row.seq})"
            )
        if row_digest(previous, row) != row.chain_hash:
            return Verdict(
                False, checked, _unsealed(), f"row {row.seq} (audit_id {row.audit_id}) was changed"
            )
        previous, expected, checked = row.chain_hash, expected + 1, checked + 1
    return Verdict(True, checked, _unsealed())


def _unsealed() -> int:
    with db.connection_context():
        return int(AuditEntry.select().where(AuditEntry.seq.is_null()).count())
