"""Results out: when an incident's automation ends, POST its result to its callback_url or
RESULT_WEBHOOK_URL, through the outbox (so a receiver that is down gets it later)."""

from __future__ import annotations

from typing import Any

from engine.events import (
    DecisionReport,
    Event,
    RunReport,
)
from storage import outbox
from storage.lanes import Lane, Purpose
from storage.statuses import DECISION_ENDS, REPORTED_RUN_STATUSES, RunStatus


class ResultCallbacks:
    """A Notifier that only cares about final outcomes."""

    def __init__(self, default_url: str | None, public_url: str | None) -> None:
        self.default_url = default_url
        self.public_url = (public_url or "").rstrip("/")

    def _send(self, url: str | None, incident_id: str, body: dict[str, Any]) -> None:
        target = url or self.default_url
        if not target:
            return
        body["audit_url"] = f"{self.public_url}/api/v1/audit/incident/{incident_id}"
        outbox.enqueue(
            lane=Lane.webhook(target),
            method="POST",
            target=target,
            payload=body,
            purpose=Purpose.RESULT_CALLBACK,
            incident_id=incident_id,
        )

    def tell(self, event: Event) -> None:
        """A run's end and a decision that ends an incident; nothing else is a result."""
        match event:
            case RunReport():
                self._run_result(event)
            case DecisionReport():
                self._decision_result(event)
            case _:
                pass

    def _run_result(self, report: RunReport) -> None:
        if report.status not in REPORTED_RUN_STATUSES:
            return
        body: dict[str, Any] = {
            "event": "incident.result",
            "incident_id": report.incident_id,
            "status": report.status,
            "success": report.status == RunStatus.RESOLVED,
            "message": report.message,
            "runbook": report.runbook_id,
            "run_id": report.run_id,
            "dry_run": report.dry_run,
            "confidence_score": report.confidence,
            "finished_at": report.finished_at.isoformat() if report.finished_at else None,
            "steps": [
                {
                    "position": s.position,
                    "name": s.name,
                    "phase": s.phase,
                    "status": s.status,
                    "attempts": s.attempts,
                    "duration_ms": s.duration_ms,
                    "error": s.error,
                }
                for s in report.steps
            ],
        }
        self._send(report.callback_url, report.incident_id, body)

    def _decision_result(self, report: DecisionReport) -> None:
        if report.outcome not in DECISION_ENDS:  # queued and awaiting approval are not ends
            return
        body: dict[str, Any] = {
            "event": "incident.result",
            "incident_id": report.incident_id,
            "status": report.outcome,
            "success": False,
            "message": report.reason,
            "runbook": report.runbook_id,
            "run_id": None,
            "dry_run": False,
            "confidence_score": report.confidence,
            "finished_at": None,
            "steps": [],
        }
        self._send(report.callback_url, report.incident_id, body)
