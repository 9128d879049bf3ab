"""`runbooks list|test`: what is loaded, and a dry run of one runbook against an incident file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

from pydantic import ValidationError

from cli.context import cli_actor, open_storage
from cli.errors import CliError
from engine.durations import format_duration
from engine.errors import RunbookError
from engine.incident import IncidentIn, incident_values
from engine.placeholders import PlaceholderError
from engine.runbook_inputs import inputs_problem
from engine.runbook_library import request_reload
from engine.runbooks import Action, load_runbooks, runbooks_json_schema
from engine.scope import preview_scope
from engine.steps import prepare
from settings import Settings


def list_runbooks(settings: Settings, args: argparse.Namespace) -> int:
    catalog = load_runbooks(settings.runbooks_file, settings.runbook_secrets())
    print(f"{len(catalog.runbooks)} runbook(s) in {catalog.source}")
    for runbook in catalog.runbooks:
        rules = runbook.match.model_dump(exclude_defaults=True)
        matching = f" match {json.dumps(rules)}" if rules else ""
        steps = f"{len(runbook.steps)} step" + ("s" if len(runbook.steps) != 1 else "")
        print(f"  {runbook.id} ({runbook.category}, {steps}){matching}")
        if runbook.description:
            print(f"      {runbook.description}")
    return 0


def _describe(action: Action, values: dict[str, object]) -> str:
    try:
        return prepare(action, preview_scope(values)).describe()
    except PlaceholderError as exc:
        return f"REFUSED: {exc}"


def test_runbook(settings: Settings, args: argparse.Namespace) -> int:
    catalog = load_runbooks(settings.runbooks_file, settings.runbook_secrets())
    runbook = catalog.get(args.runbook)
    if runbook is None:
        raise CliError(f"no runbook {args.runbook!r} in {catalog.source} (try `python bot.py runbooks list`)")
    try:
        document = json.loads(Path(args.incident).read_text(encoding="utf-8"))
        incident = IncidentIn.model_validate(document)
    except OSError as exc:
        raise CliError(f"--incident: cannot read {args.incident}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise CliError(f"--incident: {args.incident} is not JSON: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise CliError(f"--incident: {field}: {first['msg']}") from None
    values = incident_values(SimpleNamespace(**incident.stored_fields()))
    problem = inputs_problem(runbook.inputs, values)
    if problem is not None:
        print(f"runbook {runbook.id} would skip incident {incident.incident_id}: {problem}")
        return 1
    matched = catalog.find_for(values)
    verdict = "matches" if matched is not None and matched.id == runbook.id else "would NOT be chosen for"
    print(f"runbook {runbook.id} {verdict} incident {incident.incident_id} ({incident.category});")
    print("dry run: nothing is executed")
    failures = 0
    for position, step in enumerate(runbook.steps, start=1):
        what = _describe(step, values)
        failures += what.startswith("REFUSED")
        retries = (
            "" if step.retries is None else f", {step.retries} {'retry' if step.retries == 1 else 'retries'}"
        )
        limits = f"{step.kind}, timeout {format_duration(step.timeout)}{retries}"
        print(f"  {position}. {step.name} [{limits}]: {what}")
        if step.rollback is not None:
            print(f"     rollback: {_describe(step.rollback, values)}")
    return 1 if failures else 0


def reload_runbooks(settings: Settings, args: argparse.Namespace) -> int:
    """Check the file here; if it is good, every running bot reloads it within a few seconds."""
    open_storage(settings)
    try:
        catalog, sha256 = request_reload(
            settings.runbooks_file, settings.runbook_secrets(), cli_actor(args.actor)
        )
    except RunbookError as exc:
        raise CliError(f"reload refused; the running bots keep their runbooks: {exc}") from None
    print(
        f"{len(catalog.runbooks)} runbook(s) in {catalog.source} are valid (sha256 {str(sha256)[:12]}); "
        "running bots reload them within a few seconds (each audits it)."
    )
    return 0


def print_schema(settings: Settings, args: argparse.Namespace) -> int:
    print(json.dumps(runbooks_json_schema(), indent=2, sort_keys=True))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "runbooks",
        help="list the runbooks, dry-run one against an incident, reload them, print their schema",
        epilog="examples:\n  python bot.py runbooks list\n"
        "  python bot.py runbooks test db-pool-reset --incident examples/incident.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True)
    list_parser = actions.add_parser("list", help="the runbooks in RUNBOOKS_FILE")
    list_parser.set_defaults(handler=list_runbooks)
    test_parser = actions.add_parser(
        "test", help="print what each step would do for an incident (runs nothing)"
    )
    test_parser.add_argument("runbook")
    test_parser.add_argument("--incident", required=True, help="a JSON file holding one incident")
    test_parser.set_defaults(handler=test_runbook)
    reload_parser = actions.add_parser(
        "reload", help="check RUNBOOKS_FILE and have every running bot reload it (no restart)"
    )
    reload_parser.add_argument("--actor", help="who, for the audit trail (default: the OS user)")
    reload_parser.set_defaults(handler=reload_runbooks)
    actions.add_parser(
        "schema", help="print the JSON Schema of runbooks.yml (for editors: yaml-language-server)"
    ).set_defaults(handler=print_schema)
