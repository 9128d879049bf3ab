"""POST /slack/events: commands, button clicks and events, dispatched to Bolt in a worker thread.

Bolt's App is synchronous; dispatching it on the event loop (as the stock FastAPI adapter does)
would make every other request wait behind a slow Slack request. A request Bolt refuses (a bad or
stale signature) is audited, and so is a malformed one (handlers/slack/payloads), refused before
Bolt reads it; without SLACK_SIGNING_SECRET (Socket Mode only) nothing arriving here can be
verified, so nothing is taken.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk.signature import SignatureVerifier

from handlers.auth import audit_refused
from handlers.deps import runtime_of
from handlers.errors import error_response
from handlers.slack import payloads
from handlers.thread_limits import ThreadLimit

router = APIRouter(tags=["Slack"])
_dispatchers = ThreadLimit(32)


@router.post("/slack/events", include_in_schema=False)
async def slack_events(request: Request) -> Response:
    bolt: App | None = getattr(request.app.state, "bolt", None)
    if bolt is None:
        return error_response(404, "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET")
    secret = runtime_of(request).settings.slack_signing_secret
    if secret is None:
        await audit_refused(request, "Slack request over HTTP without SLACK_SIGNING_SECRET (Socket Mode)")
        return error_response(
            404, "Slack requests come over Socket Mode here; set SLACK_SIGNING_SECRET to take them over HTTP"
        )
    verifier = SignatureVerifier(secret.get_secret_value())
    body = await request.body()
    query, headers = dict(request.query_params), dict(request.headers)
    answer = await anyio.to_thread.run_sync(
        dispatch, bolt, verifier, body, query, headers, limiter=_dispatchers.limiter()
    )
    if answer.status == 401:
        await audit_refused(request, "Slack request with a missing, bad or stale signature")
    return Response(
        status_code=answer.status,
        content=answer.body,
        headers=answer.first_headers_without_set_cookie(),
    )


def dispatch(
    bolt: App, verifier: SignatureVerifier, body: bytes, query: dict[str, str], headers: dict[str, str]
) -> BoltResponse:
    """Bolt's answer to the request; one that is malformed (payloads.shape_problem, or a body Bolt
    cannot even read: it raises as it builds the request) is refused here, before Bolt reads it:
    400 naming the fault if it is signed, 401 if it is not."""
    text = body.decode("utf-8", errors="replace")
    bolt_headers: dict[str, str | Sequence[str]] = dict(headers)
    try:
        request = BoltRequest(body=text, query=query, headers=bolt_headers)
    except Exception:  # whatever Bolt's reading of a malformed body raises
        return _malformed(verifier, text, headers, payloads.unreadable(text), None)
    problem = payloads.shape_problem(request.body)
    if problem is None:
        return bolt.dispatch(request)
    return _malformed(verifier, text, headers, problem, payloads.kind_of(request.body))


def _malformed(
    verifier: SignatureVerifier, text: str, headers: dict[str, str], problem: str, kind: str | None
) -> BoltResponse:
    if not verifier.is_valid_request(text, headers):
        return BoltResponse(status=401, body="")  # as Bolt answers any request not signed
    return payloads.refuse(problem, kind)
