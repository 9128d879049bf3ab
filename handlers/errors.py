"""One place that turns every error into a JSON answer: 4xx naming the field, never a stack trace."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import peewee
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.errors import Conflict, EngineError, InvalidInput, NotAuthorized, NotFound
from handlers.auth import api_caller, audit_refused
from handlers.schemas import ErrorBody

log = logging.getLogger(__name__)

ENGINE_STATUS = {InvalidInput: 422, NotFound: 404, NotAuthorized: 403, Conflict: 409}
READS = frozenset({"GET", "HEAD", "OPTIONS"})
NOT_TEXT = "invalid JSON: not UTF-8 text"
TOO_DEEP = "invalid JSON: nested too deeply"
ERROR_MEANINGS = {
    400: "The request contradicts itself",
    401: "Missing or wrong credentials",
    404: "Not found",
    422: "Invalid input: each field at fault is named",
}


def documented_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error answers, in the one shape every error answer has."""
    return {status: {"model": ErrorBody, "description": ERROR_MEANINGS[status]} for status in statuses}


def error_response(
    status: int,
    message: str,
    fields: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": message, "status_code": status}
    if fields:
        body["fields"] = fields
    return JSONResponse(status_code=status, content=body, headers=headers)


def field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 0, 'confidence_score') -> '[0].confidence_score'; ('query', 'limit') -> 'limit'."""
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header") else list(loc)
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def _validation_fields(exc: RequestValidationError) -> list[dict[str, str]]:
    fields = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if error.get("type") == "json_invalid":  # its loc is ("body", the character it broke at)
            reason = error.get("ctx", {}).get("error", "cannot be parsed")
            fields.append({"field": "body", "message": f"invalid JSON at character {loc[-1]}: {reason}"})
            continue
        fields.append({"field": field_name(loc), "message": message})
    return fields


def refused_action(request: Request) -> bool:
    """Whether an engine error answers an action asked of the REST API (audited as refused). A read is
    no action; a malformed webhook delivery is its sender's fault, answered with the fields at fault
    (its refused authentication is audited apart, handlers/webhooks/auth.py)."""
    return request.method not in READS and request.url.path.startswith("/api/")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = _validation_fields(exc)
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        return error_response(422, summary or "invalid request", fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, UnicodeDecodeError):  # FastAPI's 400 for a body it cannot decode
            return error_response(422, f"body: {NOT_TEXT}", [{"field": "body", "message": NOT_TEXT}])
        if isinstance(exc.__cause__, RecursionError):  # ... and for one nested past the parser's depth
            return error_response(422, f"body: {TOO_DEEP}", [{"field": "body", "message": TOO_DEEP}])
        return error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(EngineError)
    async def _engine_error(request: Request, exc: EngineError) -> JSONResponse:
        status = next((code for cls, code in ENGINE_STATUS.items() if isinstance(exc, cls)), 400)
        if refused_action(request) and not exc.audited:
            try:
                await audit_refused(request, str(exc), api_caller(request))
            except Exception:  # the caller still gets its answer; the log says what was not audited
                log.exception("could not audit a refused %s %s", request.method, request.url.path)
        if isinstance(exc, InvalidInput):
            return error_response(status, str(exc), [{"field": exc.field, "message": exc.message}])
        return error_response(status, str(exc))

    @app.exception_handler(peewee.OperationalError)
    @app.exception_handler(peewee.InterfaceError)
    async def _database_down(request: Request, exc: Exception) -> JSONResponse:
        log.error("database error on %s %s: %s", request.method, request.url.path, exc)
        return error_response(503, "The database is unavailable; retry shortly", headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        error_id = uuid.uuid4().hex[:8]
        log.exception("unhandled error %s on %s %s", error_id, request.method, request.url.path)
        return error_response(500, f"Internal server error (id {error_id}); the details are in the bot's log")
