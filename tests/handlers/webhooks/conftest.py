"""The bot served with webhook authentication, and a signer written from the documented format."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.factories import incident_body
from tests.support.servers import ServedApp

TOKEN = "hook-token"
SECRET = "hook-secret"
RUNBOOKS = """
runbooks:
  - id: db-fix
    category: database
    steps: [{name: Fix, log: "fixing {service}"}]
  - id: disk
    category: infrastructure
    steps: [{name: Clean, log: "cleaning {labels[instance]}"}]
"""


def sign(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    """X-Autoresolve-Signature: v1=hex(HMAC-SHA256(secret, "v1:<timestamp>:<body>")), as the README says."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v1:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Autoresolve-Timestamp": stamp, "X-Autoresolve-Signature": f"v1={digest}"}


def incident(incident_id: str = "INC-1", **fields: Any) -> dict[str, Any]:
    return incident_body(incident_id, **fields)


class Hooks:
    def __init__(self, app: ServedApp) -> None:
        self.app = app
        self.http = app.client()
        self.api = app.client()

    def post(self, path: str, document: Any, *, auth: str = "bearer", **signing: Any) -> httpx.Response:
        body = json.dumps(document).encode()
        headers = {"Content-Type": "application/json"}
        if auth == "bearer":
            headers["Authorization"] = f"Bearer {TOKEN}"
        elif auth == "signature":
            headers.update(sign(body, **signing))
        return self.http.post(path, content=body, headers=headers)

    def audit(self, **filters: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.api.get("/api/v1/audit", params=filters).json()
        return rows

    def close(self) -> None:
        self.http.close()
        self.api.close()


@pytest.fixture
def make_hooks(served) -> Iterator[Callable[..., Hooks]]:
    made: list[Hooks] = []

    def make(runbooks: str = RUNBOOKS, **settings: Any) -> Hooks:
        app = served(runbooks, webhook_token=TOKEN, webhook_secret=SECRET, **settings)
        hooks = Hooks(app)
        made.append(hooks)
        return hooks

    yield make
    for hooks in made:
        hooks.close()


@pytest.fixture
def hooks(make_hooks) -> Hooks:
    return make_hooks()
