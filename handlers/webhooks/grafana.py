"""POST /webhooks/grafana: Grafana Alerting's webhook contact point (payload `"version": "1"`).

Grafana sends Alertmanager's shape with fields of its own (orgId, title, state, message; per alert
dashboardURL, panelURL, values...): its alerts become incidents by the same rules as Alertmanager's
(one code path, `take_alerts`), with the GRAFANA_* mapping settings and ids `gf-<fingerprint>-<start>`.

Authenticated by the contact point's HMAC signature: `X-Grafana-Alerting-Signature` holds the hex
HMAC-SHA256 of the raw body under GRAFANA_WEBHOOK_SECRET, or of `<timestamp>:<body>` when the contact
point names a timestamp header (set the same name in GRAFANA_WEBHOOK_TIMESTAMP_HEADER). With a
timestamp, a delivery more than WEBHOOK_MAX_SKEW_SECONDS off is refused and a signature is taken once;
without one nothing dates a delivery, so a copy sent again is taken again (it is the same incident:
it never runs twice). With no secret set the endpoint is off: 404, saying which setting turns it on.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import timedelta

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from engine.replays import first_use
from handlers.deps import ServicesDep
from handlers.errors import error_response
from handlers.schemas import IntakeAnswer
from handlers.services import Services
from handlers.webhooks.alertmanager import take_alerts
from handlers.webhooks.auth import Delivery, WebhookRefused, audit_refusal
from handlers.webhooks.intake import REFUSALS, source_off
from handlers.webhooks.mapping import source_mapping
from settings import Settings

router = APIRouter(tags=["Webhooks"])

SIGNATURE_HEADER = "X-Grafana-Alerting-Signature"
NOT_CONFIGURED = "The Grafana webhook is off: set GRAFANA_WEBHOOK_SECRET (the contact point's HMAC secret)"


def grafana_signed(settings: Settings, delivery: Delivery) -> None:
    """WebhookRefused unless the delivery carries Grafana's signature under our secret (and, with a
    timestamp header configured, a fresh timestamp and a signature not taken before)."""
    assert settings.grafana_webhook_secret is not None
    given = delivery.headers.get(SIGNATURE_HEADER, "").strip().lower()
    if not given:
        raise WebhookRefused(f"missing {SIGNATURE_HEADER}")
    signed = delivery.body
    stamp_header = settings.grafana_webhook_timestamp_header
    if stamp_header:
        stamp = delivery.headers.get(stamp_header, "").strip()
        fresh = stamp.isascii() and stamp.isdigit() and len(stamp) <= 12
        if not fresh or abs(time.time() - int(stamp)) > settings.webhook_max_skew_seconds:
            raise WebhookRefused(f"missing, stale or invalid {stamp_header}")
        signed = f"{stamp}:".encode() + delivery.body
    key = settings.grafana_webhook_secret.get_secret_value().encode()
    expected = hmac.new(key, signed, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise WebhookRefused("bad signature")
    remember_for = timedelta(seconds=2 * settings.webhook_max_skew_seconds)
    if stamp_header and not first_use("grafana", given, remember_for=remember_for):
        raise WebhookRefused("replayed signature")


def refusal(services: Services, delivery: Delivery) -> JSONResponse | None:
    """The 401 to answer if the delivery is not Grafana's (the refusal audited), else None."""
    try:
        grafana_signed(services.settings, delivery)
    except WebhookRefused as exc:
        audit_refusal(services.refusals, delivery, f"Grafana webhook: {exc}")
        return error_response(401, f"Webhook refused: {exc}")
    return None


@router.post(
    "/webhooks/grafana",
    status_code=202,
    response_model=IntakeAnswer,
    responses={**REFUSALS, 404: {"description": "GRAFANA_WEBHOOK_SECRET is not set"}},
)
async def grafana_webhook(request: Request, services: ServicesDep) -> JSONResponse:
    """Take Grafana Alerting's webhook: each firing alert becomes an incident, resolved ones are
    recorded. Signed with the contact point's HMAC secret (GRAFANA_WEBHOOK_SECRET)."""
    delivery = await Delivery.read(request)
    if services.settings.grafana_webhook_secret is None:  # off: nothing from anywhere is taken
        return await source_off(services, delivery, "Grafana", NOT_CONFIGURED)
    refused = await anyio.to_thread.run_sync(refusal, services, delivery)
    if refused is not None:
        return refused
    mapping = source_mapping(services.settings, "grafana", "gf")
    return await take_alerts(services, delivery.body, mapping)
