"""The prebuilt statements' conditions on both databases: None in a tuple stands for NULL."""

from __future__ import annotations

from typing import Any

from storage import statements
from storage.database import in_write_transaction
from storage.outcomes import Outcome


def outcome(incident_id: str, kind: str | None) -> None:
    statements.insert(
        Outcome,
        incident_id=incident_id,
        category="db",
        confidence=0.95,
        threshold=0.9,
        decision="run",
        kind=kind,
    )


def test_none_in_a_tuple_matches_null_and_is_excluded_by_not_in(database):
    with in_write_transaction():
        for incident_id, kind in (("A", None), ("B", "resolved"), ("C", "failed"), ("D", "halted")):
            outcome(incident_id, kind)

    def ids(**where: Any) -> list[str]:
        return sorted(o.incident_id for o in statements.select_all(Outcome, **where))

    assert ids(kind=(None, "resolved")) == ["A", "B"]
    assert ids(kind=(None,)) == ["A"]
    assert ids(kind=("failed", "halted")) == ["C", "D"]
    assert ids(kind__not_in=(None, "resolved")) == ["C", "D"]
    assert ids(kind__not_in=(None,)) == ["B", "C", "D"]
    with in_write_transaction():  # the same shape for an update, built once and reused
        assert (
            statements.update(Outcome, {"incident_id": "A", "kind": (None, "resolved")}, kind="failed") == 1
        )
        assert (
            statements.update(Outcome, {"incident_id": "C", "kind": (None, "resolved")}, kind="halted") == 0
        )
    assert ids(kind="failed") == ["A", "C"]
