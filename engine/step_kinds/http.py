"""The `http` step: an HTTP request whose URL, headers and body are filled from the incident (each
value encoded for where it goes), bounded as a whole by the step's timeout."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import httpx
from pydantic import Field, field_validator, model_validator

from engine.placeholders import render, render_data, render_url, templates_in
from engine.step_kinds.base import (
    MAX_RAW_CHARS,
    StepOutcome,
    Stop,
    Strict,
    bounded,
    checked_template,
    truncate,
)


class HttpAction(Strict):
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] = Field(default_factory=list)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://", value):
            raise ValueError("must start with http:// or https://")
        return checked_template(value)

    @model_validator(mode="after")
    def _templates(self) -> HttpAction:
        for template in [*self.headers.values(), *templates_in(self.json_body)]:
            checked_template(template)
        if self.body is not None:
            checked_template(self.body)
        if self.json_body is not None and self.body is not None:
            raise ValueError("give either json or body, not both")
        return self


@dataclass(frozen=True)
class PreparedHttp:
    method: str
    url: str
    headers: dict[str, str]
    json_body: Any
    body: str | None
    expect_status: tuple[int, ...]
    kind: str = "http"
    reaches_outside: ClassVar[bool] = True

    def describe(self) -> str:
        return f"{self.method} {self.url}"

    def _request(self, timeout: float) -> httpx.Response:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            return client.request(
                self.method, self.url, headers=self.headers, json=self.json_body, content=self.body
            )

    def run(self, timeout: float, stop: Stop) -> StepOutcome:
        # httpx's timeout is per operation (a server that sends a byte a second never trips it):
        # the whole request is bounded by the step's timeout and its Stop instead.
        try:
            response = bounded(lambda: self._request(timeout), timeout, stop)
        except httpx.TimeoutException:
            return StepOutcome(ok=False, error=f"timed out after {timeout:g}s")
        except httpx.HTTPError as exc:
            return StepOutcome(ok=False, error=f"request failed: {type(exc).__name__}: {exc}")
        if isinstance(response, StepOutcome):
            return response
        text = response.text[:MAX_RAW_CHARS]
        output = truncate(f"HTTP {response.status_code}\n{text}")
        expected = self.expect_status or tuple(range(200, 300))
        if response.status_code not in expected:
            wanted = ", ".join(map(str, self.expect_status)) if self.expect_status else "2xx"
            return StepOutcome(
                ok=False, output=output, error=f"HTTP {response.status_code}, expected {wanted}", raw=text
            )
        return StepOutcome(ok=True, output=output, raw=text)


def prepare_http(action: HttpAction, values: Mapping[str, Any]) -> PreparedHttp:
    return PreparedHttp(
        method=action.method,
        url=render_url(action.url, values),
        headers={name: render(value, values) for name, value in action.headers.items()},
        json_body=render_data(action.json_body, values),
        body=None if action.body is None else render(action.body, values),
        expect_status=tuple(action.expect_status),
    )
