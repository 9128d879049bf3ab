"""What the README and docs show works as written: the quick start, and the runbook examples."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jsonschema_rs
import pytest
import yaml

from engine.runbook_inputs import InputRule, check_input_name
from engine.runbooks import Step, parse_runbooks, runbooks_json_schema
from engine.secrets import SecretStore

ROOT = Path(__file__).resolve().parents[1]


def code_blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(), flags=re.S)


def test_the_runbook_examples_in_the_docs_load():
    """Every YAML block of docs/runbooks.md: the shape, whole runbooks (checked as the loader checks a
    file, with the secrets they name), and fragments (a list of steps, an inputs mapping)."""
    blocks = code_blocks(ROOT / "docs" / "runbooks.md", "yaml")
    shape = yaml.safe_load(blocks[0])
    whole = [b for b in blocks[1:] if b.startswith("  - id:")]
    examples = [item for block in whole for item in yaml.safe_load("runbooks:\n" + block)["runbooks"]]
    secrets = SecretStore(
        ["REPLICA_API_TOKEN", "LB_API_TOKEN"], environ={"REPLICA_API_TOKEN": "a", "LB_API_TOKEN": "b"}
    )
    catalog = parse_runbooks({"runbooks": shape["runbooks"] + examples}, Path("docs/runbooks.md"), secrets)
    assert [rb.id for rb in catalog.runbooks] == [
        "db-pool-reset",
        "web-restart",
        "cache-flush",
        "pool-reload",
        "resync-lagging-replica",
    ]
    fragments = [b for b in blocks[1:] if not b.startswith("  - id:")]
    assert len(fragments) == 3
    for fragment in fragments:
        document = yaml.safe_load(fragment)
        if isinstance(document, dict):
            assert set(document) == {"inputs"}
            for name, rule in document["inputs"].items():
                check_input_name(name)
                InputRule.model_validate(rule)
        else:
            for step in document:
                Step.model_validate(step)


def test_the_alertmanager_receiver_in_the_readme_is_valid_yaml():
    (receiver,) = code_blocks(ROOT / "README.md", "yaml")
    config = yaml.safe_load(receiver)
    hook = config["receivers"][0]["webhook_configs"][0]
    assert hook["url"].endswith("/webhooks/alertmanager")
    assert hook["http_config"]["authorization"]["type"] == "Bearer"


def shell_commands(block: str) -> list[str]:
    """The commands of a shell block: a line that is not indented starts one, comments are dropped."""
    commands: list[str] = []
    for line in block.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith((" ", "\t")) and commands:
            commands[-1] += "\n" + line
        else:
            commands.append(line)
    return commands


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's commands use curl")
def test_the_readme_quick_start_works_as_written(tmp_path):
    if not port_is_free(3000):
        pytest.skip("port 3000 is taken; the README's commands assume the default port")
    readme = (ROOT / "README.md").read_text()
    assert readme.startswith("# Autoresolve\n\n```sh\nmake run")
    shutil.copy(ROOT / "runbooks.yml", tmp_path / "runbooks.yml")
    bot = subprocess.Popen(
        [sys.executable, str(ROOT / "bot.py")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    try:
        deadline = time.monotonic() + 30
        while port_is_free(3000):
            assert time.monotonic() < deadline, "the bot did not start"
            time.sleep(0.1)
        assert httpx.get("http://127.0.0.1:3000/health", timeout=5).json()["status"] == "healthy"
        quick_start = code_blocks(ROOT / "README.md", "sh")[1]
        outputs = []
        for command in shell_commands(quick_start):
            done = subprocess.run(
                ["/bin/bash", "-c", command], capture_output=True, text=True, timeout=60, cwd=tmp_path
            )
            assert done.returncode == 0, (command, done.stderr)
            outputs.append(json.loads(done.stdout))
        resolved, skipped, trail, detail, killed, released = outputs
        assert (resolved["success"], resolved["message"]) == (True, "All 4 step(s) succeeded")
        assert skipped["message"] == "Confidence score 85.00% below threshold 90.00%"
        assert trail[0]["action"] == "incident_received"
        assert detail["status"] == "auto_resolved"
        assert (killed["global_enabled"], released["global_enabled"]) == (False, True)
    finally:
        bot.send_signal(signal.SIGTERM)
        output, _ = bot.communicate(timeout=30)
    assert "[slack offline] would send to DM U012ABCDEF" in output


def test_the_published_runbooks_schema_is_the_one_the_loader_validates_with():
    published = json.loads((ROOT / "docs" / "runbooks.schema.json").read_text(encoding="utf-8"))
    assert published == runbooks_json_schema(), (
        "run: python bot.py runbooks schema > docs/runbooks.schema.json"
    )
    example = yaml.safe_load((ROOT / "runbooks.yml").read_text(encoding="utf-8"))
    jsonschema_rs.validate(published, example)  # what editors check the shipped file against
    typo = {"runbooks": [{"id": "x", "category": "database", "steps": [{"nmae": "typo", "log": "x"}]}]}
    with pytest.raises(jsonschema_rs.ValidationError):
        jsonschema_rs.validate(published, typo)
