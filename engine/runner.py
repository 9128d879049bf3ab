"""Executing one claimed run: steps with timeouts and retries, rollback, kill switch, dry run, reports."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from engine import failure_budget
from engine.audit_actions import AuditAction
from engine.configuration import kill_switch_state
from engine.events import Notifier
from engine.incident import incident_values
from engine.placeholders import PlaceholderError
from engine.reports import build_report, creator_wants_dm, report_outcome
from engine.run_records import RunRecords, finish_incident, unexpected
from engine.run_stop import RunStop, StopReason
from engine.runbooks import Action, Runbook, RunbookCatalog, Step
from engine.scope import preview_scope, run_scope
from engine.step_execution import StepCall, StepExecution, StepVerdict
from engine.step_kinds.base import PreparedAction, run_attempt
from engine.steps import prepare
from storage import audit, config_store, incidents, runs
from storage.fields import utcnow
from storage.group_commit import GroupCommitter, Staged, WriteAhead
from storage.incidents import Incident
from storage.runs import Run, StepResult
from storage.statuses import IncidentStatus, ResolutionStatus, RunStatus

log = logging.getLogger(__name__)

T = TypeVar("T")


class RunExecutor:
    """Runs claimed runs to a terminal status. Thread-safe: one call per run, many runs at once."""

    def __init__(
        self,
        *,
        catalog: Callable[[], RunbookCatalog],
        notifier: Notifier,
        cancel: threading.Event,
        on_finished: Callable[[int], None] = lambda run_id: None,
        writes: GroupCommitter,
        stop_poll_seconds: float = 0.5,
        command_workdir: str | None = None,
    ) -> None:
        self.catalog = catalog
        self.notifier = notifier
        self.cancel = cancel
        self.stop_poll_seconds = stop_poll_seconds  # how often a running step reads the kill switch
        self.command_workdir = command_workdir  # where command steps run; None: a scratch directory each
        self.on_finished = on_finished
        self.writes = writes  # where the stages of runs are committed
        self._current = threading.local()  # the stages of the run this thread executes
        self.records = RunRecords(notifier)
        self.steps = StepExecution(
            write=self._write, durable=self._durable, records=self.records, workdir=command_workdir
        )

    def _write(self, stage: Callable[[], T]) -> Staged[T]:
        """Hand over one stage of the current run (its rows, audit rows and messages), written
        atomically and in order with the run's other stages, committed together with whatever
        stages other runs handed over meanwhile. Does not wait: see `_durable`."""
        stages: WriteAhead = self._current.stages
        return stages.write(stage)

    def _durable(self) -> None:
        """Wait until the current run's stages are committed. Called before a step reaches outside
        the bot (so a crash leaves it visible as started) and at the end of the run."""
        stages: WriteAhead = self._current.stages
        stages.durable()

    # -- one run -------------------------------------------------------------------------------

    def execute(self, run: Run) -> RunStatus:
        """Execute a run already claimed (status running); returns its terminal status."""
        self._current.stages = stages = WriteAhead(self.writes)
        self.records.begin(run)
        try:
            return self._execute(run)
        except BaseException:
            # Whoever handles the crash writes after this run's last stage, never before it.
            with contextlib.suppress(Exception):
                stages.durable()
            raise
        finally:
            self.records.forget(run)

    def _execute(self, run: Run) -> RunStatus:
        incident = incidents.get(incident_id=run.incident_id)
        if incident is None:  # cannot happen while incidents are never deleted; fail loudly
            return self._finish(run, None, RunStatus.FAILED, "The incident no longer exists")
        catalog = self.catalog()  # the version in force now: a reload from here on is not noticed
        runbook = catalog.get(run.runbook_id)
        version = {"runbook_version": runbook.version} if runbook else {}

        def started() -> None:
            audit.record(
                action=AuditAction.AUTO_RESOLUTION_ATTEMPTED,
                incident_id=incident.incident_id,
                confidence_score=incident.confidence_score,
                run_id=run.id,
                details={"runbook": run.runbook_id, "dry_run": run.dry_run, "forced": run.forced, **version},
            )
            incidents.set_resolution(
                incident_id=incident.incident_id,
                resolution_status=ResolutionStatus.RUNNING,
                status=IncidentStatus.IN_PROGRESS.value,
                deferred=True,
            )
            self.notifier.tell(build_report(run, incident, steps=()))

        self._write(started)
        if runbook is None:
            return self._finish(
                run,
                incident,
                RunStatus.FAILED,
                f"Runbook {run.runbook_id} is no longer in the runbooks file",
            )
        if run.dry_run:
            return self._dry_run(run, incident, runbook)
        return self._run_steps(run, incident, runbook, catalog)

    def _dry_run(self, run: Run, incident: Incident, runbook: Runbook) -> RunStatus:
        values = preview_scope(incident_values(incident))
        problems = 0
        for position, step in enumerate(runbook.steps, start=1):
            try:
                action = prepare(step, values).describe()
                error = None
            except PlaceholderError as exc:
                action, error = f"(cannot prepare: {exc})", str(exc)
                problems += 1
            self._write(partial(self.records.dry_step, run, incident, position, step, action, error))
        message = f"Dry run: {len(runbook.steps)} step(s) recorded, nothing executed"
        if problems:
            message += f"; {problems} step(s) could not be prepared"
        return self._finish(run, incident, RunStatus.DRY_RUN, message)

    def _run_steps(
        self, run: Run, incident: Incident, runbook: Runbook, catalog: RunbookCatalog
    ) -> RunStatus:
        category = config_store.get_category(category=incident.category)
        default_retries = category.max_retry_attempts if category else 3
        values = run_scope(incident, catalog.secrets)
        stop = RunStop(self.cancel, lambda: kill_switch_state().active, poll_seconds=self.stop_poll_seconds)
        completed: list[tuple[int, Step]] = []
        for position, step in enumerate(runbook.steps, start=1):
            where = f"before step {position} ({step.name})"
            if (reason := stop.reason(fresh=True)) is not None:
                return self._stopped(run, incident, reason, where, completed)
            retries = step.retries if step.retries is not None else default_retries
            verdict = self.steps.run(
                StepCall(run, incident, position, step, values, retries, stop, runbook.inputs)
            )
            if verdict is StepVerdict.SUCCEEDED:
                completed.append((position, step))
                continue
            if verdict is StepVerdict.SKIPPED:
                continue
            where = f"during step {position} ({step.name})"
            if verdict is StepVerdict.HALTED:
                return self._stopped(run, incident, StopReason.KILL_SWITCH, where, completed)
            if verdict is StepVerdict.CANCELLED:
                return self._stopped(run, incident, StopReason.SHUTDOWN, where, completed)
            failed = f"Step {position} ({step.name}) failed"
            # Rollbacks are automation too: with the kill switch on (or the bot stopping) none starts.
            if (reason := stop.reason(fresh=True)) is not None:
                return self._stopped(
                    run, incident, reason, f"after step {position} ({step.name}) failed", completed
                )
            rolled_back, halted = self._roll_back(run, incident, completed, values, stop)
            if halted is not None:
                reason, not_run = halted
                return self._stopped(
                    run, incident, reason, f"while rolling back ({failed}{rolled_back})", not_run
                )
            return self._finish(run, incident, RunStatus.FAILED, f"{failed}{rolled_back}")
        return self._finish(run, incident, RunStatus.RESOLVED, f"All {len(runbook.steps)} step(s) succeeded")

    def _stopped(
        self, run: Run, incident: Incident, reason: StopReason, where: str, completed: list[tuple[int, Step]]
    ) -> RunStatus:
        """End a run the kill switch or a shutdown stopped: nothing more runs, rollbacks included;
        the message says what completed and which rollbacks a person must do by hand."""
        message = (
            f"Halted by the kill switch {where}"
            if reason is StopReason.KILL_SWITCH
            else f"The bot shut down {where}"
        )
        if completed:
            message += "; completed: " + ", ".join(f"{p} ({s.name})" for p, s in completed)
        undo = [(p, s) for p, s in reversed(completed) if s.rollback]
        if undo:
            message += "; rollbacks not run: " + ", ".join(f"{p} ({s.name})" for p, s in undo)
        status = RunStatus.HALTED if reason is StopReason.KILL_SWITCH else RunStatus.INTERRUPTED
        return self._finish(run, incident, status, message)

    # -- steps ---------------------------------------------------------------------------------

    def _roll_back(
        self,
        run: Run,
        incident: Incident,
        completed: list[tuple[int, Step]],
        values: dict[str, Any],
        stop: RunStop,
    ) -> tuple[str, tuple[StopReason, list[tuple[int, Step]]] | None]:
        """Undo completed steps that have a rollback, newest first. Returns a phrase for the message,
        and, when the kill switch or a shutdown stopped it, why and the steps left not undone."""
        to_undo = [(position, step) for position, step in reversed(completed) if step.rollback]
        if not to_undo:
            return "", None
        failures = done = 0
        for index, (position, step) in enumerate(to_undo):
            assert step.rollback is not None
            if (reason := stop.reason(fresh=True)) is not None:
                return self._rolled_back_phrase(done, failures, len(to_undo)), (reason, to_undo[index:][::-1])
            if not self._run_rollback(run, incident, position, step.name, step.rollback, values, stop):
                failures += 1
            else:
                done += 1
        return self._rolled_back_phrase(done, failures, len(to_undo)), None

    @staticmethod
    def _rolled_back_phrase(done: int, failures: int, total: int) -> str:
        phrase = f"; rolled back {done} of {total} step(s)"
        return phrase + (f", {failures} rollback(s) failed" if failures else "")

    def _run_rollback(
        self,
        run: Run,
        incident: Incident,
        position: int,
        name: str,
        action: Action,
        values: dict[str, Any],
        stop: RunStop,
    ) -> bool:
        details = {"step": name, "position": position, "kind": action.kind}
        prepared: PreparedAction | None
        try:
            prepared = prepare(action, values, workdir=self.command_workdir)
            described = prepared.describe()
        except Exception as exc:
            prepared = None
            described = f"(cannot prepare: {exc if isinstance(exc, PlaceholderError) else unexpected(exc)})"

        def record_start() -> StepResult:
            audit.record(
                action=AuditAction.ROLLBACK_STARTED,
                incident_id=incident.incident_id,
                run_id=run.id,
                details=details,
            )
            return runs.start_step(
                run_id=run.id,
                position=position,
                name=name,
                kind=action.kind,
                phase="rollback",
                action=described,
            )

        started = self._write(record_start)
        if prepared is not None and prepared.reaches_outside:
            self._durable()
        outcome = run_attempt(prepared, action.timeout, stop) if prepared else None
        ok = outcome is not None and outcome.ok
        error = None if ok else (outcome.error if outcome else described)
        verdict = AuditAction.ROLLBACK_SUCCEEDED if ok else AuditAction.ROLLBACK_FAILED
        end = partial(
            self.records.end_staged, run, incident, started, verdict, {**details, "action": described}
        )
        self._write(partial(end, error=error, attempts=1, output=outcome.output if outcome else ""))
        return ok

    def _finish(self, run: Run, incident: Incident | None, status: RunStatus, message: str) -> RunStatus:
        """End the run: its status, the incident's, the audit rows and the messages, in one transaction
        (which reads nothing: what the report needs is in hand or read before)."""
        wants_dm = creator_wants_dm(incident) if incident is not None else False
        steps = self.records.ended[run.id]

        def record_end() -> RunStatus | None:
            """None, or the status the run already had when it was finished elsewhere."""
            finished_at = utcnow()
            if not runs.finish(run_id=run.id, status=status, message=message, finished_at=finished_at):
                log.warning("run %s was finished elsewhere (lease lapsed?); leaving it", run.id)
                current = runs.get(run_id=run.id)
                return RunStatus(current.status) if current else status
            run.status, run.message, run.finished_at = status, message, finished_at  # as stored
            if incident is not None:
                finish_incident(incident, status, message)
                report_outcome(self.notifier, run, incident, steps=steps, wants_dm=wants_dm)
            return None

        ended = self._write(record_end)
        self._durable()
        earlier = ended.value
        if earlier is not None:
            return earlier
        if status == RunStatus.FAILED and incident is not None:
            failure_budget.charge(incident.category, self.notifier)
        self.on_finished(run.id)
        return status
