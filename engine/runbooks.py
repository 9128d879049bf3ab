"""Runbooks: the schema of runbooks.yml, loading it (refusing a bad file precisely), and matching."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from engine.captures import Capture, Expect
from engine.conditions import parse_condition
from engine.durations import parse_duration
from engine.errors import RunbookError
from engine.incident import CATEGORY_PATTERN
from engine.runbook_checks import check_runbook, missing_secrets
from engine.runbook_inputs import InputRule, check_input_name
from engine.secrets import NO_SECRETS, SecretStore
from engine.step_kinds.base import Strict, checked_regex, checked_template
from engine.step_kinds.command import check_command
from engine.step_kinds.http import HttpAction

DURATION_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"},
    ],
    "description": "seconds, or a duration like 500ms, 10s, 5m, 1h",
}
Seconds = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema(DURATION_SCHEMA)]
RunbookId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")]
StepId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
CaptureName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,64}$")]
DEFAULT_STEP_TIMEOUT = 30.0
MIN_POLL_SECONDS = 0.1
MAX_POLL_SECONDS = 86_400.0
MAX_STEP_TIMEOUT = 3600.0


class Action(Strict):
    """Exactly one of the step kinds; used for steps and for their rollbacks."""

    http: HttpAction | None = None
    command: list[Annotated[str, Field(min_length=1)]] | None = Field(default=None, min_length=1)
    wait: Seconds | None = None
    log: str | None = None
    timeout: Seconds = DEFAULT_STEP_TIMEOUT

    @field_validator("command")
    @classmethod
    def _argv(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else check_command(value)

    @field_validator("log")
    @classmethod
    def _log(cls, value: str | None) -> str | None:
        return None if value is None else checked_template(value)

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: float) -> float:
        if not 0 < value <= MAX_STEP_TIMEOUT:
            raise ValueError(f"must be more than 0s and at most {int(MAX_STEP_TIMEOUT)}s")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Action:
        kinds = [k for k in ("http", "command", "wait", "log") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                "a step needs exactly one of http, command, wait, log"
                + (f" (found {', '.join(kinds)})" if kinds else "")
            )
        return self

    @property
    def kind(self) -> str:
        for kind in ("http", "command", "wait", "log"):
            if getattr(self, kind) is not None:
                return kind
        raise AssertionError("validated to have one kind")


class Step(Action):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    id: StepId | None = None  # how later steps name what it keeps: {steps.<id>.<capture name>}
    capture: dict[CaptureName, Capture] | None = Field(default=None, min_length=1, max_length=20)
    expect: Expect | None = None  # success beyond the exit code or the status
    when: str | None = None  # run only when this holds (engine/conditions.py); otherwise skipped
    until: str | None = None  # repeat every `every` until this holds, for at most `within`
    every: Seconds | None = None
    within: Seconds | None = None

    @field_validator("when", "until")
    @classmethod
    def _condition(cls, value: str | None) -> str | None:
        if value is not None:
            parse_condition(value)
        return value

    @model_validator(mode="after")
    def _polling(self) -> Step:
        polls = (self.until, self.every, self.within)
        if any(p is not None for p in polls) and any(p is None for p in polls):
            raise ValueError("until, every and within go together")
        if self.every is not None and self.within is not None:
            if not MIN_POLL_SECONDS <= self.every <= self.within <= MAX_POLL_SECONDS:
                raise ValueError(
                    f"every must be at least {MIN_POLL_SECONDS:g}s and at most within, within at most "
                    f"{int(MAX_POLL_SECONDS)}s"
                )
            if self.retries is not None:
                raise ValueError("a step that polls (until) repeats on its schedule: leave retries out")
        return self

    retries: Annotated[int, Field(ge=0, le=10)] | None = None
    backoff: Seconds = 1.0
    rollback: Action | None = None


class MatchRule(Strict):
    title: str | None = None
    description: str | None = None
    service: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("title", "description", "service")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return checked_regex(value)

    def matches(self, incident: Mapping[str, Any]) -> bool:
        for field in ("title", "description", "service"):
            pattern = getattr(self, field)
            if pattern is not None and not re.search(pattern, str(incident.get(field) or "")):
                return False
        labels = incident.get("labels") or {}
        return all(labels.get(key) == value for key, value in self.labels.items())


class RunLimit(Strict):
    """At most `runs` runs of the runbook within `per` (and `per_service` for one service);
    past it an incident waits for approval or is skipped, as its category says."""

    runs: Annotated[int, Field(ge=1, le=100_000)]
    per: Seconds = 3600.0
    per_service: Annotated[int, Field(ge=1, le=100_000)] | None = None

    @field_validator("per")
    @classmethod
    def _window(cls, value: float) -> float:
        if not 1 <= value <= 7 * 86400:
            raise ValueError("must be between 1s and 7 days")
        return value


class Runbook(Strict):
    id: RunbookId
    category: Annotated[str, StringConstraints(pattern=CATEGORY_PATTERN)]
    description: str = ""
    match: MatchRule = Field(default_factory=MatchRule)
    inputs: dict[str, InputRule] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1, max_length=100)
    limit: RunLimit | None = None

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, value: dict[str, InputRule]) -> dict[str, InputRule]:
        for name in value:
            check_input_name(name)
        return value

    @model_validator(mode="after")
    def _whole(self) -> Runbook:
        check_runbook(self)
        return self

    @property
    def version(self) -> str:
        """This runbook's content, as a short SHA-256: what a run records it ran."""
        text = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class RunbooksFile(Strict):
    """runbooks.yml as a whole."""

    runbooks: list[Runbook]


def runbooks_json_schema() -> dict[str, Any]:
    """The JSON Schema of runbooks.yml, from the models the loader validates with (so editors check
    what the bot checks, less what needs the whole file: secrets that exist, earlier steps' values)."""
    schema = RunbooksFile.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Autoresolve runbooks.yml",
        **schema,
    }


class RunbookCatalog:
    """The loaded runbooks, in file order (the first match wins)."""

    def __init__(
        self, runbooks: list[Runbook], source: str = "<memory>", secrets: SecretStore = NO_SECRETS
    ) -> None:
        self.runbooks = runbooks
        self.source = source
        self.secrets = secrets  # where its steps' {secret:NAME} are read
        self._by_id = {rb.id: rb for rb in runbooks}

    def get(self, runbook_id: str) -> Runbook | None:
        return self._by_id.get(runbook_id)

    def find_for(self, incident: Mapping[str, Any]) -> Runbook | None:
        """The requested runbook if it exists and fits the category, else the first that matches."""
        requested = incident.get("runbook")
        if requested:
            runbook = self._by_id.get(requested)
            if runbook is None or runbook.category != incident.get("category"):
                return None
            return runbook if runbook.match.matches(incident) else None
        for runbook in self.runbooks:
            if runbook.category == incident.get("category") and runbook.match.matches(incident):
                return runbook
        return None


def _location(path: Path, runbook_id: str, loc: tuple[int | str, ...], item: Any = None) -> str:
    field = ""
    for part in loc:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    step_name = ""
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int) and isinstance(item, dict):
        steps = item.get("steps")
        step = steps[loc[1]] if isinstance(steps, list) and loc[1] < len(steps) else None
        if isinstance(step, dict) and isinstance(step.get("name"), str):
            step_name = f"step {step['name'][:100]!r}: "
    return f"{path}: runbook {runbook_id!r}: {step_name}{field or '(runbook)'}"


def parse_runbooks(data: Any, path: Path, secrets: SecretStore = NO_SECRETS) -> RunbookCatalog:
    """Validate the parsed YAML document; raise RunbookError naming file, runbook and field."""
    if not isinstance(data, dict) or not isinstance(data.get("runbooks"), list):
        raise RunbookError(str(path), "expected a top-level 'runbooks:' list")
    runbooks: list[Runbook] = []
    seen: set[str] = set()
    for index, item in enumerate(data["runbooks"]):
        runbook_id = item.get("id") if isinstance(item, dict) else None
        label = str(runbook_id) if runbook_id else f"#{index + 1}"
        try:
            runbook = Runbook.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            message = first["msg"].removeprefix("Value error, ")
            raise RunbookError(_location(path, label, tuple(first["loc"]), item), message) from None
        if runbook.id in seen:
            raise RunbookError(_location(path, label, ("id",)), "duplicate runbook id")
        for step_name, secret in missing_secrets(runbook, secrets):
            raise RunbookError(
                f"{path}: runbook {label!r}: step {step_name[:100]!r}",
                f"the secret {secret!r} does not exist (list it in RUNBOOK_SECRETS_ENV, or put a file "
                "named so in RUNBOOK_SECRETS_DIR)",
            )
        seen.add(runbook.id)
        runbooks.append(runbook)
    return RunbookCatalog(runbooks, source=str(path), secrets=secrets)


def load_runbooks(path: Path, secrets: SecretStore = NO_SECRETS) -> RunbookCatalog:
    """Read and validate a runbooks file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RunbookError(str(path), f"cannot read the runbooks file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        where = f"byte {exc.object[exc.start]:#x} at {exc.start}"
        raise RunbookError(str(path), f"not UTF-8 text ({where})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RunbookError(str(path), f"not valid YAML: {exc}") from None
    return parse_runbooks(data, path, secrets)
