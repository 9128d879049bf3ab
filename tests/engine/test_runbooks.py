"""runbooks.yml: a bad file is refused naming file, runbook and field; matching picks the right runbook."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import RunbookError
from engine.runbooks import load_runbooks, parse_runbooks

ROOT = Path(__file__).resolve().parents[2]

GOOD_STEP = "- {name: Say, log: hello}"


def load(tmp_path: Path, text: str):
    path = tmp_path / "runbooks.yml"
    path.write_text(textwrap.dedent(text))
    return load_runbooks(path)


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(RunbookError) as caught:
        load(tmp_path, text)
    return str(caught.value)


def test_the_shipped_example_runbooks_load():
    catalog = load_runbooks(Path(__file__).parents[2] / "runbooks.yml")
    assert {rb.id for rb in catalog.runbooks} >= {"db-pool-reset", "service-restart", "disk-cleanup"}


@pytest.mark.parametrize(
    ("step", "field", "message"),
    [
        ("- {name: Two kinds, log: a, wait: 1s}", "steps[0]", "exactly one of"),
        ("- {name: No kind, timeout: 5s}", "steps[0]", "exactly one of"),
        ("- {name: Bad wait, wait: soon}", "steps[0].wait", "not a duration"),
        ("- {name: Bad timeout, log: a, timeout: 0s}", "steps[0].timeout", "more than 0s"),
        ("- {name: Shell, command: 'rm -rf /'}", "steps[0].command", "valid list"),
        ("- {name: Prog, command: ['{service}']}", "steps[0].command", "program"),
        ("- {name: Unknown, log: '{password}'}", "steps[0].log", "unknown placeholder {password}"),
        ("- {name: Attr, log: '{title.upper}'}", "steps[0].log", "unknown placeholder"),
        ("- {name: Url, http: {url: 'file:///etc/passwd'}}", "steps[0].http.url", "http://"),
        ("- {name: Typo, log: a, retires: 2}", "steps[0].retires", "Extra inputs"),
        ("- {name: Many, log: a, retries: 50}", "steps[0].retries", "less than or equal to 10"),
    ],
)
def test_bad_step_is_refused_naming_file_runbook_and_field(tmp_path, step, field, message):
    error = refused(
        tmp_path,
        f"""
        runbooks:
          - id: good
            category: database
            steps:
              {GOOD_STEP}
          - id: broken
            category: database
            steps:
              {step}
        """,
    )
    assert str(tmp_path / "runbooks.yml") in error
    assert "runbook 'broken'" in error
    assert f": {field}:" in error
    assert message in error


def test_bad_match_regex_is_refused(tmp_path):
    error = refused(
        tmp_path,
        f"""
        runbooks:
          - id: rx
            category: database
            match: {{title: "(unclosed"}}
            steps:
              {GOOD_STEP}
        """,
    )
    assert "runbook 'rx': match.title: not a valid regular expression" in error


def test_duplicate_ids_are_refused(tmp_path):
    error = refused(
        tmp_path,
        f"""
        runbooks:
          - id: same
            category: database
            steps:
              {GOOD_STEP}
          - id: same
            category: network
            steps:
              {GOOD_STEP}
        """,
    )
    assert "runbook 'same': id: duplicate runbook id" in error


def test_runbook_without_id_is_named_by_position(tmp_path):
    error = refused(tmp_path, "runbooks:\n  - category: database\n    steps: [{name: a, log: b}]\n")
    assert "runbook '#1': id: Field required" in error


def test_not_yaml_and_wrong_shape_are_refused(tmp_path):
    assert "not valid YAML" in refused(tmp_path, "runbooks: [unclosed\n")
    assert "top-level 'runbooks:' list" in refused(tmp_path, "- id: x\n")
    with pytest.raises(RunbookError, match="cannot read the runbooks file"):
        load_runbooks(tmp_path / "missing.yml")
    latin1 = tmp_path / "latin1.yml"
    latin1.write_bytes("runbooks:\n  - id: café\n".encode("latin-1"))  # was a UnicodeDecodeError trace
    with pytest.raises(RunbookError, match=r"latin1.yml: not UTF-8 text \(byte 0xe9 at 21\)"):
        load_runbooks(latin1)


scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
yaml_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
RUNBOOK_KEYS = [
    "id", "category", "match", "steps", "title", "labels", "name", "log", "http", "command", "wait",
    "timeout", "retries", "backoff", "rollback", "url", "method", "expect_status",
]  # fmt: skip


def places(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in a parsed document."""
    found: list[tuple[Any, Any]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        found.append((node, key))
        found.extend(places(value))
    return found


@st.composite
def mutated_documents(draw: st.DrawFn) -> Any:
    """The shipped example file with one or two values replaced by anything, removed, or a key added."""
    document = yaml.safe_load((ROOT / "runbooks.yml").read_text())
    for _ in range(draw(st.integers(1, 2))):
        spots = places(document)
        if not spots:  # the first change removed everything
            break
        container, key = draw(st.sampled_from(spots))
        change = draw(st.sampled_from(["replace", "remove", "add"]))
        if change == "replace":
            container[key] = draw(yaml_values)
        elif change == "remove":
            del container[key]
        elif isinstance(container, dict):
            container[draw(st.sampled_from(RUNBOOK_KEYS))] = draw(yaml_values)
    return document


@given(document=mutated_documents())
@settings(max_examples=150, derandomize=True, deadline=None, database=None)
def test_any_document_loads_or_is_refused_by_name(document):
    """Whatever an operator writes, start-up gets a catalog or a RunbookError naming the file (no
    other exception, no trace)."""
    try:
        parse_runbooks(document, Path("runbooks.yml"))
    except RunbookError as exc:
        refusal = str(exc)
    else:
        return
    assert refusal.startswith("runbooks.yml: ")


CATALOG = """
runbooks:
  - id: pool
    category: database
    match: {title: "(?i)connection pool", labels: {tier: backend}}
    steps: [{name: a, log: pool}]
  - id: any-db
    category: database
    steps: [{name: a, log: any}]
  - id: net
    category: network
    steps: [{name: a, log: net}]
"""


def incident(**fields):
    base = {"title": "Connection pool exhausted", "category": "database", "labels": {"tier": "backend"}}
    return {**base, **fields}


def test_first_matching_runbook_of_the_category_wins(tmp_path):
    catalog = load(tmp_path, CATALOG)
    assert catalog.find_for(incident()).id == "pool"
    assert catalog.find_for(incident(labels={"tier": "frontend"})).id == "any-db"
    assert catalog.find_for(incident(title="Disk full")).id == "any-db"
    assert catalog.find_for(incident(category="network")).id == "net"
    assert catalog.find_for(incident(category="security")) is None


def test_requested_runbook_is_used_only_within_its_category_and_rules(tmp_path):
    catalog = load(tmp_path, CATALOG)
    assert catalog.find_for(incident(runbook="any-db")).id == "any-db"
    assert catalog.find_for(incident(runbook="net")) is None  # another category's runbook
    assert catalog.find_for(incident(runbook="nope")) is None
    assert catalog.find_for(incident(runbook="pool", labels={})) is None  # its match rules still apply


@pytest.mark.parametrize(
    "command",
    [
        '["sh", "-c", "echo restarting {service}"]',
        '["/bin/bash", "-ec", "systemctl restart {service}"]',
        '["sudo", "-u", "app", "dash", "-c", "kill {labels[pid]}"]',
        '["python3", "-c", "print(1); open(\x27{service}\x27)"]',
        '["perl", "-e", "print q({service})"]',
        '["psql", "--command=VACUUM {service}"]',
        '["ssh", "-p", "22", "ops@db1", "systemctl", "restart", "{service}"]',
        '["awk", "/{service}/ {{print $1}}", "/etc/hosts"]',
        '["kubectl", "exec", "pod-1", "--", "sh", "-c", "rm /tmp/{service}"]',
    ],
)
def test_a_placeholder_where_a_program_reads_code_is_refused(tmp_path, command):
    error = refused(
        tmp_path,
        f"""
        runbooks:
          - id: restart
            category: database
            steps:
              - {{name: Restart it, command: {command}}}
        """,
    )
    assert "runbook 'restart': step 'Restart it': steps[0].command:" in error
    assert "injection" in error


@pytest.mark.parametrize(
    "command",
    [
        '["sh", "-c", "echo restarting \\"$1\\"", "sh", "{service}"]',
        '["python3", "-c", "import sys; print(sys.argv[1])", "{service}"]',
        '["ssh", "ops@{labels[host]}", "systemctl", "restart", "orders"]',
        '["systemctl", "restart", "{service}"]',
    ],
)
def test_values_passed_as_arguments_load(tmp_path, command):
    catalog = load(
        tmp_path,
        f"""
        runbooks:
          - id: restart
            category: database
            steps:
              - {{name: Restart it, command: {command}}}
        """,
    )
    assert catalog.get("restart") is not None


def test_a_rollback_command_is_held_to_the_same_rule(tmp_path):
    error = refused(
        tmp_path,
        """
        runbooks:
          - id: restart
            category: database
            steps:
              - name: Stop it
                log: stopping
                rollback: {command: ["bash", "-c", "start {service}"]}
        """,
    )
    assert "steps[0].rollback.command:" in error
