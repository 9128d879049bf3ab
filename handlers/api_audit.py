"""REST: query the audit trail (read only; reading never changes it)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from engine.audit_actions import AuditAction
from engine.audit_trail import AuditFilter, search, trail
from engine.incident import INCIDENT_ID_PATTERN
from engine.text import Line
from handlers.auth import require_api_token
from handlers.errors import documented_errors
from handlers.reads import run_read
from handlers.schemas import AuditLogEntry
from handlers.serializers import audit_view


def as_json(entries: list[AuditLogEntry]) -> Response:
    """Serialise once: the entries are already validated models (FastAPI would check them again)."""
    body = b"[" + b",".join(entry.__pydantic_serializer__.to_json(entry) for entry in entries) + b"]"
    return Response(content=body, media_type="application/json")


router = APIRouter(
    prefix="/api/v1/audit",
    tags=["Audit"],
    dependencies=[Depends(require_api_token)],
    responses=documented_errors(401, 422),
)


@router.get("", response_model=list[AuditLogEntry])
async def query_audit_log(
    incident_id: Annotated[Line | None, Query(max_length=128)] = None,
    action: AuditAction | None = None,
    actor: Annotated[Line | None, Query(max_length=320)] = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """Audit rows matching every filter given, newest first."""
    wanted = AuditFilter(
        incident_id=incident_id,
        action=action.value if action else None,
        actor=actor,
        start_date=start_date,
        end_date=end_date,
        limit=limit,
        offset=offset,
    )
    wanted.check()
    return await run_read(lambda: as_json([audit_view(r) for r in search(wanted)]), bounded=wanted.bounded)


@router.get("/incident/{incident_id}", response_model=list[AuditLogEntry])
async def get_incident_audit_trail(
    incident_id: Annotated[str, Path(pattern=INCIDENT_ID_PATTERN)],
) -> Response:
    """An incident's whole trail in the order it happened (empty if the incident is unknown)."""
    return await run_read(
        lambda: as_json([audit_view(r) for r in trail(incident_id)]),
        bounded=True,  # indexed by (incident_id, id), at most 1,000 rows
    )
