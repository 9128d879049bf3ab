"""Calibration over real HTTP: the report, a person's correction, and the outcome metrics (Slack's
/autoresolve calibration and outcome are in tests/handlers/slack/test_commands.py)."""

from __future__ import annotations

from typing import Any

import pytest

from storage import outcomes
from storage.fields import utcnow
from tests.support.factories import incident_body
from tests.support.servers import ServedApp

TOKEN = "test-api-token"
RUNBOOKS = """
runbooks:
  - id: db-fix
    category: database
    steps: [{name: Fix, log: fixed}]
"""


def seed(category: str, confidence: float, fixed: int, not_fixed: int) -> None:
    for index in range(fixed + not_fixed):
        incident_id = f"{category}-{confidence}-{index}"
        outcomes.record_decision(
            incident_id=incident_id, category=category, confidence=confidence, threshold=0.9, decision="auto"
        )
        verdict = index < fixed
        outcomes.set_outcome(
            incident_id=incident_id,
            kind="stayed_resolved" if verdict else "reopened",
            fixed=verdict,
            known_at=utcnow(),
        )


@pytest.fixture
def app(served) -> ServedApp:
    return served(RUNBOOKS, api_token=TOKEN)


@pytest.fixture
def api(app):
    with app.client(TOKEN) as client:
        yield client


def test_the_report_over_rest(api):
    seed("database", 0.97, fixed=150, not_fixed=0)
    seed("database", 0.92, fixed=40, not_fixed=10)
    answer = api.get("/api/v1/reports/calibration", params={"since": "7d"})
    assert answer.status_code == 200, answer.text
    (database,) = answer.json()
    assert (database["category"], database["outcomes"], database["suggested"]) == ("database", 200, 0.97)
    assert database["current"]["count"] == 200
    assert database["current"]["not_fixed"] == 10
    assert database["verdict"].startswith("Raise to 0.97: 50 fewer automated, 10 fewer mistake(s)")
    assert [band["count"] for band in database["bands"]] == [50, 150]
    one: list[dict[str, Any]] = api.get("/api/v1/reports/calibration", params={"category": "network"}).json()
    assert one[0]["verdict"].startswith("Not enough evidence: 0 outcome(s)")


@pytest.mark.parametrize(
    ("params", "field"),
    [({"since": "forever"}, "since"), ({"since": "400d"}, "since"), ({"category": "Bad Name"}, "category")],
)
def test_a_bad_report_query_names_its_field(api, params, field):
    answer = api.get("/api/v1/reports/calibration", params=params)
    assert answer.status_code == 422
    assert field in {f["field"].split(".")[-1] for f in answer.json()["fields"]}


def test_a_person_corrects_an_outcome_over_rest(api):
    api.post("/api/v1/incidents/INC-1/auto-resolve", json=incident_body())
    corrected = api.post("/api/v1/incidents/INC-1/outcome", json={"fixed": False})
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["fixed"] is False
    row = outcomes.get(incident_id="INC-1")
    assert row is not None
    assert (row.kind, row.fixed) == ("corrected", False)
    trail = api.get("/api/v1/audit", params={"action": "outcome_corrected"}).json()
    assert trail[0]["incident_id"] == "INC-1"
    assert api.post("/api/v1/incidents/INC-404/outcome", json={"fixed": True}).status_code == 404
    bad = api.post("/api/v1/incidents/INC-1/outcome", json={"fixed": "maybe"})
    assert bad.status_code == 422


def test_an_action_the_engine_refuses_over_rest_is_audited_and_a_read_is_not(api):
    assert api.post("/api/v1/incidents/INC-404/outcome", json={"fixed": True}).status_code == 404
    assert api.get("/api/v1/incidents/INC-404").status_code == 404
    (refused,) = api.get("/api/v1/audit", params={"action": "request_refused"}).json()
    assert refused["error_message"] == "No automated decision was recorded for INC-404"
    assert (refused["details"]["method"], refused["details"]["path"]) == (
        "POST",
        "/api/v1/incidents/INC-404/outcome",
    )


def test_the_metrics_show_outcomes_and_the_false_resolution_rate(api):
    seed("database", 0.97, fixed=3, not_fixed=1)
    text = api.get("/metrics").text
    assert 'autoresolve_outcomes{category="database",kind="stayed_resolved"} 3.0' in text
    assert 'autoresolve_outcomes{category="database",kind="reopened"} 1.0' in text
    assert 'autoresolve_false_resolution_rate{category="database"} 0.25' in text
