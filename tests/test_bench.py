"""A small run of the benchmark's own machinery, so `make bench` cannot rot unnoticed: the end-to-end
burst (bot process, emulator, completeness checks) at a tenth of its size, and the audit rows figure 4
writes straight into the database, which the bot's own verifier must accept as a sealed chain."""

from __future__ import annotations

from bench import end_to_end
from bench.audit import fill_audit
from bench.harness import ROOT, bot_env, sqlite_database
from tests.support.processes import run_cli


def test_the_end_to_end_figure_runs_and_checks_what_arrived(tmp_path):
    database = sqlite_database(tmp_path, "e2e.db")
    result = end_to_end.run_burst(tmp_path, database, slack_limits=True, give_up_after=90, incidents=60)
    assert result["complete"], result
    assert result["dms"] == 60
    assert result["dms_twice"] == 0
    assert result["resolved_in_audit_channel"] == 60
    assert result["posted_twice"] == 0
    assert result["calls_inside_retry_after"] == 0


def test_the_audit_rows_written_for_figure_4_form_a_chain_the_bot_verifies(tmp_path):
    database = sqlite_database(tmp_path, "audit.db")
    incident = fill_audit(database, 2_000)
    env = bot_env(database, ROOT / "runbooks.yml", 3000)
    verified = run_cli(tmp_path, "audit", "verify", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    trail = run_cli(tmp_path, "audit", "query", "--incident", incident, "--json", env=env)
    assert trail.returncode == 0, trail.stderr
    assert trail.stdout.count('"audit_id"') == 10  # ten rows per incident, as figure 4 assumes


def test_the_mixed_burst_figure_runs_and_checks_every_approval_is_actionable(tmp_path):
    database = sqlite_database(tmp_path, "mixed.db")
    result = end_to_end.run_burst(
        tmp_path, database, slack_limits=True, give_up_after=120, incidents=60, mixed=True
    )
    assert result["complete"], result
    assert (result["awaiting_approval"], result["approvals_actionable"]) == (3, 3)
    assert result["dms"] == 57
    assert result["refused_by_slack"] == 0


def test_the_storms_deliveries_are_alertmanagers_and_mix_as_described():
    from bench import storm
    from handlers.webhooks.alertmanager import AlertmanagerPayload

    deliveries = [storm.delivery(first) for first in range(0, 1000, storm.PER_DELIVERY)]
    for document in deliveries:
        AlertmanagerPayload.model_validate(document)  # what the endpoint reads, validated as it does
    confidences = [float(a["labels"]["confidence"]) for d in deliveries for a in d["alerts"]]
    assert len(confidences) == 1000
    assert (confidences.count(0.5), confidences.count(0.85), confidences.count(0.95)) == (100, 50, 850)
    assert storm.STORM_ID.fullmatch("am-storm00000042")
