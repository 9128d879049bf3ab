"""The audit hash chain: sealed in order, and a changed or removed row is found."""

from __future__ import annotations

import pytest

from storage import audit, audit_chain
from storage.database import db
from storage.models import AuditEntry

pytestmark = pytest.mark.usefixtures("database")


def write(n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        audit.record(action="step_started", incident_id=f"INC-{i}", details={"n": i})


def test_sealing_continues_the_chain_and_verifies():
    write(5)
    assert audit_chain.seal_pending() == 5
    write(3, start=5)
    assert audit_chain.verify() == audit_chain.Verdict(ok=True, checked=5, unsealed=3)
    assert audit_chain.seal_pending() == 3
    assert audit_chain.seal_pending() == 0
    assert audit_chain.verify() == audit_chain.Verdict(ok=True, checked=8, unsealed=0)
    with db.connection_context():
        assert [r.seq for r in AuditEntry.select().order_by(AuditEntry.id)] == list(range(1, 9))


def test_a_changed_row_is_reported():
    write(6)
    audit_chain.seal_pending()
    with db.connection_context():
        victim = AuditEntry.get(AuditEntry.seq == 4)
        AuditEntry.update(details={"n": 999}).where(AuditEntry.id == victim.id).execute()
    verdict = audit_chain.verify()
    assert not verdict.ok
    assert verdict.checked == 3
    assert verdict.problem == f"row 4 (audit_id {victim.audit_id}) was changed"


def test_a_changed_row_with_a_recomputed_hash_breaks_the_next_one():
    write(6)
    audit_chain.seal_pending()
    with db.connection_context():
        third = AuditEntry.get(AuditEntry.seq == 3)
        victim = AuditEntry.get(AuditEntry.seq == 4)
        victim.actor = "mallory"
        forged = audit_chain.row_digest(third.chain_hash or "", victim)
        AuditEntry.update(actor="mallory", chain_hash=forged).where(AuditEntry.id == victim.id).execute()
        fifth = AuditEntry.get(AuditEntry.seq == 5)
    assert audit_chain.verify().problem == f"row 5 (audit_id {fifth.audit_id}) was changed"


def test_a_removed_row_is_reported():
    write(6)
    audit_chain.seal_pending()
    with db.connection_context():
        AuditEntry.delete().where(AuditEntry.seq == 2).execute()
    verdict = audit_chain.verify()
    assert (verdict.ok, verdict.problem) == (False, "row 2 was removed (the chain jumps to 3)")


def test_the_periodic_job_keeps_up_with_more_than_a_batch():
    write(450)  # more than two of seal_pending's batches of 200
    assert audit_chain.seal_recent() == 450
    assert audit_chain.verify() == audit_chain.Verdict(ok=True, checked=450, unsealed=0)
