"""Incidents in: store, decide through the gates, queue a run; and read back where an incident stands."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import peewee

from engine.actors import acting_for
from engine.approvals import approval_digest, ask_approval, prepared_steps
from engine.audit_actions import AuditAction
from engine.cancellation import StaleApproval, cancel_if_waiting, check_approval_still_stands
from engine.decision_batch import DecisionBatch, deciding
from engine.decision_queue import DecisionQueue, Outcomes
from engine.decision_records import record_decision
from engine.errors import InvalidInput, NotFound
from engine.events import Notifier
from engine.gates import Decision, DecisionOutcome, GateInputs, decide
from engine.incident import IncidentIn, incident_values
from engine.outcomes import DEFAULT_SETTLE, fired_again
from engine.reports import announce_decision
from engine.run_limits import within_run_limit
from engine.runbook_inputs import inputs_problem
from engine.runbooks import RunbookCatalog
from engine.submissions import Submission, SubmitRequest
from storage import audit, config_store, incidents, runs
from storage.config_store import CategorySetting
from storage.database import db_connection, in_transaction, in_write_transaction
from storage.incidents import Incident
from storage.runs import Run, StepResult
from storage.statuses import (
    GONE_STATUSES,
    HELD_STATUSES,
    OPEN_INCIDENT_STATUSES,
    TERMINAL_RUN_STATUSES,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IncidentView:
    incident: Incident
    run: Run | None
    steps: list[StepResult]


class ResolutionService:
    def __init__(
        self,
        *,
        catalog: Callable[[], RunbookCatalog],
        notifier: Notifier,
        wake_worker: Callable[[], None] = lambda: None,
        dedup_window: timedelta = timedelta(minutes=5),
        outcome_settle: timedelta = DEFAULT_SETTLE,
    ) -> None:
        self.catalog = catalog
        self.notifier = notifier
        self.wake_worker = wake_worker
        self.dedup_window = dedup_window
        self.outcome_settle = outcome_settle  # how long a resolution must hold to count as fixed
        self._finished = threading.Condition()
        self._queue = DecisionQueue(self._decide_now)

    # -- submitting ------------------------------------------------------------------------------

    def decide(self, requests: Sequence[SubmitRequest]) -> Future[Outcomes]:
        """The intake door: every incident from every face comes in here. The requests are decided
        in one transaction, together with whatever other callers queued meanwhile (one commit, see
        engine/decision_queue.py); the future holds an outcome per request, in order: a Submission,
        or the InvalidInput that refused it (an unknown category) and wrote nothing of it."""
        if in_transaction():  # the caller's transaction is where it must be decided (and the
            done: Future[Outcomes] = Future()  # queue's thread would wait for its writer lock)
            done.set_result(self._decide_now(requests))
            return done
        return self._queue.decide(requests)

    def submit(
        self,
        incident: IncidentIn,
        *,
        actor: str = "system",
        force: bool = False,
        decided_by: str | None = None,
        by_person: bool = False,
        approved_digest: str | None = None,
        on_behalf_of: str | None = None,
    ) -> Submission:
        """Decide on one incident and wait: store (or refresh) it, apply the gates and queue a run
        if they pass. InvalidInput for an unknown category.

        Safe under concurrent deliveries of one incident: the decision is taken in a write
        transaction, and the database refuses a second active run (we then decide again).
        """
        request = SubmitRequest(
            incident,
            actor,
            force=force,
            decided_by=decided_by,
            by_person=by_person,
            approved_digest=approved_digest,
            on_behalf_of=on_behalf_of,
        )
        [outcome] = self.decide([request]).result()
        if isinstance(outcome, InvalidInput):
            raise outcome
        return outcome

    def stop(self, timeout: float = 30.0) -> None:
        """Decide what was queued, then let the queue's thread end (a later request starts it again)."""
        self._queue.stop(timeout)

    def _decide_now(self, requests: Sequence[SubmitRequest]) -> Outcomes:
        """Decide on several incidents in one transaction (one commit), in order; each gets its
        Submission, or the InvalidInput that refused it (an unknown category) and wrote nothing."""
        for attempt in (1, 2):
            try:
                outcomes = self._decide_all(requests)
                break
            except peewee.IntegrityError:
                if attempt == 2:
                    raise
                log.info("concurrent delivery of one of %d incidents; deciding again", len(requests))
        if any(isinstance(o, Submission) and o.run_id is not None for o in outcomes):
            self.wake_worker()
        return outcomes

    def check_category(self, category: str, field: str = "category") -> CategorySetting:
        """The category's settings; InvalidInput naming `field` unless it is configured."""
        row = config_store.get_category(category=category)
        if row is None:
            known = ", ".join(c.category for c in config_store.list_categories())
            raise InvalidInput(field, f"unknown category {category!r} (configured: {known})")
        return row

    def _decide_all(self, requests: Sequence[SubmitRequest]) -> list[Submission | InvalidInput]:
        outcomes: list[Submission | InvalidInput] = []
        delivered = [r.incident for r in requests]
        with deciding(delivered, dedup_window=self.dedup_window, settle=self.outcome_settle) as batch:
            for request in requests:
                try:
                    category = batch.category(request.incident.category, self.check_category)
                except InvalidInput as exc:
                    outcomes.append(exc)  # refused before anything of it is written
                    continue
                with acting_for(request.on_behalf_of):
                    outcomes.append(self._decide_and_queue(request, category, batch))
        return outcomes

    def _decide_and_queue(
        self,
        request: SubmitRequest,
        category: CategorySetting,
        batch: DecisionBatch,
    ) -> Submission:
        """One incident's decision, within its batch's transaction."""
        incident, actor, force = request.incident, request.actor, request.force
        existing = batch.existing(incident.incident_id)
        if existing is None and incident.fingerprint and self.dedup_window:
            duplicate = self._same_fingerprint(incident, actor, batch)
            if duplicate is not None:
                return duplicate
        active = runs.active_for(incident_id=incident.incident_id) if existing else None
        if existing is not None and incident.status.value in GONE_STATUSES:
            return self._source_says_gone(existing, active, actor)
        status = active.status if active else (existing.status if existing else incident.status.value)
        if request.approved_digest is not None:
            check_approval_still_stands(existing, request.approved_digest)
        # A later delivery refreshes an incident's data only while it is still open and idle, and
        # never under an approval: what the admin approves is what was asked.
        refresh = (
            existing is not None
            and active is None
            and existing.status in OPEN_INCIDENT_STATUSES
            and request.approved_digest is None
        )
        if existing is None:  # stored below, once decided: one INSERT, no UPDATE after it
            row = incidents.new_row(fields=incident.stored_fields())
        else:
            row = incidents.save_delivery(fields=incident.stored_fields(), existing=existing, refresh=refresh)
        audit.record(
            action=AuditAction.INCIDENT_RECEIVED,
            incident_id=row.incident_id,
            actor=actor,
            confidence_score=row.confidence_score,
            details={"new": existing is None, "source": row.source, "category": row.category},
        )
        values = incident_values(row)
        runbook = self.catalog().find_for(values)
        held = (
            existing.resolution_status if existing and existing.resolution_status in HELD_STATUSES else None
        )
        decision = decide(
            GateInputs(
                kill_switch_active=batch.kill_switch_active,
                status=status,
                category=row.category,
                category_enabled=category.auto_resolution_enabled,
                runbook_id=runbook.id if runbook else None,
                confidence=row.confidence_score,
                threshold=category.confidence_threshold,
                approval_floor=category.approval_floor,
                force=force,
                held=held,
                by_person=request.by_person,
                category_paused=category.paused_reason,
                input_problem=inputs_problem(runbook.inputs, values) if runbook else None,
                approval_all=category.approval_all,
                approved=request.approved_digest is not None,
            )
        )
        # A person's say-so (a force, an approval, a rerun) is the approval past a runbook's limit.
        limited = runbook is not None and runbook.limit is not None and not (force or request.by_person)
        if decision.outcome is DecisionOutcome.QUEUED and limited:
            assert runbook is not None
            decision = within_run_limit(decision, runbook, row, category)
        steps: tuple[str, ...] = ()
        digest = None
        if runbook is not None and (
            decision.outcome is DecisionOutcome.AWAITING_APPROVAL or request.approved_digest
        ):
            steps = prepared_steps(runbook, values)
            digest = approval_digest(runbook.id, steps, values)
            if request.approved_digest is not None and digest != request.approved_digest:
                raise StaleApproval("the runbook's steps changed after the approval was asked")
        run_id = None
        if decision.outcome is DecisionOutcome.QUEUED:
            assert decision.runbook_id is not None
            run = runs.enqueue(
                incident_id=row.incident_id,
                runbook_id=decision.runbook_id,
                dry_run=category.dry_run,
                forced=force,
                requested_by=actor,
            )
            run_id = run.id
        keeps_status = decision.gate in ("status", "held")  # a run or a person's decision stands
        if not keeps_status:
            if existing is None:
                row.resolution_status, row.resolution_reason = decision.outcome.value, decision.reason
            else:
                incidents.set_resolution(
                    incident_id=row.incident_id,
                    resolution_status=decision.outcome.value,
                    reason=decision.reason,
                )
        announce = not keeps_status  # the message of an incident with a run shows the run
        if decision.outcome is DecisionOutcome.AWAITING_APPROVAL:
            announce = ask_approval(row, existing, digest, actor)
        elif existing is not None and existing.approval_digest is not None:
            incidents.ask_approval(incident_id=row.incident_id, digest=None)  # its buttons are stale now
        if decision.gate == "held":
            incidents.count_held_delivery(incident_id=row.incident_id)
        if existing is None:
            batch.add_new(row)
        record_decision(
            row,
            decision,
            category,
            actor=actor,
            run_id=run_id,
            forced=force,
            held=held,
            approved=request.approved_digest,
            new_incident=existing is None,
            unsettled=batch.take_unsettled,
        )
        if announce:
            self._announce(row, decision, decided_by=request.decided_by, steps=steps, digest=digest)
        return Submission(row.incident_id, decision, run_id, created=existing is None)

    def _source_says_gone(self, existing: Incident, active: Run | None, actor: str) -> Submission:
        """The sender says the problem is gone: a queued run or a waiting approval is cancelled;
        a run under way finishes (it is past the point where stopping is the safer choice)."""
        reason = f"The source ({actor}) says it is resolved"
        outcome = cancel_if_waiting(existing, active, actor, reason, self.notifier)
        return Submission(existing.incident_id, outcome, None, created=False)

    def _same_fingerprint(self, incident: IncidentIn, actor: str, batch: DecisionBatch) -> Submission | None:
        """A new incident id whose fingerprint arrived within the window is the same incident."""
        assert incident.fingerprint is not None
        earlier = batch.earlier_with_fingerprint(incident.fingerprint, other_than=incident.incident_id)
        if earlier is None:
            return None
        fired_again(batch.take_unsettled(incident.fingerprint), incident.incident_id)
        window = int(self.dedup_window.total_seconds())
        reason = f"Duplicate of {earlier.incident_id} (same fingerprint within {window}s)"
        audit.record(
            action=AuditAction.INCIDENT_DEDUPLICATED,
            incident_id=earlier.incident_id,
            actor=actor,
            confidence_score=incident.confidence_score,
            details={"delivered_incident_id": incident.incident_id, "fingerprint": incident.fingerprint},
        )
        return Submission(
            earlier.incident_id, Decision(DecisionOutcome.DUPLICATE, reason), None, created=False
        )

    def _announce(
        self,
        row: Incident,
        decision: Decision,
        *,
        decided_by: str | None,
        steps: tuple[str, ...] = (),
        digest: str | None = None,
    ) -> None:
        """Queue the audit-channel message; call inside the transaction that audits the decision."""
        awaiting = decision.outcome is DecisionOutcome.AWAITING_APPROVAL
        announce_decision(
            self.notifier,
            row,
            decision.outcome.value,
            decision.reason,
            runbook_id=decision.runbook_id,
            decided_by=decided_by,
            steps=steps if awaiting else (),
            approval_digest=digest if awaiting else None,
        )

    def source_resolved(
        self, incident_id: str, *, actor: str, reason: str, details: dict[str, Any] | None = None
    ) -> Decision:
        """The sender says the problem is gone (an Alertmanager `resolved` alert): a queued run or
        a waiting approval is cancelled. For an incident the bot never saw, it is recorded."""
        with in_write_transaction():
            existing = incidents.get(incident_id=incident_id)
            if existing is None:
                audit.record(
                    action=AuditAction.ALERT_RESOLVED,
                    incident_id=incident_id,
                    actor=actor,
                    details={**(details or {}), "known_incident": False},
                )
                return Decision(DecisionOutcome.RECORDED, f"{reason} (incident unknown)")
            active = runs.active_for(incident_id=incident_id)
            return cancel_if_waiting(existing, active, actor, reason, self.notifier)

    # -- reading back ----------------------------------------------------------------------------

    def view(self, incident_id: str) -> IncidentView:
        with db_connection():
            incident = incidents.get(incident_id=incident_id)
            if incident is None:
                raise NotFound(f"Incident not found: {incident_id}")
            run = runs.latest_for(incident_id=incident_id)
            steps = runs.steps_of(run_id=run.id) if run else []
        return IncidentView(incident, run, steps)

    def run_finished(self, run_id: int) -> None:
        """Called by the executor: wakes threads waiting in wait_for_run."""
        with self._finished:
            self._finished.notify_all()

    def wait_for_steps(self, run_id: int, timeout: float) -> tuple[Run, list[StepResult]]:
        """`wait_for_run`, and the run's steps as they then stand."""
        run = self.wait_for_run(run_id, timeout)
        with db_connection():
            return run, runs.steps_of(run_id=run.id)

    def wait_for_run(self, run_id: int, timeout: float) -> Run:
        """Block until the run ends or `timeout` passes; returns the run as it then stands.

        Woken at once by runs finishing in this process; polls (for runs finishing elsewhere).
        """
        deadline = time.monotonic() + timeout
        while True:
            run = runs.get(run_id=run_id)
            if run is None:
                raise NotFound(f"Run not found: {run_id}")
            remaining = deadline - time.monotonic()
            if run.status in TERMINAL_RUN_STATUSES or remaining <= 0:
                return run
            with self._finished:
                self._finished.wait(min(remaining, 0.25))
