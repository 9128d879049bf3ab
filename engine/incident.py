"""The incident as it arrives from outside: the seed's fields plus routing ones, validated."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator

from engine.text import Line, Prose
from storage.statuses import IncidentStatus

INCIDENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"
CATEGORY_PATTERN = r"^[a-z0-9][a-z0-9_\-]{0,63}$"
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$")

IncidentId = Annotated[str, StringConstraints(pattern=INCIDENT_ID_PATTERN)]
CategoryName = Annotated[str, StringConstraints(pattern=CATEGORY_PATTERN)]
ShortText = Annotated[Line, StringConstraints(max_length=200)]
LabelKey = Annotated[Line, StringConstraints(min_length=1, max_length=100)]
LabelValue = Annotated[Line, StringConstraints(max_length=1000)]


def _not_a_boolean(value: object) -> object:
    if isinstance(value, bool):  # true is no 100%: a sender's bug, not a score
        raise ValueError("must be a number from 0 to 1, not a boolean")
    return value


Score = Annotated[float, BeforeValidator(_not_a_boolean), Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class IncidentIn(BaseModel):
    """An incident delivered to the bot. Unknown extra fields (the seed had a few) are ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    incident_id: IncidentId
    title: Line = Field(min_length=1, max_length=500)
    description: Prose = Field(default="", max_length=20_000)
    category: CategoryName
    priority: Priority = Priority.MEDIUM
    status: IncidentStatus = IncidentStatus.OPEN
    confidence_score: Score
    created_by: Line = Field(min_length=1, max_length=320)
    created_at: datetime | None = None
    tags: list[ShortText] = Field(default_factory=list, max_length=50)
    source: ShortText | None = None
    fingerprint: ShortText | None = None
    service: ShortText | None = None
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=100)
    runbook: Annotated[Line, StringConstraints(max_length=128)] | None = None
    callback_url: Annotated[Line, StringConstraints(max_length=2048)] | None = None

    @field_validator("created_by")
    @classmethod
    def _slack_user_or_email(cls, value: str) -> str:
        if SLACK_USER_ID.match(value) or EMAIL.match(value):
            return value
        raise ValueError("must be a Slack user ID (U... or W...) or an e-mail address")

    @field_validator("callback_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    def stored_fields(self) -> dict[str, Any]:
        """The columns this delivery writes to the incident row."""
        fields = self.model_dump(exclude={"created_at"})
        fields["priority"] = self.priority.value
        fields["status"] = self.status.value
        if self.created_at is not None:
            fields["created_at"] = self.created_at
        return fields


def incident_values(row: Any) -> dict[str, Any]:
    """A stored incident's fields as runbook matching and placeholders see them."""
    return {
        "incident_id": row.incident_id,
        "title": row.title,
        "description": row.description,
        "category": row.category,
        "priority": row.priority,
        "created_by": row.created_by,
        "service": row.service,
        "source": row.source,
        "fingerprint": row.fingerprint,
        "runbook": row.runbook,
        "confidence_score": row.confidence_score,
        "labels": row.labels or {},
    }
