"""What a step reads of its result. `expect:` decides success beyond the exit code or the status (a
regular expression found in the output or body, JSON fields equal to values); `capture:` keeps part of
it for later steps, used as {steps.<step id>.<name>}: its exit code, a regular expression's group in
its output, or a field of an http answer's JSON (`$.lagging[0].name`). Kept values are data like
incident fields: the same substitution rules, and the runbook's inputs rules when it declares them."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import Field, model_validator

from engine.step_kinds.base import StepOutcome, Strict, checked_regex

JSON_PATH = re.compile(r"^\$((\.[A-Za-z0-9_\-]+)|(\[\d{1,6}\]))*$")
_PATH_PART = re.compile(r"\.([A-Za-z0-9_\-]+)|\[(\d{1,6})\]")
MAX_KEPT_CHARS = 1000


class CaptureError(ValueError):
    """A capture found nothing in the step's result: the step did not give what later steps need."""


class Capture(Strict):
    json_path: str | None = Field(default=None, alias="json")  # into an http answer's JSON: $, .key, [index]
    regex: str | None = None  # its first group (or the whole match) in the output
    exit_code: bool | None = None  # a command's exit code

    @model_validator(mode="after")
    def _one(self) -> Capture:
        given = [k for k in ("json_path", "regex", "exit_code") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a capture is exactly one of json, regex, exit_code")
        if self.json_path is not None and not JSON_PATH.match(self.json_path):
            raise ValueError(f"{self.json_path!r} is not a path like $.items[0].name")
        checked_regex(self.regex)
        if self.exit_code is False:
            raise ValueError("exit_code: true, or leave it out")
        return self

    def take(self, outcome: StepOutcome) -> str:
        if self.exit_code:
            if outcome.exit_code is None:
                raise CaptureError("only a command step has an exit code")
            return str(outcome.exit_code)
        if self.regex is not None:
            found = re.search(self.regex, outcome.raw)
            if found is None:
                raise CaptureError(f"{self.regex} found nothing in the output")
            return (found.group(1) if found.groups() else found.group(0))[:MAX_KEPT_CHARS]
        assert self.json_path is not None
        return json_field(outcome.raw, self.json_path)


def json_field(text: str, path: str) -> str:
    try:
        value: Any = json.loads(text)
    except ValueError:
        raise CaptureError(f"{path}: the answer is not JSON") from None
    for key, index in _PATH_PART.findall(path):
        if key and isinstance(value, dict) and key in value:
            value = value[key]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            raise CaptureError(f"{path}: not in the answer")
    if isinstance(value, dict | list) or value is None:
        raise CaptureError(f"{path}: not a single value (a string, number or true/false)")
    text = json.dumps(value) if isinstance(value, bool) else str(value)
    return text[:MAX_KEPT_CHARS]


class Expect(Strict):
    regex: str | None = None  # searched in the output (a command's) or the body (an http answer's)
    json_fields: dict[str, str | int | float | bool] | None = Field(default=None, alias="json", min_length=1)

    @model_validator(mode="after")
    def _some(self) -> Expect:
        if self.regex is None and self.json_fields is None:
            raise ValueError("expect needs regex, json or both")
        checked_regex(self.regex)
        for path in self.json_fields or {}:
            if not JSON_PATH.match(path):
                raise ValueError(f"{path!r} is not a path like $.status")
        return self

    def problem(self, outcome: StepOutcome) -> str | None:
        """None when the result is what was expected; else what was not."""
        if self.regex is not None and re.search(self.regex, outcome.raw) is None:
            return f"expected {self.regex} in the result"
        for path, wanted in (self.json_fields or {}).items():
            want = json.dumps(wanted) if isinstance(wanted, bool) else str(wanted)
            try:
                found = json_field(outcome.raw, path)
            except CaptureError as exc:
                return f"expected {path} == {want}: {exc}"
            if found != want:
                return f"expected {path} == {want}, found {found[:100]}"
        return None


def keep(captures: dict[str, Capture], outcome: StepOutcome) -> dict[str, str]:
    """What a succeeded step keeps; CaptureError when one capture finds nothing."""
    kept: dict[str, str] = {}
    for name, capture in captures.items():
        try:
            kept[name] = capture.take(outcome)
        except CaptureError as exc:
            raise CaptureError(f"capture {name}: {exc}") from None
    return kept
