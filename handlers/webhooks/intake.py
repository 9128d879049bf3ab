"""Shared by both webhooks: authenticate, parse JSON, submit the incidents, answer 202 item by item."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastapi.responses import JSONResponse
from pydantic import SecretStr, ValidationError

from engine.errors import InvalidInput
from engine.incident import IncidentIn
from engine.submissions import Submission, SubmitRequest
from handlers.errors import TOO_DEEP, documented_errors, error_response, field_name
from handlers.schemas import IntakeRefusal
from handlers.services import Services
from handlers.webhooks.auth import (
    Delivery,
    WebhookRefused,
    accepted_without_database,
    audit_refusal,
    check_delivery,
    check_source_token,
)
from handlers.webhooks.destinations import CallbackPolicy, DestinationRefused

MAX_ITEMS = 500
# Both webhooks' error answers, for the OpenAPI document.
REFUSALS: dict[int | str, dict[str, Any]] = {
    **documented_errors(401),
    422: {"model": IntakeRefusal, "description": "The body held no incidents, or none was valid"},
}


@dataclass
class Intake:
    """What a delivery amounted to: accepted items with their decisions, rejected ones with reasons."""

    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, index: int, incident_id: object, errors: list[dict[str, str]]) -> None:
        self.rejected.append(
            {
                "index": index,
                "incident_id": incident_id if isinstance(incident_id, str) else None,
                "errors": errors,
            }
        )

    def answer(self) -> JSONResponse:
        body: dict[str, Any] = {"accepted": self.accepted, "rejected": self.rejected}
        if self.rejected and not self.accepted:
            first = self.rejected[0]["errors"][0]
            body["error"] = f"{first['field']}: {first['message']}"
            body["status_code"] = 422
            return JSONResponse(status_code=422, content=body)
        return JSONResponse(status_code=202, content=body)


async def authenticate(services: Services, delivery: Delivery) -> JSONResponse | None:
    """Like `refusal`; a bearer token (or no auth configured) is checked without leaving the loop,
    while a signature (remembered against replays) and a refusal (audited) need the database."""
    if accepted_without_database(services.settings, delivery):
        return None
    return await anyio.to_thread.run_sync(refusal, services, delivery)


def refusal(services: Services, delivery: Delivery) -> JSONResponse | None:
    """The 401 to answer if the delivery does not authenticate (the refusal audited), else None."""
    try:
        check_delivery(services.settings, delivery)
    except WebhookRefused as exc:
        audit_refusal(services.refusals, delivery, str(exc))
        return error_response(401, f"Webhook refused: {exc}", headers={"WWW-Authenticate": "Bearer"})
    return None


def parse_json(body: bytes) -> Any:
    """The JSON document, or InvalidInput naming where it broke."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput("body", f"invalid JSON: {exc}") from None
    except RecursionError:
        raise InvalidInput("body", TOO_DEEP) from None


def validation_errors(exc: ValidationError, prefix: str) -> list[dict[str, str]]:
    return [
        {"field": prefix + field_name(("body", *e["loc"])), "message": e["msg"].removeprefix("Value error, ")}
        for e in exc.errors()
    ]


def validate_incident(
    item: Any, index: int, prefix: str, intake: Intake, policy: CallbackPolicy
) -> IncidentIn | None:
    try:
        incident = IncidentIn.model_validate(item)
    except ValidationError as exc:
        incident_id = item.get("incident_id") if isinstance(item, dict) else None
        intake.reject(index, incident_id, validation_errors(exc, prefix))
        return None
    try:
        check_callback(incident, policy)
    except InvalidInput as exc:
        intake.reject(index, incident.incident_id, [{"field": prefix + exc.field, "message": exc.message}])
        return None
    return incident


def check_callback(incident: IncidentIn, policy: CallbackPolicy) -> None:
    """InvalidInput naming callback_url if it points where callbacks may not go (checked again,
    with DNS, when the result is sent)."""
    if incident.callback_url is not None:
        try:
            policy.check_syntax(incident.callback_url)
        except DestinationRefused as exc:
            raise InvalidInput(
                "callback_url", f"not allowed: {exc} (CALLBACK_ALLOWED_HOSTS opens it)"
            ) from None


def requests_of(items: list[tuple[int, IncidentIn, str]], actor: str) -> list[SubmitRequest]:
    return [SubmitRequest(incident, actor) for _, incident, _ in items]


def record_outcomes(
    items: list[tuple[int, IncidentIn, str]], outcomes: list[Submission | InvalidInput], intake: Intake
) -> None:
    """Each submitted item accepted with its decision, or rejected (an unknown category) by name."""
    for (index, incident, prefix), outcome in zip(items, outcomes, strict=True):
        if isinstance(outcome, InvalidInput):
            intake.reject(
                index, incident.incident_id, [{"field": prefix + outcome.field, "message": outcome.message}]
            )
            continue
        intake.accepted.append(
            {
                "index": index,
                "incident_id": outcome.incident_id,
                "decision": outcome.decision.outcome.value,
                "reason": outcome.decision.reason,
                "run_id": outcome.run_id,
                "new": outcome.created,
            }
        )


async def submit_all(
    services: Services, items: list[tuple[int, IncidentIn, str]], actor: str, intake: Intake
) -> None:
    """Submit the incidents at the intake door; the event loop waits for the decision without a thread."""
    if items:
        outcomes = await asyncio.wrap_future(services.resolution.decide(requests_of(items, actor)))
        record_outcomes(items, outcomes, intake)


async def take_one(
    services: Services, fields: dict[str, Any], problems: list[dict[str, str]], prefix: str, source: str
) -> JSONResponse:
    """One incident a source's event maps to: rejected by name if its mapping left gaps or it does
    not validate, else decided at the intake door; the answer as for any delivery."""
    intake = Intake()
    if problems:
        intake.reject(0, fields.get("incident_id"), problems)
        return intake.answer()
    incident = validate_incident(fields, 0, prefix, intake, services.callback_policy)
    if incident is not None:
        await submit_all(services, [(0, incident, prefix)], source, intake)
    return intake.answer()


def record_gone(
    services: Services, incident_id: str, source: str, reason: str, details: dict[str, Any]
) -> JSONResponse:
    """The source says the incident is over: recorded, and a queued run or waiting approval is
    cancelled (the engine's rule); call from a worker thread."""
    decision = services.resolution.source_resolved(incident_id, actor=source, reason=reason, details=details)
    intake = Intake()
    intake.accepted.append(
        {
            "index": 0,
            "incident_id": incident_id,
            "decision": decision.outcome.value,
            "reason": decision.reason,
            "run_id": None,
            "new": False,
        }
    )
    return intake.answer()


def ignored(kind: str) -> JSONResponse:
    """An event of a kind that changes nothing here: answered, not recorded."""
    return JSONResponse(status_code=202, content={"accepted": [], "rejected": [], "ignored": kind})


async def source_off(services: Services, delivery: Delivery, source: str, message: str) -> JSONResponse:
    """The 404 of a source whose secret is not set (nothing unsigned is taken, from anywhere),
    audited like any refusal."""
    await anyio.to_thread.run_sync(audit_refusal, services.refusals, delivery, f"{source} webhook: off")
    return error_response(404, message)


async def token_refusal(
    services: Services, delivery: Delivery, token: SecretStr, source: str
) -> JSONResponse | None:
    """For a source that signs nothing: the 401 (audited) unless its integration sent our token as
    `Authorization: Bearer <token>`, else None."""
    try:
        check_source_token(token, delivery)
    except WebhookRefused as exc:
        await anyio.to_thread.run_sync(audit_refusal, services.refusals, delivery, f"{source} webhook: {exc}")
        return error_response(401, f"Webhook refused: {exc}", headers={"WWW-Authenticate": "Bearer"})
    return None
