"""The audit trail's keyed hash chain: rows are sealed in commit order, each link covering the one before.

Sealing happens off the write path (a periodic job, one replica at a time): a row gets the next
`seq` and chain_hash = HMAC-SHA256(audit key, previous hash + the row's content). Changing a sealed
row breaks its own link; removing one leaves a gap in `seq` and breaks the next row's link;
recomputing links needs the key, which is not in the database. Removing rows from the end leaves
a shorter chain that fits: the head is anchored outside the database (audit_checkpoints), and
`verify` checks the chain against the latest anchor. `verify` only reads: it never seals.

A chain sealed before links were keyed (plain SHA-256) is verified that way once, and then
re-sealed with the key (`adopt_key`); the database records which key seals it (by its id).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage import config_store, statements
from storage.audit import AuditEntry
from storage.database import db, in_write_transaction, key_lock
from storage.fields import utcnow

log = logging.getLogger(__name__)

GENESIS = "0" * 64
HEAD = "SELECT seq, chain_hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1"
BATCH = 1000
UNSEALED_GRACE = timedelta(seconds=60)  # the sealer runs every second; older unsealed rows are news
KILL_SWITCH_ACTIONS = (
    "kill_switch_activated",
    "kill_switch_deactivated",
    "kill_switch_extended",
    "kill_switch_expired",
)

Digest = Callable[[str, AuditEntry], str]


def _canonical(row: AuditEntry) -> bytes:
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
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=str).encode()


def row_digest(previous: str, row: AuditEntry, key: bytes | None = None) -> str:
    """The row's link: HMAC-SHA256 with the audit key, or (key None) the unkeyed SHA-256 of chains
    sealed before links were keyed."""
    message = previous.encode() + _canonical(row)
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def key_id(key: bytes) -> str:
    """Names a key without revealing it (stored in the database, shown in messages)."""
    return hmac.new(key, b"autoresolve audit key id", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class Anchor:
    """A chain head recorded outside the database: the trail had at least `seq` rows, the last
    with this hash."""

    seq: int
    chain_hash: str

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """`<seq>:<hash>`, as a checkpoint message shows it."""
        seq, _, chain_hash = text.strip().partition(":")
        if not seq.isdigit() or len(chain_hash) != 64 or not all(c in "0123456789abcdef" for c in chain_hash):
            raise ValueError("expected <seq>:<64 hex digits>, as an audit checkpoint shows it")
        return cls(int(seq), chain_hash)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    checked: int
    unsealed: int
    problem: str | None = None  # the first thing that does not fit: a changed, removed or unsealed row
    head: Anchor | None = None  # the last row checked


@dataclass(frozen=True)
class Sealed:
    """What one sealing pass did: how many rows, the head after it, whether a kill-switch change
    was among them (an occasion for a checkpoint)."""

    rows: int
    head: Anchor | None
    kill_switch_changed: bool


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


class AuditChain:
    """Seals and verifies the chain with one key."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.key_id = key_id(key)
        self.sealing = True  # false when the stored chain is another key's: sealing would break it

    def digest(self, previous: str, row: AuditEntry) -> str:
        return row_digest(previous, row, self.key)

    # -- sealing ----------------------------------------------------------------------------------

    def seal_pending(self, limit: int = 200) -> Sealed:
        """Give unsealed rows (in id order) the next sequence numbers and links. Small batches, and
        the links worked out before the write lock is taken: it is held for the batch's UPDATE only
        (and, should another replica have sealed meanwhile, for working them out again)."""
        if not self.sealing:
            return Sealed(0, None, False)
        with db.connection_context():
            head = db.execute_sql(HEAD).fetchone()
            rows = statements.select_all(AuditEntry, limit=limit, seq=None)
        if not rows:
            return Sealed(0, None, False)
        seq, previous, updates = self._links(head, rows)
        with in_write_transaction():
            key_lock("audit-chain")
            now = db.execute_sql(HEAD).fetchone()
            if now != head:  # sealed elsewhere meanwhile: the links start from the new head
                rows = statements.select_all(AuditEntry, limit=limit, seq=None)
                seq, previous, updates = self._links(now, rows)
            if updates:
                db.execute_sql(_sealing_sql(len(updates)), [value for row in updates for value in row])
        changed = any(row.action in KILL_SWITCH_ACTIONS for row in rows)
        return Sealed(len(rows), Anchor(seq, previous) if updates else None, changed)

    def _links(
        self, head: tuple[int, str] | None, rows: list[AuditEntry]
    ) -> tuple[int, str, list[tuple[int, str, int]]]:
        """The rows' sequence numbers and links after `head`: the last seq and hash, and
        (seq, hash, id) for each row."""
        seq, previous = (int(head[0]), str(head[1])) if head else (0, GENESIS)
        updates = []
        for row in rows:
            seq += 1
            previous = self.digest(previous, row)
            updates.append((seq, previous, row.id))
        return seq, previous, updates

    def seal_all(self, budget_seconds: float | None = None) -> Sealed:
        """Seal batch after batch (each its own transaction, so writers get in between) until none
        is left or `budget_seconds` have passed."""
        deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
        total, head, changed = 0, None, False
        while True:
            sealed = self.seal_pending()
            total += sealed.rows
            head = sealed.head or head
            changed = changed or sealed.kill_switch_changed
            if not sealed.rows or (deadline is not None and time.monotonic() >= deadline):
                return Sealed(total, head, changed)

    # -- the key ----------------------------------------------------------------------------------

    def adopt_key(self) -> str | None:
        """Make sure the stored chain is this key's: record the key for a new chain, re-seal a chain
        sealed before links were keyed (once it verifies unkeyed). Returns a problem to report, or
        None; with a problem, nothing is sealed (another key's chain would break at the switch)."""
        with in_write_transaction():
            key_lock("audit-chain")
            stored = config_store.get_global().audit_key_id
            if stored == self.key_id:
                return None
            if stored is not None:
                self.sealing = False
                return (
                    f"the audit chain is sealed with key {stored}, and this key is {self.key_id}: "
                    "give the bot the key it was sealed with, or re-key (`audit rekey --old-key-file`)"
                )
            legacy = verify_chain(lambda previous, row: row_digest(previous, row, None))
            if not legacy.ok:
                self.sealing = False
                return f"the audit chain was broken before it was keyed: {legacy.problem}"
            resealed = self._reseal(lambda previous, row: row_digest(previous, row, None))
            config_store.update_global(audit_key_id=self.key_id)
        if resealed:
            log.info("re-sealed %d audit rows with the audit key %s", resealed, self.key_id)
        return None

    def rekey(self, old_key: bytes) -> int:
        """Re-seal a chain sealed with `old_key` (verified with it first) with this key."""
        with in_write_transaction():
            key_lock("audit-chain")
            old = AuditChain(old_key)
            verdict = verify_chain(old.digest)
            if not verdict.ok:
                raise ValueError(f"the chain does not verify with the old key: {verdict.problem}")
            resealed = self._reseal(old.digest)
            config_store.update_global(audit_key_id=self.key_id)
        return resealed

    def _reseal(self, old: Digest) -> int:
        """Rewrite every sealed row's link with this key (within the caller's transaction)."""
        previous, count = GENESIS, 0
        batch: list[tuple[int, str, int]] = []
        for row in _sealed_in_order():
            previous = self.digest(previous, row)
            batch.append((int(row.seq or 0), previous, row.id))
            count += 1
            if len(batch) >= BATCH:
                db.execute_sql(_sealing_sql(len(batch)), [v for item in batch for v in item])
                batch = []
        if batch:
            db.execute_sql(_sealing_sql(len(batch)), [v for item in batch for v in item])
        return count

    # -- verifying --------------------------------------------------------------------------------

    def verify(self, anchor: Anchor | None = None, *, now: datetime | None = None) -> Verdict:
        """Walk the chain (reading only): every link must fit, the chain must reach `anchor`, and no
        row older than the sealing interval may be unsealed."""
        stored = _stored_key_id()
        if stored is not None and stored != self.key_id:
            return Verdict(
                False, 0, _unsealed(), f"the chain is sealed with key {stored}, not this key ({self.key_id})"
            )
        verdict = verify_chain(self.digest if stored is not None else (lambda p, r: row_digest(p, r, None)))
        if not verdict.ok:
            return verdict
        if anchor is not None:
            head = verdict.head
            if head is None or head.seq < anchor.seq:
                reached = head.seq if head else 0
                return Verdict(
                    False,
                    verdict.checked,
                    verdict.unsealed,
                    f"rows {reached + 1} to {anchor.seq} were removed: the checkpoint says the trail "
                    f"had {anchor.seq} rows, the chain ends at {reached}",
                    head,
                )
            if _hash_at(anchor.seq) != anchor.chain_hash:
                return Verdict(
                    False,
                    verdict.checked,
                    verdict.unsealed,
                    f"row {anchor.seq} is not the one checkpointed",
                    head,
                )
        stale = _unsealed_before((now or utcnow()) - UNSEALED_GRACE)
        if stale:
            return Verdict(
                False,
                verdict.checked,
                verdict.unsealed,
                f"{stale} row(s) older than {int(UNSEALED_GRACE.total_seconds())}s are not sealed: the bot "
                "has not run since they were written, or their seals were removed",
                verdict.head,
            )
        return verdict


def verify_chain(digest: Digest) -> Verdict:
    previous, expected, checked = GENESIS, 1, 0
    for row in _sealed_in_order():
        if row.seq != expected:
            return Verdict(
                False, checked, _unsealed(), f"row {expected} was removed (the chain jumps to {row.seq})"
            )
        if digest(previous, row) != row.chain_hash:
            return Verdict(
                False, checked, _unsealed(), f"row {row.seq} (audit_id {row.audit_id}) was changed"
            )
        previous, expected, checked = row.chain_hash, expected + 1, checked + 1
    head = Anchor(expected - 1, previous) if checked else None
    return Verdict(True, checked, _unsealed(), head=head)


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


def _stored_key_id() -> str | None:
    return config_store.get_global().audit_key_id


def _hash_at(seq: int) -> str | None:
    with db.connection_context():
        row = AuditEntry.get_or_none(AuditEntry.seq == seq)
        return row.chain_hash if row else None


def _unsealed() -> int:
    with db.connection_context():
        return int(AuditEntry.select().where(AuditEntry.seq.is_null()).count())


def _unsealed_before(moment: datetime) -> int:
    with db.connection_context():
        return int(
            AuditEntry.select().where(AuditEntry.seq.is_null() & (AuditEntry.timestamp < moment)).count()
        )
