"""POST /webhooks/incidents: one incident or a list, in the seed's shape plus routing fields."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from engine.errors import InvalidInput
from engine.incident import IncidentIn
from handlers.deps import ServicesDep
from handlers.schemas import IntakeAnswer
from handlers.webhooks.auth import Delivery
from handlers.webhooks.destinations import CallbackPolicy
from handlers.webhooks.intake import (
    MAX_ITEMS,
    REFUSALS,
    Intake,
    authenticate,
    parse_json,
    submit_all,
    validate_incident,
)

router = APIRouter(tags=["Webhooks"])

REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/IncidentIn"},
                    {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/IncidentIn"},
                        "maxItems": MAX_ITEMS,
                    },
                ]
            }
        }
    },
}


@router.post(
    "/webhooks/incidents",
    status_code=202,
    response_model=IntakeAnswer,
    openapi_extra={"requestBody": REQUEST_BODY},
    responses=REFUSALS,
)
async def incidents_webhook(request: Request, services: ServicesDep) -> JSONResponse:
    """Take incidents from a monitoring or ticketing tool; answer 202 at once with each one's decision.

    Authenticate with `Authorization: Bearer <WEBHOOK_TOKEN>`, or sign with WEBHOOK_SECRET
    (`X-Autoresolve-Timestamp`, `X-Autoresolve-Signature: v1=<hex HMAC-SHA256 of "v1:<ts>:<body>">`).
    A batch with invalid items accepts the valid ones and names what is wrong with the others.
    Delivering the same incident again is recognised: it never runs twice.
    """
    delivery = await Delivery.read(request)
    refused = await authenticate(services, delivery)
    if refused is not None:
        return refused
    intake, valid = read_incidents(delivery.body, services.callback_policy)
    await submit_all(services, valid, "webhook", intake)
    return intake.answer()


def read_incidents(body: bytes, policy: CallbackPolicy) -> tuple[Intake, list[tuple[int, IncidentIn, str]]]:
    """Parse and validate one incident or a list; the invalid ones are already rejected in the intake."""
    document = parse_json(body)
    many = isinstance(document, list)
    raw_items = document if many else [document]
    if not raw_items:
        raise InvalidInput("body", "an empty list: send one incident or a list of them")
    if len(raw_items) > MAX_ITEMS:
        raise InvalidInput("body", f"at most {MAX_ITEMS} incidents per delivery")
    intake = Intake()
    valid: list[tuple[int, IncidentIn, str]] = []
    for index, item in enumerate(raw_items):
        prefix = f"[{index}]." if many else ""
        if not isinstance(item, dict):
            intake.reject(
                index, None, [{"field": prefix.rstrip(".") or "body", "message": "expected an object"}]
            )
            continue
        incident = validate_incident(item, index, prefix, intake, policy)
        if incident is not None:
            valid.append((index, incident, prefix))
    return intake, valid
