"""Placeholders in runbook templates: checked at load, filled in as data. A template may name an
incident field ({service}), a label ({labels[host]}), a value an earlier step kept
({steps.find.replica}) or a secret ({secret:NAME}).

A value is only ever text put into one place: one argv element, one URL part (percent-encoded), one
header value. It is never parsed, split or evaluated, so incident data cannot add arguments, change
a URL's host (unless the runbook's inputs say which hosts) or run anything. What a step fills in is
looked up in its scope: the incident's values, with `steps` (what earlier steps kept) and `secrets`
(engine/secrets.py) beside them.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from engine.secrets import SECRET_NAME, SecretError, SecretStore

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
LABEL_REF = re.compile(r"^labels\[([A-Za-z0-9_.\-/]{1,100})\]$")
STEP_REF = re.compile(r"^steps\.([A-Za-z0-9_\-]{1,64})\.([A-Za-z0-9_]{1,64})$")
SECRET_PREFIX = "secret:"  # noqa: S105 (the placeholder's prefix, not a secret)
_FORMATTER = string.Formatter()


class PlaceholderError(ValueError):
    """A template names a field incidents do not have, or an incident lacks a value it needs."""


def field_names(template: str) -> list[str]:
    """The placeholders in `template`, as written ({secret:NAME} as `secret:NAME`)."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise PlaceholderError(f"{template!r}: {exc} (write {{{{ and }}}} for literal braces)") from exc
    names = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name == "secret" and spec and not conversion:
            if not SECRET_NAME.match(spec):
                raise PlaceholderError(f"{{secret:{spec}}}: not a secret name (letters, digits, _ . -)")
            names.append(SECRET_PREFIX + spec)
            continue
        if spec or conversion:
            raise PlaceholderError(f"{{{name}}}: format specs and conversions are not allowed")
        names.append(name)
    return names


def has_placeholders(template: str) -> bool:
    return bool(field_names(template))


def check_template(template: str) -> None:
    """Raise PlaceholderError if `template` refers to anything but incident fields, labels, values
    steps keep and secrets (whether those exist is the runbook's check: engine/runbook_checks.py)."""
    for name in field_names(template):
        if name in SCALAR_FIELDS or LABEL_REF.match(name) or STEP_REF.match(name):
            continue
        if name.startswith(SECRET_PREFIX):
            continue
        allowed = ", ".join(sorted(SCALAR_FIELDS))
        raise PlaceholderError(
            f"unknown placeholder {{{name}}}; use one of {allowed}, labels[key], steps.<step id>.<name>, "
            "secret:NAME"
        )


def kept_in(values: Mapping[str, Any]) -> Mapping[str, Any]:
    """What steps kept, in a scope (a preview's stands in for every value: it may look empty)."""
    kept = values.get("steps")
    return {} if kept is None else kept


def _lookup(name: str, values: Mapping[str, Any]) -> str:
    if name.startswith(SECRET_PREFIX):
        secrets: SecretStore | None = values.get("secrets")
        if secrets is None:
            raise PlaceholderError(f"{{{name}}}: no secrets here")
        try:
            return secrets.value(name.removeprefix(SECRET_PREFIX))
        except SecretError as exc:
            raise PlaceholderError(f"{{{name}}}: {exc}") from None
    kept = STEP_REF.match(name)
    if kept:
        step, key = kept.groups()
        value = kept_in(values).get(step, {}).get(key)
        if value is None or value == "":
            raise PlaceholderError(f"{{{name}}}: step {step!r} kept no {key!r}")
        return str(value)
    label = LABEL_REF.match(name)
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
    for literal, name, spec, _conversion in _FORMATTER.parse(template):
        parts.append(literal)
        if name is not None:
            reference = SECRET_PREFIX + spec if name == "secret" and spec else name
            parts.append(encode(_lookup(reference, values)))
    return "".join(parts)


DOT_SEGMENTS = frozenset({".", ".."})


def _url_part(value: str) -> str:
    # Percent-encoding keeps a value within its part, but "." and ".." are path steps themselves:
    # /api/{service}/restart with ".." would be /restart.
    if value in DOT_SEGMENTS:
        raise PlaceholderError(f"the incident value {value!r} is a dot segment and would climb the URL path")
    return quote(value, safe="")


HOST_VALUE = re.compile(r"^[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?$")


def split_host(template: str) -> tuple[str, str]:
    """A URL template as its scheme and host (`http://{labels[host]}`), and the rest: the host ends at
    the first `/`, `?` or `#` outside a placeholder."""
    scheme, _, rest = template.partition("://")
    depth = 0
    for index, char in enumerate(rest):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0 and char in "/?#":
            return f"{scheme}://{rest[:index]}", rest[index:]
    return template, ""


def _host_part(value: str) -> str:
    # A host placeholder is allowed only under an inputs rule saying which hosts; this keeps the value
    # a host (and port) even so: no user, path or query can ride in with it.
    if not HOST_VALUE.match(value):
        raise PlaceholderError(f"the value {value[:100]!r} is not a host name or address (with a port)")
    return value


def render_url(template: str, values: Mapping[str, Any]) -> str:
    """Each value percent-encoded, so it stays within the URL part it was put in; in the host, a value
    must be a host (and port)."""
    host, rest = split_host(template)
    return render(host, values, encode=_host_part) + render(rest, values, encode=_url_part)


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
