"""POST /webhooks/incidents: one incident or a list, in the seed's shape plus routing fields."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from engine.errors import InvalidInput
from engine.incident import IncidentIn
from handlers.deps import runtime_of
from handlers.webhooks.auth import Delivery
from handlers.webhooks.intake import MAX_ITEMS, Intake, parse_json, refusal, submit_all, validate_incident
from runtime import Runtime

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
    openapi_extra={"requestBody": REQUEST_BODY},
    responses={401: {"description": "Not authenticated"}, 422: {"description": "No incident was valid"}},
)
async def incidents_webhook(request: Request) -> JSONResponse:
    """Take incidents from a monitoring or ticketing tool; answer 202 at once with each one's decision.

    Authenticate with `Authorization: Bearer <WEBHOOK_TOKEN>`, or sign with WEBHOOK_SECRET
    (`X-Autoresolve-Timestamp`, `X-Autoresolve-Signature: v1=<hex HMAC-SHA256 of "v1:<ts>:<body>">`).
    A batch with invalid items accepts the valid ones and names what is wrong with the others.
    Delivering the same incident again is recognised: it never runs twice.
    """
    delivery = await Delivery.read(request)
    return await anyio.to_thread.run_sync(take_incidents, runtime_of(request), delivery)


def take_incidents(runtime: Runtime, delivery: Delivery) -> JSONResponse:
    """Authenticate, validate and submit, in one worker thread (one hop off the event loop)."""
    refused = refusal(runtime, delivery)
    if refused is not None:
        return refused
    document = parse_json(delivery.body)
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
        incident = validate_incident(item, index, prefix, intake)
        if incident is not None:
            valid.append((index, incident, prefix))
    submit_all(runtime, valid, "webhook", intake)
    return intake.answer()
