"""Placeholders in runbook templates ({service}, {labels[host]}): checked at load, filled in as data.

A value is only ever text put into one place: one argv element, one URL part (percent-encoded), one
header value. It is never parsed, split or evaluated, so incident data cannot add arguments, change
a URL's host or run anything.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

SCALAR_FIELDS = frozenset(
    {
        "incident_id",
        "title",
        "description",
        "category",
        "priority",
        "created_by",
        "service",
        "source",
        "fingerprint",
        "runbook",
        "confidence_score",
    }
)
_LABEL_REF = re.compile(r"^labels\[([A-Za-z0-9_.\-/]{1,100})\]$")
_FORMATTER = string.Formatter()


class PlaceholderError(ValueError):
    """A template names a field incidents do not have, or an incident lacks a value it needs."""


def _field_names(template: str) -> list[str]:
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise PlaceholderError(f"{template!r}: {exc} (write {{{{ and }}}} for literal braces)") from exc
    names = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec or conversion:
            raise PlaceholderError(f"{{{name}}}: format specs and conversions are not allowed")
        names.append(name)
    return names


def has_placeholders(template: str) -> bool:
    return bool(_field_names(template))


def check_template(template: str) -> None:
    """Raise PlaceholderError if `template` refers to anything but incident fields and labels."""
    for name in _field_names(template):
        if name not in SCALAR_FIELDS and not _LABEL_REF.match(name):
            allowed = ", ".join(sorted(SCALAR_FIELDS))
            raise PlaceholderError(f"unknown placeholder {{{name}}}; use one of {allowed}, labels[key]")


def _lookup(name: str, values: Mapping[str, Any]) -> str:
    label = _LABEL_REF.match(name)
    if label:
        labels = values.get("labels") or {}
        key = label.group(1)
        if key not in labels or str(labels[key]) == "":  # an empty value is as missing as none
            raise PlaceholderError(f"{{{name}}}: the incident has no label {key!r}")
        return str(labels[key])
    value = values.get(name)
    if value is None or value == "":
        raise PlaceholderError(f"{{{name}}}: the incident has no {name}")
    return str(value)


def render(template: str, values: Mapping[str, Any], encode: Callable[[str], str] = str) -> str:
    """Fill `template` from incident `values`, passing each value through `encode`."""
    parts = []
    for literal, name, _spec, _conversion in _FORMATTER.parse(template):
        parts.append(literal)
        if name is not None:
            parts.append(encode(_lookup(name, values)))
    return "".join(parts)


DOT_SEGMENTS = frozenset({".", ".."})


def _url_part(value: str) -> str:
    # Percent-encoding keeps a value within its part, but "." and ".." are path steps themselves:
    # /api/{service}/restart with ".." would be /restart.
    if value in DOT_SEGMENTS:
        raise PlaceholderError(f"the incident value {value!r} is a dot segment and would climb the URL path")
    return quote(value, safe="")


def render_url(template: str, values: Mapping[str, Any]) -> str:
    """Each value percent-encoded, so it stays within the URL part it was put in."""
    return render(template, values, encode=_url_part)


def render_argv_element(template: str, values: Mapping[str, Any]) -> str:
    """One argv element; refuses values that would turn a positional argument into an option."""
    rendered = render(template, values)
    if "\x00" in rendered:
        raise PlaceholderError(f"{template!r}: the incident value contains a NUL byte")
    if rendered.startswith("-") and not template.startswith("-"):
        raise PlaceholderError(
            f"{template!r}: the incident value {rendered!r} starts with '-' and would be read as an option"
        )
    return rendered


def render_data(value: Any, values: Mapping[str, Any]) -> Any:
    """Fill every string inside a JSON-like structure (for http `json` bodies)."""
    if isinstance(value, str):
        return render(value, values)
    if isinstance(value, list):
        return [render_data(item, values) for item in value]
    if isinstance(value, dict):
        return {key: render_data(item, values) for key, item in value.items()}
    return value


def templates_in(value: Any) -> list[str]:
    """Every string inside a JSON-like structure, for checking at load time."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [t for item in value for t in templates_in(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in templates_in(item)]
    return []
