"""POST /slack/events: commands, button clicks and events, dispatched to Bolt in a worker thread.

Bolt's App is synchronous; dispatching it on the event loop (as the stock FastAPI adapter does)
would make every other request wait behind a slow Slack request. A request Bolt refuses (a bad or
stale signature) is audited; without SLACK_SIGNING_SECRET (Socket Mode only) nothing arriving
here can be verified, so nothing is taken.
"""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response
from slack_bolt import App, BoltRequest

from handlers.auth import audit_refused
from handlers.deps import runtime_of
from handlers.errors import error_response
from handlers.thread_limits import ThreadLimit

router = APIRouter(tags=["Slack"])
_dispatchers = ThreadLimit(32)


@router.post("/slack/events", include_in_schema=False)
async def slack_events(request: Request) -> Response:
    bolt: App | None = getattr(request.app.state, "bolt", None)
    if bolt is None:
        return error_response(404, "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET")
    if runtime_of(request).settings.slack_signing_secret is None:
        await audit_refused(request, "Slack request over HTTP without SLACK_SIGNING_SECRET (Socket Mode)")
        return error_response(
            404, "Slack requests come over Socket Mode here; set SLACK_SIGNING_SECRET to take them over HTTP"
        )
    body = await request.body()
    bolt_request = BoltRequest(
        body=body.decode("utf-8", errors="replace"),
        query=dict(request.query_params),
        headers=dict(request.headers),
    )
    answer = await anyio.to_thread.run_sync(bolt.dispatch, bolt_request, limiter=_dispatchers.limiter())
    if answer.status == 401:
        await audit_refused(request, "Slack request with a missing, bad or stale signature")
    return Response(
        status_code=answer.status,
        content=answer.body,
        headers=answer.first_headers_without_set_cookie(),
    )
