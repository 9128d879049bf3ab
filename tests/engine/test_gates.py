"""The decision gates: order, reason strings, inclusive threshold, approval floor, force."""

from __future__ import annotations

import dataclasses

import pytest

from engine.gates import DecisionOutcome, GateInputs, decide

PASSING = GateInputs(
    kill_switch_active=False,
    status="open",
    category="database",
    category_enabled=True,
    runbook_id="db-pool-reset",
    confidence=0.95,
    threshold=0.90,
    approval_floor=None,
)


def gates(**changes: object) -> GateInputs:
    return dataclasses.replace(PASSING, **changes)  # type: ignore[arg-type]


def test_passing_incident_is_queued_with_its_runbook():
    decision = decide(PASSING)
    assert decision.outcome is DecisionOutcome.QUEUED
    assert decision.runbook_id == "db-pool-reset"


def test_threshold_is_inclusive():
    assert decide(gates(confidence=0.90, threshold=0.90)).outcome is DecisionOutcome.QUEUED
    assert decide(gates(confidence=0.9, threshold=0.90)).outcome is DecisionOutcome.QUEUED


def test_just_below_threshold_is_skipped_with_the_seed_reason():
    decision = decide(gates(confidence=0.8999, threshold=0.90))
    assert decision.outcome is DecisionOutcome.SKIPPED
    assert decision.reason == "Confidence score 89.99% below threshold 90.00%"


def test_reason_strings_match_the_seed():
    assert decide(gates(confidence=0.85)).reason == "Confidence score 85.00% below threshold 90.00%"
    assert decide(gates(kill_switch_active=True)).reason == (
        "Auto-resolution is globally disabled (kill switch active)"
    )
    assert decide(gates(status="auto_resolved")).reason == "Incident already in status: auto_resolved"
    assert decide(gates(category_enabled=False)).reason == "Auto-resolution disabled for category: database"
    assert decide(gates(runbook_id=None)).reason == "No runbook matches this incident"


@pytest.mark.parametrize("status", ["auto_resolved", "manually_resolved", "closed", "queued", "running"])
def test_incident_in_a_blocking_status_is_skipped(status):
    decision = decide(gates(status=status))
    assert decision.outcome is DecisionOutcome.SKIPPED
    assert decision.reason == f"Incident already in status: {status}"


@pytest.mark.parametrize("status", ["open", "in_progress"])
def test_open_incidents_pass_the_status_gate(status):
    assert decide(gates(status=status)).outcome is DecisionOutcome.QUEUED


def test_gates_apply_in_order_first_failure_wins():
    everything_wrong = gates(
        kill_switch_active=True, status="closed", category_enabled=False, runbook_id=None, confidence=0.1
    )
    assert decide(everything_wrong).gate == "kill_switch"
    assert decide(dataclasses.replace(everything_wrong, kill_switch_active=False)).gate == "status"
    assert decide(gates(status="open", category_enabled=False, runbook_id=None, confidence=0.1)).gate == (
        "category"
    )
    assert decide(gates(runbook_id=None, confidence=0.1)).gate == "runbook"
    assert decide(gates(confidence=0.1)).gate == "confidence"


def test_between_floor_and_threshold_waits_for_approval():
    decision = decide(gates(confidence=0.85, approval_floor=0.80))
    assert decision.outcome is DecisionOutcome.AWAITING_APPROVAL
    assert decision.runbook_id == "db-pool-reset"
    assert decision.reason.startswith("Confidence score 85.00% below threshold 90.00%")


def test_approval_floor_is_inclusive_and_below_it_is_skipped():
    assert decide(gates(confidence=0.80, approval_floor=0.80)).outcome is DecisionOutcome.AWAITING_APPROVAL
    assert decide(gates(confidence=0.7999, approval_floor=0.80)).outcome is DecisionOutcome.SKIPPED


def test_force_passes_the_confidence_gate_only():
    assert decide(gates(confidence=0.10, force=True)).outcome is DecisionOutcome.QUEUED
    assert decide(gates(force=True, kill_switch_active=True)).outcome is DecisionOutcome.SKIPPED
    assert decide(gates(force=True, status="running")).outcome is DecisionOutcome.SKIPPED
    assert decide(gates(force=True, category_enabled=False)).outcome is DecisionOutcome.SKIPPED
    assert decide(gates(force=True, runbook_id=None)).outcome is DecisionOutcome.SKIPPED
