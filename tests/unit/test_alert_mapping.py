"""Alertmanager's alert -> our incident, as a plain function: which labels feed which fields, the
operator's defaults, and each missing piece named by where it would be."""

from __future__ import annotations

from typing import Any

from handlers.webhooks.alertmanager import (
    Alert,
    alert_incident_id,
    alert_to_incident_fields,
    alertmanager_mapping,
)
from handlers.webhooks.mapping import source_mapping
from settings import Settings


def alert(**changes: Any) -> Alert:
    document: dict[str, Any] = {
        "status": "firing",
        "labels": {
            "alertname": "PgPoolExhausted",
            "severity": "critical",
            "category": "Database",
            "confidence": "0.93",
            "created_by": "U012ABCDEF",
            "service": "orders-db",
        },
        "annotations": {"summary": "Pool exhausted on orders-db", "description": "96/100 in use"},
        "startsAt": "2026-11-27T07:45:00Z",
        "fingerprint": "4f2e1a0b9c8d7e6f",
        **changes,
    }
    return Alert.model_validate(document)


def test_labels_and_annotations_become_the_incidents_fields():
    fields, problems = alert_to_incident_fields(alert(), alertmanager_mapping(Settings()))
    assert problems == []
    assert {k: fields[k] for k in ("title", "category", "priority", "confidence_score", "created_by")} == {
        "title": "Pool exhausted on orders-db",
        "category": "database",
        "priority": "critical",
        "confidence_score": 0.93,
        "created_by": "U012ABCDEF",
    }
    assert (fields["service"], fields["source"], fields["fingerprint"]) == (
        "orders-db",
        "alertmanager",
        "4f2e1a0b9c8d7e6f",
    )


def test_one_firing_is_one_incident_and_a_new_firing_another():
    assert alert_incident_id(alert()) == "am-4f2e1a0b9c8d7e6f-20261127T074500Z"
    assert alert_incident_id(alert(startsAt="2026-11-28T07:45:00Z")) != alert_incident_id(alert())


def test_what_is_missing_is_named_by_the_label_to_set():
    bare = alert(labels={"alertname": "X"}, annotations={})
    fields, problems = alert_to_incident_fields(bare, alertmanager_mapping(Settings()))
    assert [p["field"] for p in problems] == ["labels.category", "labels.confidence", "labels.created_by"]
    assert fields["title"] == "X"  # the alert's name when it has no summary
    assert fields["priority"] == "medium"  # no severity


def test_the_operators_label_names_and_defaults_fill_in():
    settings = Settings(
        alertmanager_category_label="team",
        alertmanager_default_confidence=0.91,
        alertmanager_default_creator="oncall@example.com",
    )
    fields, problems = alert_to_incident_fields(
        alert(labels={"alertname": "X", "team": "network"}), alertmanager_mapping(settings)
    )
    assert problems == []
    assert (fields["category"], fields["confidence_score"], fields["created_by"]) == (
        "network",
        0.91,
        "oncall@example.com",
    )


def test_a_confidence_that_is_not_a_number_is_named():
    _, problems = alert_to_incident_fields(
        alert(labels={"confidence": "high"}), alertmanager_mapping(Settings())
    )
    assert {"field": "labels.confidence", "message": "not a number"} in problems


def test_each_source_has_its_own_names_and_says_which_setting_fills_a_gap():
    grafana = source_mapping(Settings(grafana_creator_label="owner"), "grafana", "gf")
    fields, problems = alert_to_incident_fields(alert(labels={"alertname": "X", "owner": "U0GRAF"}), grafana)
    assert (fields["incident_id"][:3], fields["source"], fields["created_by"]) == ("gf-", "grafana", "U0GRAF")
    assert [p["message"] for p in problems] == [
        "missing (set the label, or GRAFANA_DEFAULT_CATEGORY)",
        "missing (set the label, or GRAFANA_DEFAULT_CONFIDENCE)",
    ]
