"""Webhook authentication: a bearer token (what Alertmanager can send) or an HMAC signature."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import timedelta

from fastapi import Request

from engine.audit_actions import AuditAction
from handlers.auth import bearer_token
from handlers.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, matches
from settings import Settings
from storage import audit, seen_signatures
from storage.fields import utcnow


class WebhookRefused(Exception):
    """The delivery is not authenticated; the message says why (never echoing what was sent)."""


def check_delivery(settings: Settings, request: Request, body: bytes) -> str:
    """How the delivery authenticated ('bearer', 'signature', or 'open' when no auth is configured)."""
    token, secret = settings.webhook_token, settings.webhook_secret
    if token is None and secret is None:
        return "open"  # only possible on loopback: settings refuse a public bind without auth
    given_token = bearer_token(request)
    if token is not None and given_token is not None:
        if hmac.compare_digest(given_token.encode(), token.get_secret_value().encode()):
            return "bearer"
        raise WebhookRefused("wrong bearer token")
    stamp = request.headers.get(TIMESTAMP_HEADER)
    given_signature = request.headers.get(SIGNATURE_HEADER)
    if secret is None or stamp is None or given_signature is None:
        raise WebhookRefused("missing credentials: send Authorization: Bearer, or a signature")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > settings.webhook_max_skew_seconds:
        raise WebhookRefused("stale or invalid timestamp")
    if not matches(secret.get_secret_value(), stamp, body, given_signature):
        raise WebhookRefused("bad signature")
    fingerprint = hashlib.sha256(given_signature.encode()).hexdigest()
    expires = utcnow() + timedelta(seconds=2 * settings.webhook_max_skew_seconds)
    if not seen_signatures.remember(signature=fingerprint, expires_at=expires):
        raise WebhookRefused("replayed signature")
    return "signature"


def audit_refusal(request: Request, reason: str) -> None:
    """Audit a refused delivery: where from and why, never the body."""
    audit.record(
        action=AuditAction.REQUEST_REFUSED,
        actor="webhook",
        success=False,
        error_message=reason,
        details={
            "path": request.url.path,
            "client": request.client.host if request.client else None,
            "user_agent": request.headers.get("user-agent"),
        },
    )
