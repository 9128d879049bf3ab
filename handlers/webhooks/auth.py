"""Webhook authentication: a bearer token (what Alertmanager can send) or an HMAC signature."""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from pydantic import SecretStr

from engine.replays import first_use
from handlers.auth import bearer_from, forwarded_by_proxy
from handlers.refusals import RefusalLog
from handlers.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, matches
from settings import Settings


@dataclass(frozen=True)
class Delivery:
    """What authentication needs of a webhook request, so the work can leave the event loop."""

    path: str
    client: str | None
    headers: Mapping[str, str]
    body: bytes

    @classmethod
    async def read(cls, request: Request) -> Delivery:
        return cls(
            path=request.scope["path"],  # not request.url: that parses the whole URL again
            client=request.client.host if request.client else None,
            headers=request.headers,
            body=await request.body(),
        )


class WebhookRefused(Exception):
    """The delivery is not authenticated; the message says why (never echoing what was sent)."""


def accepted_without_database(settings: Settings, delivery: Delivery) -> bool:
    """True when the delivery is accepted by a cheap check alone: no auth configured, or the right
    bearer token. Anything else (a signature, a refusal) goes through `check_delivery`."""
    token = settings.webhook_token
    if token is None and settings.webhook_secret is None:
        return forwarded_by_proxy(delivery.headers) is None
    given_token = bearer_from(delivery.headers)
    return (
        token is not None
        and given_token is not None
        and hmac.compare_digest(given_token.encode(), token.get_secret_value().encode())
    )


def check_delivery(settings: Settings, delivery: Delivery) -> str:
    """How the delivery authenticated ('bearer', 'signature', or 'open' when no auth is configured)."""
    token, secret = settings.webhook_token, settings.webhook_secret
    if token is None and secret is None:
        # Only possible on loopback (settings refuse a public bind without auth): this machine's.
        proxy = forwarded_by_proxy(delivery.headers)
        if proxy is not None:
            raise WebhookRefused(f"no WEBHOOK_TOKEN or WEBHOOK_SECRET, and it came through a proxy ({proxy})")
        return "open"
    given_token = bearer_from(delivery.headers)
    if token is not None and given_token is not None:
        if hmac.compare_digest(given_token.encode(), token.get_secret_value().encode()):
            return "bearer"
        raise WebhookRefused("wrong bearer token")
    stamp = delivery.headers.get(TIMESTAMP_HEADER)
    given_signature = delivery.headers.get(SIGNATURE_HEADER)
    if secret is None or stamp is None or given_signature is None:
        raise WebhookRefused("missing credentials: send Authorization: Bearer, or a signature")
    # isdigit() alone takes "²" (then int() raises) and 4,301 digits (beyond int()'s limit).
    well_formed = stamp.isascii() and stamp.isdigit() and len(stamp) <= 12
    if not well_formed or abs(time.time() - int(stamp)) > settings.webhook_max_skew_seconds:
        raise WebhookRefused("stale or invalid timestamp")
    if not matches(secret.get_secret_value(), stamp, delivery.body, given_signature):
        raise WebhookRefused("bad signature")
    remember_for = timedelta(seconds=2 * settings.webhook_max_skew_seconds)
    if not first_use("webhook", given_signature, remember_for=remember_for):
        raise WebhookRefused("replayed signature")
    return "signature"


def check_source_token(expected: SecretStr, delivery: Delivery) -> None:
    """WebhookRefused unless the delivery carries `Authorization: Bearer <expected>` (for a source
    that signs nothing, its integration sends the token as a custom header)."""
    given = bearer_from(delivery.headers)
    if given is None:
        raise WebhookRefused("missing bearer token")
    if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise WebhookRefused("wrong bearer token")


def audit_refusal(refusals: RefusalLog, delivery: Delivery, reason: str) -> None:
    """Audit a refused delivery: where from and why, never the body."""
    details: dict[str, object] = {
        "path": delivery.path,
        "client": delivery.client,
        "user_agent": delivery.headers.get("user-agent"),
    }
    refusals.record(reason, details, actor="webhook")
