"""What a runbook must get right as a whole, checked when runbooks.yml is loaded: the values steps use
(in templates and in when/until) are kept by an earlier step, a URL's host comes from incident data
only under an inputs rule that says which hosts, secrets stay out of what is shown (log steps), and
every secret named exists."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.conditions import parse_condition
from engine.placeholders import SECRET_PREFIX, STEP_REF, field_names, split_host, templates_in
from engine.secrets import SecretStore

if TYPE_CHECKING:
    from engine.runbooks import Action, Runbook


def action_templates(action: Action) -> list[str]:
    """Every template an action fills."""
    if action.http is not None:
        http = action.http
        return [
            http.url,
            *http.headers.values(),
            *templates_in(http.json_body),
            *([http.body] if http.body else []),
        ]
    if action.command is not None:
        return list(action.command)
    return [action.log] if action.log is not None else []


def check_runbook(runbook: Runbook) -> None:
    """ValueError naming the step for the first thing wrong."""
    kept: dict[str, set[str]] = {}
    for step in runbook.steps:
        where = f"step {step.name!r}"
        actions: list[tuple[Action, set[str]]] = [(step, set(kept))]  # what the steps before it kept
        if step.id is not None and step.id in kept:
            raise ValueError(f"{where}: the id {step.id!r} is used by an earlier step")
        own = set(step.capture or {})
        if step.capture:
            if step.id is None:
                raise ValueError(f"{where}: a step that keeps values (capture) needs an id")
            for name, capture in step.capture.items():
                if capture.json_path is not None and step.http is None:
                    raise ValueError(f"{where}: capture {name}: json is for http steps")
                if capture.exit_code and step.command is None:
                    raise ValueError(f"{where}: capture {name}: exit_code is for command steps")
        _check_condition(where, "when", step.when, kept)  # read before it runs
        if step.id is not None:
            kept[step.id] = own
        _check_condition(where, "until", step.until, kept)  # read after each attempt: its own values too
        if step.rollback is not None:
            actions.append((step.rollback, set(kept)))  # its rollback may use what it kept
        for action, visible in actions:
            _check_action(runbook, where, action, {k: v for k, v in kept.items() if k in visible})


def _check_condition(where: str, key: str, text: str | None, kept: dict[str, set[str]]) -> None:
    if text is None:
        return
    for name in parse_condition(text).references:
        step_ref = STEP_REF.match(name)
        if step_ref and step_ref.group(2) not in kept.get(step_ref.group(1), set()):
            raise ValueError(
                f"{where}: {key}: {name}: no step before it (or, for until, it) with the id "
                f"{step_ref.group(1)!r} keeps {step_ref.group(2)!r} (capture)"
            )


def _check_action(runbook: Runbook, where: str, action: Action, kept: dict[str, set[str]]) -> None:
    for template in action_templates(action):
        for name in field_names(template):
            step_ref = STEP_REF.match(name)
            if step_ref and step_ref.group(2) not in kept.get(step_ref.group(1), set()):
                raise ValueError(
                    f"{where}: {{{name}}}: no earlier step with the id {step_ref.group(1)!r} keeps "
                    f"{step_ref.group(2)!r} (capture)"
                )
            if name.startswith(SECRET_PREFIX) and action.log is not None:
                raise ValueError(f"{where}: {{{name}}}: a log step's message is shown to people; no secrets")
    if action.http is not None:
        for name in field_names(split_host(action.http.url)[0]):
            rule = runbook.inputs.get(name)
            if name.startswith(SECRET_PREFIX) or rule is None or not rule.bounds_value:
                raise ValueError(
                    f"{where}: {{{name}}} chooses the URL's host: declare it under inputs with a pattern "
                    "or one_of (the hosts it may be)"
                )


def missing_secrets(runbook: Runbook, store: SecretStore) -> list[tuple[str, str]]:
    """(step name, secret name) for each secret a step names that the store does not have."""
    there = store.names()
    missing = []
    for step in runbook.steps:
        for action in [step, *([step.rollback] if step.rollback else [])]:
            for template in action_templates(action):
                for name in field_names(template):
                    secret = name.removeprefix(SECRET_PREFIX)
                    if name.startswith(SECRET_PREFIX) and secret not in there:
                        missing.append((step.name, secret))
    return missing
