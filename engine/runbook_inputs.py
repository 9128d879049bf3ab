"""A runbook's inputs: the incident fields (and kept step values) it uses, and what each may be: a
regular expression it must match in full, a list of allowed values, a length limit. An incident
whose values do not fit is skipped before anything runs, naming the field and the rule."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from engine.placeholders import LABEL_REF, SCALAR_FIELDS, STEP_REF, kept_in
from engine.step_kinds.base import Strict, checked_regex

MAX_RULE_VALUE = 10_000


class InputRule(Strict):
    pattern: str | None = None  # matched against the whole value (re.fullmatch)
    one_of: list[Annotated[str, Field(max_length=1000)]] | None = Field(default=None, min_length=1)
    max_length: Annotated[int, Field(ge=1, le=MAX_RULE_VALUE)] | None = None

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return checked_regex(value)

    @model_validator(mode="after")
    def _says_something(self) -> InputRule:
        if self.pattern is None and self.one_of is None and self.max_length is None:
            raise ValueError("give at least one of pattern, one_of, max_length")
        return self

    @property
    def bounds_value(self) -> bool:
        """Whether the rule says which values (not only how long): enough for a URL's host."""
        return self.pattern is not None or self.one_of is not None

    def problem(self, value: str) -> str | None:
        """None when `value` fits; else which part of the rule it breaks."""
        if self.max_length is not None and len(value) > self.max_length:
            return f"longer than {self.max_length} characters"
        if self.one_of is not None and value not in self.one_of:
            shown = ", ".join(self.one_of[:10]) + (", ..." if len(self.one_of) > 10 else "")
            return f"not one of {shown}"
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            return f"does not match {self.pattern}"
        return None


def check_input_name(name: str) -> str:
    if name in SCALAR_FIELDS or LABEL_REF.match(name) or STEP_REF.match(name):
        return name
    raise ValueError(f"{name!r} is not an incident field, labels[key] or steps.<step id>.<name>")


def value_of(name: str, values: Mapping[str, Any]) -> str | None:
    """The value `name` has in a step's scope, None when there is none."""
    label = LABEL_REF.match(name)
    kept = STEP_REF.match(name)
    if label:
        value = (values.get("labels") or {}).get(label.group(1))
    elif kept:
        value = kept_in(values).get(kept.group(1), {}).get(kept.group(2))
    else:
        value = values.get(name)
    return None if value is None or value == "" else str(value)


def inputs_problem(
    inputs: Mapping[str, InputRule], values: Mapping[str, Any], *, kept: bool = False
) -> str | None:
    """Why the values do not fit the rules, naming the field and the rule; None when they do. Only
    the incident's fields are checked (`kept=False`: before the run) or only steps' values (`kept=True`:
    when a step keeps them). A field that is absent is not checked here: the step that uses it fails."""
    for name, rule in inputs.items():
        if bool(STEP_REF.match(name)) != kept:
            continue
        value = value_of(name, values)
        if value is None:
            continue
        problem = rule.problem(value)
        if problem is not None:
            return f"Input {name} = {value[:100]!r} {problem} (the runbook's inputs)"
    return None
