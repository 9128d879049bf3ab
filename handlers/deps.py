"""Access to the wired runtime from a request."""

from __future__ import annotations

from fastapi import Request

from runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime
