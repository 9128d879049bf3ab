"""Rows whose first insert decides something (a job's lease, a webhook signature seen once): the one
that comes second is told so, on SQLite and PostgreSQL, and nothing is written twice."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from storage import leases, seen_signatures
from storage.database import db_connection
from storage.fields import utcnow
from storage.leases import JobLease
from storage.seen_signatures import SeenSignature

pytestmark = pytest.mark.usefixtures("database")


def test_a_lease_is_taken_once_renewed_by_its_owner_and_taken_over_when_it_lapses():
    assert leases.acquire(name="outbox", owner="a", ttl_seconds=60)
    assert not leases.acquire(name="outbox", owner="b", ttl_seconds=60)
    assert leases.acquire(name="outbox", owner="a", ttl_seconds=60)
    JobLease.update(expires_at=utcnow() - timedelta(seconds=1)).execute()
    assert leases.acquire(name="outbox", owner="b", ttl_seconds=60)
    assert [(row.name, row.owner) for row in JobLease.select()] == [("outbox", "b")]


def test_replicas_asking_for_a_new_lease_at_once_get_it_once():
    start = threading.Barrier(4)
    taken: list[str] = []

    def ask(owner: str) -> None:
        start.wait()
        with db_connection():
            if leases.acquire(name="sealer", owner=owner, ttl_seconds=60):
                taken.append(owner)

    threads = [threading.Thread(target=ask, args=(f"replica-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(taken) == 1
    assert JobLease.get(JobLease.name == "sealer").owner == taken[0]


def test_a_signature_is_remembered_once_and_a_replay_is_refused():
    until = utcnow() + timedelta(minutes=5)
    assert seen_signatures.remember(signature="v1=abc", expires_at=until)
    assert not seen_signatures.remember(signature="v1=abc", expires_at=until)
    assert seen_signatures.remember(signature="v1=abd", expires_at=until)
    assert SeenSignature.select().count() == 2
