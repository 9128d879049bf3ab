"""POST /webhooks/datadog: Datadog's webhook integration, with the payload template docs/sources.md
gives to paste (Datadog's payload is whatever the template says).

`transition` (`$ALERT_TRANSITION`) decides: `Triggered` and `Re-Triggered` become the incident
`dd-<$ALERT_CYCLE_KEY>` (one per alert cycle: a re-trigger of the same cycle is the same incident),
`Recovered` records the resolution and cancels a queued run or waiting approval, anything else (Warn,
No Data...) is answered 202 and ignored. The monitor's tags (`$TAGS`, `key:value`), its host and the
creator (`$EMAIL`, when Datadog has one) are the labels the mapping (DATADOG_* settings) reads: tag a
monitor `category:database` and `confidence:0.95`, or set the defaults. Datadog signs nothing: the
integration sends `Authorization: Bearer <DATADOG_WEBHOOK_TOKEN>` as a custom header. With no token
set the endpoint is off (404).
"""

from __future__ import annotations

import re
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from handlers.deps import ServicesDep
from handlers.schemas import IntakeAnswer
from handlers.services import Services
from handlers.webhooks.auth import Delivery
from handlers.webhooks.intake import (
    REFUSALS,
    ignored,
    parse_json,
    record_gone,
    source_off,
    take_one,
    token_refusal,
)
from handlers.webhooks.mapping import PRIORITY, source_mapping, validated

router = APIRouter(tags=["Webhooks"])

NOT_CONFIGURED = (
    "The Datadog webhook is off: set DATADOG_WEBHOOK_TOKEN (sent as a custom Authorization header)"
)
TRIGGERED = frozenset({"Triggered", "Re-Triggered"})


class DatadogPayload(BaseModel):
    """The fields of the template in docs/sources.md."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=100)  # $ALERT_CYCLE_KEY
    transition: str = Field(min_length=1, max_length=50)  # $ALERT_TRANSITION
    title: str = ""  # $EVENT_TITLE
    message: str = ""  # $TEXT_ONLY_MSG
    priority: str = ""  # $ALERT_PRIORITY
    creator: str = ""  # $EMAIL
    tags: str = ""  # $TAGS: key:value,key:value
    hostname: str = ""  # $HOSTNAME
    link: str = ""  # $LINK


def monitor_labels(payload: DatadogPayload) -> dict[str, str]:
    labels: dict[str, str] = {}
    for tag in payload.tags.split(","):
        key, _, value = tag.strip().partition(":")
        if key and value:
            labels.setdefault(key[:100], value[:1000])
    if payload.hostname:
        labels.setdefault("host", payload.hostname[:1000])
    if payload.creator:
        labels.setdefault("created_by", payload.creator[:320])
    return labels


def incident_fields(
    payload: DatadogPayload, services: Services
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    labels = monitor_labels(payload)
    cycle = re.sub(r"[^A-Za-z0-9._:\-]", "", payload.id)[:100] or "x"
    mapped, problems = source_mapping(services.settings, "datadog", "dd").read(labels, {}, dedup_key=cycle)
    fields = {
        "incident_id": f"dd-{cycle}",
        "title": (payload.title or f"Datadog alert {cycle}")[:500],
        "description": payload.message[:20_000],
        "priority": PRIORITY.get(payload.priority.upper(), "medium"),
        "source": "datadog",
        "labels": labels,
        **mapped,
    }
    return fields, [
        {"field": p["field"].replace("labels.", "tags."), "message": p["message"]} for p in problems
    ]


@router.post(
    "/webhooks/datadog",
    status_code=202,
    response_model=IntakeAnswer,
    responses={**REFUSALS, 404: {"description": "DATADOG_WEBHOOK_TOKEN is not set"}},
)
async def datadog_webhook(request: Request, services: ServicesDep) -> JSONResponse:
    """Take one Datadog monitor notification (the template in docs/sources.md): Triggered decides,
    Recovered records, others are ignored. Authenticated by `Authorization: Bearer <token>`."""
    delivery = await Delivery.read(request)
    token = services.settings.datadog_webhook_token
    if token is None:
        return await source_off(services, delivery, "Datadog", NOT_CONFIGURED)
    refused = await token_refusal(services, delivery, token, "Datadog")
    if refused is not None:
        return refused
    payload = validated(DatadogPayload, parse_json(delivery.body), "")
    fields, problems = incident_fields(payload, services)
    if payload.transition == "Recovered":
        details = {"alert_cycle": payload.id, "link": payload.link or None}
        return await anyio.to_thread.run_sync(
            record_gone, services, fields["incident_id"], "datadog", "Recovered in Datadog", details
        )
    if payload.transition not in TRIGGERED:
        return ignored(payload.transition)
    return await take_one(services, fields, problems, "", "datadog")
