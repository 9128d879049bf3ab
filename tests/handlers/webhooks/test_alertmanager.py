"""POST /webhooks/alertmanager with payloads in Alertmanager's recorded (version 4) shape."""

from __future__ import annotations

from typing import Any

from tests.conftest import eventually

FIRING_ALERT: dict[str, Any] = {
    "status": "firing",
    "labels": {
        "alertname": "DiskAlmostFull",
        "category": "infrastructure",
        "confidence": "0.97",
        "created_by": "U012ABCDEF",
        "instance": "db1:9100",
        "job": "node",
        "severity": "critical",
    },
    "annotations": {"summary": "Disk almost full on db1", "description": "/var at 97%"},
    "startsAt": "2026-11-27T07:45:00.123Z",
    "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://prometheus:9090/graph?g0.expr=disk",
    "fingerprint": "4f2e1a0b9c8d7e6f",
}


def payload(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="DiskAlmostFull"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "autoresolve",
        "groupLabels": {"alertname": "DiskAlmostFull"},
        "commonLabels": {"alertname": "DiskAlmostFull"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


def alert(**changes: Any) -> dict[str, Any]:
    labels = {**FIRING_ALERT["labels"], **changes.pop("labels", {})}
    return {**FIRING_ALERT, "labels": labels, **changes}


def test_one_firing_alert_becomes_an_incident_and_runs(hooks):
    response = hooks.post("/webhooks/alertmanager", payload(alert()))
    assert response.status_code == 202
    (accepted,) = response.json()["accepted"]
    incident_id = "am-4f2e1a0b9c8d7e6f-20261127T074500Z"
    assert (accepted["incident_id"], accepted["decision"]) == (incident_id, "queued")
    detail = eventually(
        lambda: (
            (d := hooks.api.get(f"/api/v1/incidents/{incident_id}").json())["status"] == "auto_resolved" and d
        )
    )
    assert isinstance(detail, dict)
    assert detail["title"] == "Disk almost full on db1"
    assert (detail["category"], detail["priority"], detail["source"]) == (
        "infrastructure",
        "critical",
        "alertmanager",
    )
    assert detail["confidence_score"] == 0.97
    assert (detail["fingerprint"], detail["service"]) == ("4f2e1a0b9c8d7e6f", "node")
    assert detail["labels"]["instance"] == "db1:9100"
    assert detail["resolution_steps"][0]["output"] == "cleaning db1:9100"


def test_a_group_of_three_alerts(hooks):
    alerts = [
        alert(fingerprint="aaaa000000000001"),
        alert(
            fingerprint="aaaa000000000002", labels={"confidence": "0.5", "alertname": "Noisy"}, annotations={}
        ),
        alert(fingerprint="aaaa000000000003", labels={"severity": "warning"}),
    ]
    body = hooks.post("/webhooks/alertmanager", payload(*alerts)).json()
    assert [a["decision"] for a in body["accepted"]] == ["queued", "skipped", "queued"]
    second = hooks.api.get(f"/api/v1/incidents/{body['accepted'][1]['incident_id']}").json()
    assert second["title"] == "Noisy"  # no summary: the alertname
    third = hooks.api.get(f"/api/v1/incidents/{body['accepted'][2]['incident_id']}").json()
    assert third["priority"] == "medium"


def test_alertmanager_repeating_a_group_runs_nothing_twice(hooks):
    hooks.post("/webhooks/alertmanager", payload(alert()))
    again = hooks.post("/webhooks/alertmanager", payload(alert())).json()["accepted"][0]
    assert again["new"] is False
    assert again["decision"] == "skipped"
    eventually(lambda: hooks.audit(action="auto_resolution_success"))  # the first delivery's run
    attempts = hooks.audit(action="auto_resolution_attempted")
    assert len(attempts) == 1


def test_a_resolved_alert_is_recorded_on_its_incident(hooks):
    hooks.post("/webhooks/alertmanager", payload(alert()))
    eventually(lambda: hooks.audit(action="auto_resolution_success"))  # its run is over
    resolved = alert(status="resolved", endsAt="2026-11-27T08:00:00Z")
    response = hooks.post("/webhooks/alertmanager", payload(resolved, status="resolved"))
    (accepted,) = response.json()["accepted"]
    assert (accepted["decision"], accepted["reason"]) == (
        "recorded",
        "Alert resolved (ends 2026-11-27T08:00:00+00:00); recorded on the incident",
    )
    (row,) = hooks.audit(action="alert_resolved")
    assert row["incident_id"] == "am-4f2e1a0b9c8d7e6f-20261127T074500Z"
    assert row["details"]["reason"] == "Alert resolved (ends 2026-11-27T08:00:00+00:00)"


def test_a_resolved_alert_without_an_end_time_says_now_not_year_one(hooks):
    """Alertmanager sends Go's zero time, 0001-01-01T00:00:00Z, for an end it has not set."""
    resolved = alert(status="resolved", endsAt="0001-01-01T00:00:00Z")
    response = hooks.post("/webhooks/alertmanager", payload(resolved, status="resolved"))
    (accepted,) = response.json()["accepted"]
    assert accepted["reason"].startswith("Alert resolved (ends now)")
    (row,) = hooks.audit(action="alert_resolved")
    assert row["details"]["ends_at"] is None


def test_a_resolved_alert_cancels_its_waiting_approval(make_hooks):
    hooks = make_hooks()
    floor = {"category_config": {"category": "infrastructure", "approval_floor": 0.5}}
    assert hooks.api.put("/api/v1/config", json=floor).status_code == 200
    waiting = alert(labels={"confidence": "0.7"})
    first = hooks.post("/webhooks/alertmanager", payload(waiting)).json()["accepted"][0]
    assert first["decision"] == "awaiting_approval"
    resolved = alert(status="resolved", endsAt="2026-11-27T08:00:00Z")
    (answer,) = hooks.post("/webhooks/alertmanager", payload(resolved, status="resolved")).json()["accepted"]
    assert answer["decision"] == "cancelled"
    assert answer["reason"].endswith(": its approval request was cancelled")
    detail = hooks.api.get(f"/api/v1/incidents/{first['incident_id']}").json()
    assert detail["resolution_status"] == "cancelled"
    assert [r["action"] for r in hooks.audit(action="incident_cancelled")] == ["incident_cancelled"]
    assert hooks.audit(action="auto_resolution_attempted") == []


def test_missing_labels_are_named_and_defaults_fill_in(make_hooks):
    hooks = make_hooks()
    bare = alert(labels={}, fingerprint="bbbb000000000001")
    for name in ("category", "confidence", "created_by"):
        bare["labels"].pop(name)
    body = hooks.post("/webhooks/alertmanager", payload(bare)).json()
    fields = [e["field"] for e in body["rejected"][0]["errors"]]
    assert fields == [
        "alerts[0].labels.category",
        "alerts[0].labels.confidence",
        "alerts[0].labels.created_by",
    ]

    with_defaults = make_hooks(
        alertmanager_default_category="infrastructure",
        alertmanager_default_confidence=0.99,
        alertmanager_default_creator="oncall@example.com",
    )
    accepted = with_defaults.post("/webhooks/alertmanager", payload(bare)).json()["accepted"]
    assert accepted[0]["decision"] == "queued"


def test_label_names_are_configurable(make_hooks):
    hooks = make_hooks(
        alertmanager_category_label="team_category", alertmanager_confidence_label="autoresolve_conf"
    )
    renamed = alert(labels={"team_category": "infrastructure", "autoresolve_conf": "0.95"})
    del renamed["labels"]["category"], renamed["labels"]["confidence"]
    assert (
        hooks.post("/webhooks/alertmanager", payload(renamed)).json()["accepted"][0]["decision"] == "queued"
    )


def test_the_service_and_the_dedup_key_can_come_from_labels(make_hooks):
    hooks = make_hooks(alertmanager_service_label="app", alertmanager_dedup_label="incident_key")
    first = alert(fingerprint="bbbb000000000001", labels={"app": "checkout", "incident_key": "disk-db1"})
    accepted = hooks.post("/webhooks/alertmanager", payload(first)).json()["accepted"][0]
    detail = hooks.api.get(f"/api/v1/incidents/{accepted['incident_id']}").json()
    assert (detail["service"], detail["fingerprint"]) == ("checkout", "disk-db1")
    # Another alert (its own fingerprint, so its own incident id) with the same key is the same problem
    second = alert(fingerprint="bbbb000000000002", labels={"app": "checkout", "incident_key": "disk-db1"})
    assert hooks.post("/webhooks/alertmanager", payload(second)).json()["accepted"][0]["decision"] == (
        "duplicate"
    )
    # Without the label, the vendor's own key and the `job` fallback stand
    plain = alert(fingerprint="bbbb000000000003")
    accepted = hooks.post("/webhooks/alertmanager", payload(plain)).json()["accepted"][0]
    detail = hooks.api.get(f"/api/v1/incidents/{accepted['incident_id']}").json()
    assert (detail["service"], detail["fingerprint"]) == ("node", "bbbb000000000003")


def test_malformed_alertmanager_payloads_name_the_field(hooks):
    cases = [
        ({**payload(alert()), "alerts": []}, "alerts"),
        (payload({**alert(), "startsAt": "yesterday"}), "alerts[0].startsAt"),
        (payload({**alert(), "status": "pending"}), "alerts[0].status"),
        ({**payload(alert()), "status": None}, "status"),
        (payload(alert(labels={"confidence": "very"})), "alerts[0].labels.confidence"),
    ]
    for document, field in cases:
        response = hooks.post("/webhooks/alertmanager", document)
        assert response.status_code == 422, (field, response.text)
        assert response.json()["error"].startswith(f"{field}:"), response.json()


def test_an_alert_that_fires_again_after_it_resolved_is_a_new_incident(make_hooks):
    hooks = make_hooks(dedup_window_seconds=0)  # as when the window has passed since the first firing
    first = hooks.post("/webhooks/alertmanager", payload(alert())).json()["accepted"][0]
    eventually(lambda: hooks.audit(action="auto_resolution_success"))
    hooks.post("/webhooks/alertmanager", payload(alert(status="resolved", endsAt="2026-11-27T08:00:00Z")))
    again = hooks.post("/webhooks/alertmanager", payload(alert(startsAt="2026-11-27T09:30:00Z"))).json()
    [second] = again["accepted"]
    assert second["incident_id"] == "am-4f2e1a0b9c8d7e6f-20261127T093000Z" != first["incident_id"]
    assert (second["decision"], second["new"]) == ("queued", True)
