"""Bearer-token authentication for the REST API (API_TOKEN)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

import anyio
from fastapi import HTTPException, Request

from handlers.deps import services_of

FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip", "x-forwarded-host")


def forwarded_by_proxy(headers: Mapping[str, str]) -> str | None:
    """The forwarding header a request carries (a reverse proxy added it), if any."""
    return next((name for name in FORWARDING_HEADERS if name in headers), None)


def bearer_token(request: Request) -> str | None:
    return bearer_from(request.headers)


def bearer_from(headers: Mapping[str, str]) -> str | None:
    header = headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


OPEN_CALLER = "api-user"  # with no API token set: a caller on this machine, named by nothing


async def require_api_token(request: Request) -> None:
    """Refuse the request unless it carries one of the API tokens (API_TOKEN, API_TOKENS); open
    only when none is set (loopback). The token's name is who acts: `api_caller(request)`.

    Async, so the common case costs no thread hop; only a refusal touches the database.
    """
    credentials = services_of(request).settings.api_credentials()
    request.state.api_caller = OPEN_CALLER
    if not credentials:
        # Open to this machine only: a request a proxy on it forwarded comes from somewhere else.
        proxy = forwarded_by_proxy(request.headers)
        if proxy is None:
            return
        await audit_refused(request, f"no API_TOKEN, and the request came through a proxy ({proxy})")
        raise HTTPException(
            status_code=401,
            detail=f"API_TOKEN is not set, so the API answers this machine only; this request came "
            f"through a proxy ({proxy}). Set API_TOKEN to use it from elsewhere.",
        )
    given = bearer_token(request)
    if given is not None:
        for name, expected in credentials.items():  # every one compared: no early answer to time
            if hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
                request.state.api_caller = name
        if request.state.api_caller != OPEN_CALLER:
            return
    await audit_refused(request, "missing bearer token" if given is None else "wrong bearer token")
    raise HTTPException(
        status_code=401,
        detail="Missing or invalid bearer token (Authorization: Bearer <API_TOKEN>)",
        headers={"WWW-Authenticate": "Bearer"},
    )


def api_caller(request: Request) -> str:
    """Who is acting, by the credential that authenticated the request (`api`, `api:<name>`)."""
    return str(getattr(request.state, "api_caller", OPEN_CALLER))


async def audit_refused(request: Request, reason: str, actor: str = "unauthenticated") -> None:
    """Audit a refused request: what was asked, by whom, from where and why (never its body)."""
    details: dict[str, object] = {
        "method": request.method,
        "path": request.url.path,
        "client": request.client.host if request.client else None,
    }
    await anyio.to_thread.run_sync(services_of(request).refusals.record, reason, details, actor)
