"""The engine's Notifier for Slack: every message becomes an outbox row, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_never

from engine.events import (
    AutonomyProposal,
    CalibrationSummary,
    CheckpointReport,
    ConfigChanged,
    CreatorNotice,
    DecisionReport,
    Event,
    KillSwitchReport,
    PauseReport,
    RunReport,
    StepFinished,
    StepReport,
)
from handlers.slack.layout.blocks import (
    Message,
    build_autonomy_proposal,
    build_checkpoint_notice,
    build_config_notice,
    build_decided_by_entry,
    build_incident_decision,
    build_incident_run,
    build_kill_switch_notice,
    build_pause_notice,
    build_resolution_dm,
    build_step_entries,
    run_facts,
    step_line,
)
from handlers.slack.layout.replies import build_calibration
from storage import outbox
from storage.lanes import Lane, Purpose

UPSERT = "upsert"  # post the keyed message the first time, update it in place afterwards
POST = "chat.postMessage"


def incident_key(incident_id: str) -> str:
    return f"incident:{incident_id}"


class SlackNotifier:
    def __init__(self, audit_channel: str | None, admins: Sequence[str] = ()) -> None:
        self.audit_channel = audit_channel
        self.admins = tuple(admins)  # told by DM what needs an admin (a paused category)

    def tell(self, event: Event) -> None:
        match event:
            case CreatorNotice(run=run):
                self._creator_dm(run)
            case RunReport():
                self._run(event)
            case DecisionReport():
                self._decision(event)
            case StepFinished(run=run, step=step):
                self._step(run, step)
            case KillSwitchReport():
                self._kill_switch(event)
            case ConfigChanged(actor=actor, summary=summary):
                self._config(actor, summary)
            case PauseReport():
                self._pause(event)
            case CheckpointReport():
                self._checkpoint(event)
            case AutonomyProposal():
                message = build_autonomy_proposal(event)
                self._to_audit_channel(message, method=POST, purpose=Purpose.AUDIT_NOTICE)
            case CalibrationSummary(report=report, since=since):
                message = build_calibration(list(report), since)
                self._to_audit_channel(message, method=POST, purpose=Purpose.AUDIT_NOTICE)
            case _:
                assert_never(event)

    def _to_audit_channel(
        self,
        message: Message,
        *,
        method: str,
        purpose: Purpose,
        incident_id: str | None = None,
        message_key: str | None = None,
        thread_key: str | None = None,
        lines: list[str] | None = None,
    ) -> None:
        if not self.audit_channel:
            return
        text, blocks = message
        payload: dict[str, object] = {"text": text, "blocks": blocks}
        if lines is not None:
            payload["lines"] = lines
        outbox.enqueue(
            lane=Lane.channel(self.audit_channel),
            method=method,
            target=self.audit_channel,
            payload=payload,
            purpose=purpose,
            incident_id=incident_id,
            message_key=message_key,
            thread_key=thread_key,
        )

    @staticmethod
    def _dm(
        user: str,
        message: Message,
        *,
        purpose: Purpose,
        incident_id: str | None = None,
        message_key: str | None = None,
        lines: list[str] | None = None,
    ) -> None:
        text, blocks = message
        payload: dict[str, object] = {"text": text, "blocks": blocks}
        if lines:
            payload["lines"] = lines  # what a digest of the DMs shows under the message's text
        outbox.enqueue(
            lane=Lane.dm(user),
            method=POST,
            target=f"dm:{user}",
            payload=payload,
            purpose=purpose,
            incident_id=incident_id,
            message_key=message_key,
        )

    def _creator_dm(self, report: RunReport) -> None:
        self._dm(
            report.created_by,
            build_resolution_dm(report),
            purpose=Purpose.CREATOR_DM,
            incident_id=report.incident_id,
            message_key=f"dm:{report.incident_id}:{report.run_id}",
            lines=[run_facts(report), *(step_line(step) for step in report.steps)],
        )

    def _decision(self, report: DecisionReport) -> None:
        key = incident_key(report.incident_id)
        self._to_audit_channel(
            build_incident_decision(report),
            method=UPSERT,
            purpose=Purpose.AUDIT_INCIDENT,
            incident_id=report.incident_id,
            message_key=key,
        )
        if report.decided_by:  # a person acted: say so in the thread too
            line, blocks = build_decided_by_entry(report)
            self._to_audit_channel(
                (line, blocks),
                method=POST,
                purpose=Purpose.AUDIT_STEP,
                incident_id=report.incident_id,
                thread_key=key,
                lines=[line],
            )

    def _run(self, report: RunReport) -> None:
        self._to_audit_channel(
            build_incident_run(report),
            method=UPSERT,
            purpose=Purpose.AUDIT_INCIDENT,
            incident_id=report.incident_id,
            message_key=incident_key(report.incident_id),
        )

    def _step(self, report: RunReport, step: StepReport) -> None:
        self._to_audit_channel(
            build_step_entries([step]),
            method=POST,
            purpose=Purpose.AUDIT_STEP,
            incident_id=report.incident_id,
            thread_key=incident_key(report.incident_id),
            lines=[step_line(step)],
        )

    def _kill_switch(self, report: KillSwitchReport) -> None:
        self._to_audit_channel(build_kill_switch_notice(report), method=POST, purpose=Purpose.AUDIT_NOTICE)

    def _config(self, actor: str, summary: str) -> None:
        self._to_audit_channel(build_config_notice(actor, summary), method=POST, purpose=Purpose.AUDIT_NOTICE)

    def _checkpoint(self, report: CheckpointReport) -> None:
        self._to_audit_channel(build_checkpoint_notice(report), method=POST, purpose=Purpose.AUDIT_NOTICE)

    def _pause(self, report: PauseReport) -> None:
        message = build_pause_notice(report)
        self._to_audit_channel(message, method=POST, purpose=Purpose.AUDIT_NOTICE)
        for admin in self.admins:
            self._dm(admin, message, purpose=Purpose.ADMIN_DM)
