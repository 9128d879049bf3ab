"""REST: auto-resolve one incident or a batch (the seed's endpoints), and read an incident's state."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import anyio
from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from engine.errors import InvalidInput
from engine.incident import INCIDENT_ID_PATTERN, IncidentIn
from engine.service import ResolutionService
from engine.submissions import Submission, SubmitRequest
from engine.text import Line
from handlers.auth import api_caller, require_api_token
from handlers.deps import ResolutionDep, ServicesDep
from handlers.errors import documented_errors, error_response
from handlers.schemas import IncidentDetail, IncidentResolutionResponse
from handlers.serializers import incident_detail, step_view
from handlers.thread_limits import ThreadLimit
from handlers.webhooks.intake import check_callback
from storage.statuses import TERMINAL_RUN_STATUSES, RunStatus

router = APIRouter(
    prefix="/api/v1/incidents",
    tags=["Incidents"],
    dependencies=[Depends(require_api_token)],
    responses=documented_errors(401, 422),
)

MAX_INCIDENTS_PER_REQUEST = 100
# Waiting for runs holds a thread each; this many may wait at once without starving other requests.
_waiters = ThreadLimit(200, "run-waits")
IncidentPath = Annotated[str, Path(pattern=INCIDENT_ID_PATTERN)]


def _outcome(
    resolution: ResolutionService, submission: Submission, wait_seconds: float
) -> tuple[int, IncidentResolutionResponse]:
    """Wait (bounded) for the submission's run and describe where it ended up."""
    decision = submission.decision
    if submission.run_id is None:
        return 200, IncidentResolutionResponse(
            incident_id=submission.incident_id,
            success=False,
            message=decision.reason,
            status=decision.outcome.value,
            runbook=decision.runbook_id,
        )
    run, steps = resolution.wait_for_steps(submission.run_id, wait_seconds)
    finished = run.status in TERMINAL_RUN_STATUSES
    message = (
        run.message
        if finished
        else (f"Run {run.id} is {run.status}; see GET /api/v1/incidents/{submission.incident_id}")
    )
    return (200 if finished else 202), IncidentResolutionResponse(
        incident_id=submission.incident_id,
        success=run.status == RunStatus.RESOLVED,
        message=message or "",
        resolution_steps=[step_view(s) for s in steps],
        resolved_at=run.finished_at if run.status == RunStatus.RESOLVED else None,
        status=run.status,
        run_id=run.id,
        runbook=run.runbook_id,
    )


@router.post(
    "/{incident_id}/auto-resolve",
    response_model=IncidentResolutionResponse,
    responses={
        202: {"model": IncidentResolutionResponse, "description": "Still running after the wait"},
        **documented_errors(400),
    },
)
async def auto_resolve_incident(
    request: Request,
    services: ServicesDep,
    incident_id: IncidentPath,
    incident: IncidentIn,
    force: Annotated[bool, Query(description="Run even below the confidence threshold")] = False,
    actor: Annotated[
        Line | None, Query(max_length=320, description="On whose behalf (recorded as on_behalf_of)")
    ] = None,
) -> JSONResponse:
    """Decide on the incident and, if it passes the gates, run its runbook.

    Answers with the outcome when the run ends within AUTO_RESOLVE_WAIT_SECONDS (30 s by default),
    otherwise 202 with the run's status; GET /api/v1/incidents/{incident_id} shows it at any time.
    """
    if incident.incident_id != incident_id:
        message = f"incident_id: the path says {incident_id!r}, the body says {incident.incident_id!r}"
        return error_response(400, message, [{"field": "incident_id", "message": "does not match the path"}])
    check_callback(incident, services.callback_policy)
    asked = SubmitRequest(incident, api_caller(request), force=force, by_person=True, on_behalf_of=actor)
    [submission] = await asyncio.wrap_future(services.resolution.decide([asked]))
    if isinstance(submission, InvalidInput):
        raise submission
    status, body = await _waiters.run(
        _outcome, services.resolution, submission, services.settings.auto_resolve_wait_seconds
    )
    return JSONResponse(status_code=status, content=body.model_dump(mode="json"))


@router.post("/batch-resolve", response_model=list[IncidentResolutionResponse])
async def batch_auto_resolve(
    request: Request,
    services: ServicesDep,
    incidents: Annotated[list[IncidentIn], Body(max_length=MAX_INCIDENTS_PER_REQUEST)],
    actor: Annotated[
        Line | None, Query(max_length=320, description="On whose behalf (recorded as on_behalf_of)")
    ] = None,
) -> list[IncidentResolutionResponse]:
    """Decide on each incident in order; wait for the runs together within the same bounded wait."""
    seen: set[str] = set()
    for index, incident in enumerate(incidents):
        if incident.incident_id in seen:
            raise InvalidInput(
                f"[{index}].incident_id", f"{incident.incident_id!r} appears twice in the batch"
            )
        seen.add(incident.incident_id)
        try:
            check_callback(incident, services.callback_policy)
        except InvalidInput as exc:
            raise InvalidInput(f"[{index}].{exc.field}", exc.message) from None

    def check_categories() -> None:  # the whole batch is refused before anything of it is written
        for index, incident in enumerate(incidents):
            services.resolution.check_category(incident.category, f"[{index}].category")

    await anyio.to_thread.run_sync(check_categories)
    caller = api_caller(request)
    requests = [SubmitRequest(i, caller, by_person=True, on_behalf_of=actor) for i in incidents]
    decided = await asyncio.wrap_future(services.resolution.decide(requests))  # one transaction
    submissions = [s for s in decided if isinstance(s, Submission)]
    if len(submissions) != len(decided):  # a category removed since the check: refused by name
        raise next(s for s in decided if isinstance(s, InvalidInput))
    deadline = time.monotonic() + services.settings.auto_resolve_wait_seconds

    def outcomes() -> list[IncidentResolutionResponse]:
        return [
            _outcome(services.resolution, s, max(0.0, deadline - time.monotonic()))[1] for s in submissions
        ]

    return await _waiters.run(outcomes)


@router.get("/{incident_id}", response_model=IncidentDetail, responses=documented_errors(404))
def get_incident(resolution: ResolutionDep, incident_id: IncidentPath) -> IncidentDetail:
    """The incident, where it stands in the resolution lifecycle, and its latest run's steps."""
    view = resolution.view(incident_id)
    return incident_detail(view.incident, view.run, view.steps)
