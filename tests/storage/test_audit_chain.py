"""The keyed audit chain: sealed in order; a changed, removed or unsealed row is found, and so are
rows cut from the end once the head was anchored; verifying never seals."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from storage import audit, config_store
from storage.audit import AuditEntry
from storage.audit_chain import Anchor, AuditChain, Verdict, row_digest
from storage.database import db
from storage.fields import utcnow

pytestmark = pytest.mark.usefixtures("database")

KEY = b"k" * 64


def later() -> datetime:
    """When verify runs: every row written so far is past the sealing interval."""
    return utcnow() + timedelta(minutes=5)


def write(n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        audit.record(action="step_started", incident_id=f"INC-{i}", details={"n": i})


def sealed_chain(rows: int) -> AuditChain:
    chain = AuditChain(KEY)
    assert chain.adopt_key() is None
    write(rows)
    chain.seal_all()
    return chain


def test_sealing_continues_the_chain_and_verifies():
    chain = AuditChain(KEY)
    chain.adopt_key()
    write(5)
    assert chain.seal_pending().rows == 5
    write(3, start=5)
    assert chain.verify() == Verdict(ok=True, checked=5, unsealed=3, head=chain.verify().head)  # just written
    assert chain.seal_pending().rows == 3
    assert chain.seal_pending().rows == 0
    verdict = chain.verify(now=later())
    assert (verdict.ok, verdict.checked, verdict.unsealed) == (True, 8, 0)
    with db.connection_context():
        assert [r.seq for r in AuditEntry.select().order_by(AuditEntry.id)] == list(range(1, 9))


def test_a_changed_row_is_reported():
    chain = sealed_chain(6)
    with db.connection_context():
        victim = AuditEntry.get(AuditEntry.seq == 4)
        AuditEntry.update(details={"n": 999}).where(AuditEntry.id == victim.id).execute()
    verdict = chain.verify(now=later())
    assert (verdict.ok, verdict.checked) == (False, 3)
    assert verdict.problem == f"row 4 (audit_id {victim.audit_id}) was changed"


def test_recomputing_a_link_needs_the_key():
    chain = sealed_chain(6)
    with db.connection_context():
        third = AuditEntry.get(AuditEntry.seq == 3)
        victim = AuditEntry.get(AuditEntry.seq == 4)
        victim.actor = "mallory"
        unkeyed = row_digest(third.chain_hash or "", victim)  # what SQL and the code alone can compute
        AuditEntry.update(actor="mallory", chain_hash=unkeyed).where(AuditEntry.id == victim.id).execute()
    assert chain.verify(now=later()).problem == f"row 4 (audit_id {victim.audit_id}) was changed"


def test_a_removed_row_is_reported():
    chain = sealed_chain(6)
    with db.connection_context():
        AuditEntry.delete().where(AuditEntry.seq == 2).execute()
    verdict = chain.verify(now=later())
    assert (verdict.ok, verdict.problem) == (False, "row 2 was removed (the chain jumps to 3)")


def test_rows_cut_from_the_end_are_found_against_the_anchor():
    chain = sealed_chain(6)
    anchor = chain.verify(now=later()).head
    assert anchor == Anchor(6, anchor.chain_hash if anchor else "")
    with db.connection_context():
        AuditEntry.delete().where(AuditEntry.seq >= 5).execute()
    assert chain.verify(now=later()).ok  # without the anchor the shorter chain fits
    verdict = chain.verify(anchor, now=later())
    assert not verdict.ok
    assert (
        verdict.problem
        == "rows 5 to 6 were removed: the checkpoint says the trail had 6 rows, the chain ends at 4"
    )


def test_unsealing_rows_is_reported_and_verify_never_seals_them():
    chain = sealed_chain(6)
    with db.connection_context():
        AuditEntry.update(seq=None, chain_hash=None).where(AuditEntry.seq >= 3).execute()
    verdict = chain.verify(now=later())
    assert not verdict.ok
    assert verdict.problem is not None
    assert verdict.problem.startswith("4 row(s) older than 60s are not sealed")
    assert chain.verify(now=later()).unsealed == 4  # verify read only: still unsealed


def test_another_key_neither_verifies_nor_seals_the_chain():
    sealed_chain(3)
    other = AuditChain(b"o" * 64)
    problem = other.adopt_key()
    assert problem is not None
    assert "sealed with key" in problem
    write(1, start=3)
    assert other.seal_pending().rows == 0  # would break the chain at the switch
    assert not other.verify(now=later()).ok


def test_rotating_the_key_reseals_a_chain_that_verifies_with_the_old_one():
    sealed_chain(4)
    new = AuditChain(b"n" * 64)
    assert new.rekey(KEY) == 4
    assert new.adopt_key() is None
    verdict = new.verify(now=later())
    assert (verdict.ok, verdict.checked) == (True, 4)
    assert config_store.get_global().audit_key_id == new.key_id


def test_a_chain_sealed_before_keys_is_verified_unkeyed_then_resealed_with_the_key():
    write(3)
    previous = "0" * 64
    with db.connection_context():
        for seq, row in enumerate(AuditEntry.select().order_by(AuditEntry.id), start=1):
            previous = row_digest(previous, row)  # as version 5 of the schema sealed
            AuditEntry.update(seq=seq, chain_hash=previous).where(AuditEntry.id == row.id).execute()
    chain = AuditChain(KEY)
    assert chain.adopt_key() is None
    verdict = chain.verify(now=later())
    assert (verdict.ok, verdict.checked) == (True, 3)
    with db.connection_context():
        assert AuditEntry.get(AuditEntry.seq == 3).chain_hash != previous  # now keyed


def test_the_periodic_job_keeps_up_with_more_than_a_batch():
    chain = AuditChain(KEY)
    chain.adopt_key()
    write(450)  # more than two of seal_pending's batches of 200
    assert chain.seal_all(budget_seconds=0.5).rows == 450
    verdict = chain.verify(now=later())
    assert (verdict.ok, verdict.checked, verdict.unsealed) == (True, 450, 0)


def test_rows_sealed_by_another_replica_while_links_were_worked_out_are_not_sealed_again():
    """The links are worked out before the write lock is taken; if another replica sealed meanwhile,
    they are worked out again from its head, so the chain stays one chain."""
    other = AuditChain(KEY)
    assert other.adopt_key() is None
    write(4)

    class Interrupted(AuditChain):
        interrupted = False

        def _links(self, head, rows):
            if not self.interrupted:  # the other replica seals between this one's read and its lock
                self.interrupted = True
                write(2, start=4)
                assert other.seal_pending().rows == 6
            return super()._links(head, rows)

    chain = Interrupted(KEY)
    assert chain.seal_pending().rows == 0  # nothing was left for it
    write(1, start=6)
    assert chain.seal_pending().rows == 1
    verdict = chain.verify(now=later())
    assert (verdict.ok, verdict.checked, verdict.unsealed) == (True, 7, 0)
    with db.connection_context():
        assert [r.seq for r in AuditEntry.select().order_by(AuditEntry.id)] == list(range(1, 8))
