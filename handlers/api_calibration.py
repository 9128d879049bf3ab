"""REST: the calibration report (does each category's confidence mean what it says?), and a
person's word on whether an incident was fixed."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict

from engine import outcomes
from engine.calibration import CategoryCalibration, calibration_report, window_start
from engine.incident import CATEGORY_PATTERN, INCIDENT_ID_PATTERN
from engine.text import Line
from handlers.auth import api_caller, require_api_token
from handlers.deps import ServicesDep
from handlers.errors import documented_errors
from handlers.reads import run_read

router = APIRouter(
    tags=["Calibration"], dependencies=[Depends(require_api_token)], responses=documented_errors(401, 422)
)


class OutcomeCorrection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fixed: bool


class OutcomeAnswer(BaseModel):
    incident_id: str
    fixed: bool
    by: str


@router.get("/api/v1/reports/calibration", response_model=list[CategoryCalibration])
async def calibration(
    services: ServicesDep,
    category: Annotated[str | None, Query(pattern=CATEGORY_PATTERN, max_length=64)] = None,
    since: Annotated[Line, Query(max_length=20, description="How far back: 30d, 12h, ...")] = "30d",
) -> list[CategoryCalibration]:
    """Per category: the reliability table by confidence band, the calibration error, the false
    resolutions at the current threshold with their upper bound, and the threshold the evidence supports."""
    start = window_start(since)
    policy = services.calibration_policy
    return await run_read(lambda: calibration_report(start, category=category, policy=policy), bounded=False)


@router.post(
    "/api/v1/incidents/{incident_id}/outcome", response_model=OutcomeAnswer, responses=documented_errors(404)
)
async def correct_outcome(
    request: Request,
    incident_id: Annotated[str, Path(pattern=INCIDENT_ID_PATTERN)],
    correction: OutcomeCorrection,
) -> OutcomeAnswer:
    """Say whether the incident was in the end fixed; it replaces what was recorded (audited)."""
    actor = api_caller(request)
    await anyio.to_thread.run_sync(lambda: outcomes.correct(incident_id, fixed=correction.fixed, actor=actor))
    return OutcomeAnswer(incident_id=incident_id, fixed=correction.fixed, by=actor)
