"""POST /slack/events: commands, button clicks and events, dispatched to Bolt in a worker thread.

Bolt's App is synchronous; dispatching it on the event loop (as the stock FastAPI adapter does)
would make every other request wait behind a slow Slack request. The signature is checked first,
on the raw body, before anything parses it: a request with a missing, malformed, bad or stale one
(401), or one already taken (a replay within Slack's five minutes, 401), is audited and goes no
further. A signed but malformed one (handlers/slack/payloads) is refused before Bolt reads it;
without SLACK_SIGNING_SECRET (Socket Mode only) nothing arriving here can be verified, so nothing
is taken.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk.signature import SignatureVerifier

from engine.replays import first_use
from handlers.auth import audit_refused
from handlers.deps import services_of
from handlers.errors import error_response
from handlers.slack.listeners import payloads
from handlers.thread_limits import ThreadLimit

router = APIRouter(tags=["Slack"])
_dispatchers = ThreadLimit(32, "slack-requests")


@router.post("/slack/events", include_in_schema=False)
async def slack_events(request: Request) -> Response:
    bolt = services_of(request).bolt
    if bolt is None:
        return error_response(404, "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET")
    secret = services_of(request).settings.slack_signing_secret
    if secret is None:
        await audit_refused(request, "Slack request over HTTP without SLACK_SIGNING_SECRET (Socket Mode)")
        return error_response(
            404, "Slack requests come over Socket Mode here; set SLACK_SIGNING_SECRET to take them over HTTP"
        )
    verifier = SignatureVerifier(secret.get_secret_value())
    body = await request.body()
    query, headers = dict(request.query_params), dict(request.headers)
    if not signed(verifier, body, headers):
        await audit_refused(request, "Slack request with a missing, bad or stale signature")
        return Response(status_code=401)
    if not await _dispatchers.run(first_time, headers["x-slack-signature"]):
        await audit_refused(request, "Slack request replayed (its signature was taken already)")
        return Response(status_code=401)
    answer = await _dispatchers.run(dispatch, bolt, body, query, headers)
    if answer.status == 401:
        await audit_refused(request, "Slack request with a missing, bad or stale signature")
    return Response(
        status_code=answer.status,
        content=answer.body,
        headers=answer.first_headers_without_set_cookie(),
    )


SLACK_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
REPLAY_MEMORY = timedelta(minutes=10)  # Slack's window is five minutes either way


def signed(verifier: SignatureVerifier, body: bytes, headers: dict[str, str]) -> bool:
    """Whether the raw body carries Slack's signature, fresh; a timestamp that is not a number (or
    is absurdly long) is as bad as a wrong signature."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not SLACK_TIMESTAMP.match(timestamp) or not signature.isascii():
        return False
    return verifier.is_valid(body, timestamp, signature)


def first_time(signature: str) -> bool:
    """Remember a taken signature; false if it was taken before (a replay)."""
    return first_use("slack", signature, remember_for=REPLAY_MEMORY)


def dispatch(bolt: App, body: bytes, query: dict[str, str], headers: dict[str, str]) -> BoltResponse:
    """Bolt's answer to a signed request; one that is malformed (payloads.shape_problem, or a body
    Bolt cannot even read: it raises as it builds the request) is refused here with 400 naming the
    fault, before Bolt reads it."""
    text = body.decode("utf-8", errors="replace")
    bolt_headers: dict[str, str | Sequence[str]] = dict(headers)
    try:
        request = BoltRequest(body=text, query=query, headers=bolt_headers)
    except Exception:  # whatever Bolt's reading of a malformed body raises
        return payloads.refuse(payloads.unreadable(text), None)
    problem = payloads.shape_problem(request.body)
    if problem is None:
        return bolt.dispatch(request)
    return payloads.refuse(problem, payloads.kind_of(request.body))
