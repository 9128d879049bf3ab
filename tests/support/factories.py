"""Test data: an incident body as senders post it (valid, high confidence) unless told otherwise."""

from __future__ import annotations

from typing import Any


def incident_body(incident_id: str = "INC-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "incident_id": incident_id,
        "title": "Connection pool exhausted",
        "description": "orders-db refuses new connections",
        "category": "database",
        "priority": "high",
        "confidence_score": 0.95,
        "created_by": "U012ABCDEF",
        "service": "orders-db",
    }
    body.update(overrides)
    return body
