"""Bearer-token authentication for the REST API (API_TOKEN)."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from handlers.deps import runtime_of


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require_api_token(request: Request) -> None:
    """Refuse the request unless it carries API_TOKEN; open only when no token is set (loopback)."""
    expected = runtime_of(request).settings.api_token
    if expected is None:
        return
    given = bearer_token(request)
    if given is None or not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise HTTPException(
            status_code=401,
            detail="Missing or invalid bearer token (Authorization: Bearer <API_TOKEN>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
