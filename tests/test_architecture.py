"""The arrows between the rooms (docs/architecture.md), read from the import statements themselves:
faces depend on the engine, the engine on storage, never the reverse; runtime.py wires them."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.database import BaseModel

ROOT = Path(__file__).resolve().parent.parent
SLACK_AND_WEB = {"fastapi", "starlette", "uvicorn", "slack_bolt", "slack_sdk"}
# room -> the top-level names it must never import (its own or a library's)
FORBIDDEN = {
    "handlers": {"runtime", "cli", "bot"},
    "engine": {"handlers", "runtime", "cli", "bot", *SLACK_AND_WEB},
    "storage": {"engine", "handlers", "runtime", "cli", "bot", *SLACK_AND_WEB},
    "cli": {"handlers.slack"},  # the CLI shares rules through the engine, not through a Slack face
}
LONGEST_MODULE = 400  # lines; past this a module holds more than one job
# What faces may take from storage: its vocabulary (statuses, lanes, the clock) and the row types the
# engine hands them (a table's model class); every read and write goes through the engine. The
# outbox's own producers and deliverers use the outbox.
STORAGE_VOCABULARY = {"storage.statuses", "storage.lanes", "storage.fields"}
OUTBOX_ADAPTERS = {
    "handlers.delivery_common",
    "handlers.slack.delivery.announcer",
    "handlers.slack.delivery.deliverer",
    "handlers.slack.delivery.digest",
    "handlers.slack.delivery.post_records",
    "handlers.webhooks.delivery",
    "handlers.webhooks.results",
    "handlers.webhooks.resolve_back",
    "handlers.webhooks.vendor_api",
    "handlers.webhooks.pagerduty_api",
    "handlers.webhooks.opsgenie_api",
}
PROBES = {"handlers.health", "handlers.reads"}  # is the database up; is it a local one


def modules(room: str) -> Iterator[tuple[str, ast.Module]]:
    for path in sorted((ROOT / room).rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        yield name, ast.parse(path.read_text(encoding="utf-8"))


def imported(tree: ast.Module) -> Iterator[str]:
    """Every module an import statement names, TYPE_CHECKING blocks and function bodies included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def breaks(name: str, forbidden: set[str]) -> bool:
    return any(name == f or name.startswith(f + ".") for f in forbidden)


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_no_room_imports_what_it_must_not(room):
    crossings = [
        f"{module} imports {name}"
        for module, tree in modules(room)
        for name in imported(tree)
        if breaks(name, FORBIDDEN[room])
    ]
    assert crossings == []


def storage_allowed(module: str) -> set[str]:
    allowed = set(STORAGE_VOCABULARY)
    if module in OUTBOX_ADAPTERS:
        allowed |= {"storage.outbox", "storage.leases", "storage.group_commit"}  # its writes share commits
    if module in PROBES:
        allowed.add("storage.database")
    return allowed


def is_row_type(name: str) -> bool:
    """Whether `storage.<table>.<Name>` names a table's model class (a row, not a query)."""
    module, _, attribute = name.rpartition(".")
    found = getattr(importlib.import_module(module), attribute, None)
    return isinstance(found, type) and issubclass(found, BaseModel)


def test_faces_reach_storage_only_through_the_engine():
    reaching = [
        f"{module} imports {name}"
        for module, tree in modules("handlers")
        for name in imported(tree)
        if breaks(name, {"storage"}) and not breaks(name, storage_allowed(module)) and not is_row_type(name)
    ]
    assert reaching == []


def test_the_checker_sees_an_import_hidden_behind_type_checking():
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from runtime import Runtime\n")
    assert [n for n in imported(tree) if breaks(n, FORBIDDEN["handlers"])] == ["runtime.Runtime"]


def test_the_faces_share_no_limiter_between_event_loops():
    """A module-level anyio.CapacityLimiter is shared by every event loop in the process and can hang
    (handlers/thread_limits.py); faces use ThreadLimit, a thread pool any loop can wait on."""
    shared = [
        module
        for module, tree in modules("handlers")
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        and isinstance(node.value, ast.Call)
        and "CapacityLimiter" in ast.unparse(node.value.func)
    ]
    assert shared == []


def test_no_module_is_past_its_length():
    long = [
        f"{path.relative_to(ROOT)}: {lines} lines"
        for room in ("handlers", "engine", "storage", "cli")
        for path in sorted((ROOT / room).rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > LONGEST_MODULE
    ]
    assert long == []


def test_the_command_line_loads_the_bot_only_for_the_commands_that_run_it():
    """`bot.py killswitch on` must answer fast when it matters most: the CLI's own commands load no
    web server, no Slack and no scheduler (serve and demo load them when they run)."""
    probe = "import json, sys, cli.main; print(json.dumps(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    heavy = {"runtime", "fastapi", "uvicorn", "slack_bolt", "slack_sdk", "apscheduler"}
    assert heavy.isdisjoint(json.loads(loaded))


def test_the_report_extras_are_the_clis_alone():
    """matplotlib draws `report calibration --png`; the bot never needs it (requirements-report.txt)."""
    users = [
        module
        for room in ("engine", "storage", "handlers", "cli")
        for module, tree in modules(room)
        if any(breaks(name, {"matplotlib"}) for name in imported(tree))
    ]
    assert users == ["cli.calibration_cmd"]
    assert "matplotlib" not in (ROOT / "requirements.txt").read_text(encoding="utf-8")
