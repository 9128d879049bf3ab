"""The audit chain's head is anchored outside the database: at a kill-switch change, and periodically."""

from __future__ import annotations

import pytest

from engine.audit_checkpoints import Checkpoints, latest_anchor
from storage import audit
from storage.audit_chain import AuditChain
from tests.support.notifier import RecordingNotifier

pytestmark = pytest.mark.usefixtures("database")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_head_is_anchored_at_a_kill_switch_change_and_each_interval(tmp_path):
    chain = AuditChain(b"c" * 64)
    chain.adopt_key()
    clock, notifier, path = Clock(), RecordingNotifier(), tmp_path / "checkpoints.log"
    checkpoints = Checkpoints(chain, path, notifier, interval_seconds=300, clock=clock)
    audit.record(action="step_started")
    assert checkpoints.seal() == 1
    assert latest_anchor(path) is None  # nothing worth anchoring yet: the interval has not passed
    audit.record(action="kill_switch_activated", actor="U0ONCALL")
    checkpoints.seal()
    first = latest_anchor(path)
    assert first is not None
    assert first.seq == 2
    assert [(c.seq, c.chain_hash) for c in notifier.checkpoints] == [(2, first.chain_hash)]
    audit.record(action="step_started")
    clock.now = 301
    checkpoints.seal()
    assert latest_anchor(path).seq == 3  # type: ignore[union-attr]
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_line_cut_short_by_a_crash_leaves_the_one_before_it(tmp_path):
    path = tmp_path / "checkpoints.log"
    path.write_text("2026-12-01T09:00:00+00:00 7:" + "a" * 64 + "\n2026-12-01T09:05:00+00:00 9:abc")
    anchor = latest_anchor(path)
    assert anchor is not None
    assert (anchor.seq, anchor.chain_hash) == (7, "a" * 64)
