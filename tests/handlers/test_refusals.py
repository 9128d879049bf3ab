"""Refusals from outside are audited, one row per source and reason a minute, plus their count."""

from __future__ import annotations

import pytest

from handlers.refusals import RefusalLog
from storage import audit

pytestmark = pytest.mark.usefixtures("database")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rows() -> list[tuple[str, object, object]]:
    found = audit.query(action="request_refused")
    return [
        (r.error_message or "", r.details.get("client"), r.details.get("repeats")) for r in reversed(found)
    ]


def test_refusals_are_collapsed_per_source_and_reason_per_minute():
    clock = Clock()
    log = RefusalLog(clock=clock)
    for _ in range(5):
        log.record("bad token", {"client": "10.0.0.1"})
    log.record("bad token", {"client": "10.0.0.2"})  # another source: its own row
    log.record("replayed", {"client": "10.0.0.1"})  # another reason: its own row
    assert rows() == [
        ("bad token", "10.0.0.1", None),
        ("bad token", "10.0.0.2", None),
        ("replayed", "10.0.0.1", None),
    ]
    assert log.flush() == 0  # the minute is not over
    clock.now += 61
    log.record("bad token", {"client": "10.0.0.1"})  # a new minute: the count of the last, then a row
    assert rows()[-2:] == [("bad token", "10.0.0.1", 4), ("bad token", "10.0.0.1", None)]
    clock.now += 61
    assert log.flush() == 0  # nothing was counted after the new minute's first
