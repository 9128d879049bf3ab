"""GET /health: liveness plus the database's state (the seed's shape, with `database` added)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from storage.database import ping

VERSION = "0.1.0"
router = APIRouter(tags=["Health"])


@router.get("/health", responses={503: {"description": "The database does not answer (the same body)"}})
def health_check() -> JSONResponse:
    """200 while the database answers, 503 when it does not."""
    database_ok = ping()
    body = {
        "status": "healthy" if database_ok else "unhealthy",
        "service": "auto-resolution-system",
        "version": VERSION,
        "database": "ok" if database_ok else "unreachable",
    }
    return JSONResponse(status_code=200 if database_ok else 503, content=body)
