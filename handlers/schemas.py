"""Request and response bodies of the REST API: the seed's shapes and field names, plus additions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from engine.configuration import NOT_NULL
from engine.incident import CategoryName
from engine.text import Line, Prose

T = TypeVar("T")


def _refuse_null(value: Any) -> Any:
    if value is None:
        raise ValueError(NOT_NULL)
    return value


def _without_null(schema: dict[str, Any]) -> None:
    options = [option for option in schema.pop("anyOf", []) if option != {"type": "null"}]
    if len(options) == 1:
        schema.update(options[0])


# A setting in an update body that has no empty value: left out (None, the default) it keeps its
# value; an explicit null is a 422 naming it, and the OpenAPI document does not offer null.
Setting = Annotated[T | None, BeforeValidator(_refuse_null), Field(json_schema_extra=_without_null)]


class ResolutionStep(BaseModel):
    """The seed's step shape; `status` onwards added."""

    step_id: str
    description: str
    action: str
    executed_at: datetime | None = None
    success: bool | None = None
    error_message: str | None = None
    status: str
    phase: str = "step"
    kind: str
    attempts: int
    duration_ms: int | None = None
    output: str = ""


class IncidentResolutionResponse(BaseModel):
    incident_id: str
    success: bool
    message: str
    resolution_steps: list[ResolutionStep] = Field(default_factory=list)
    resolved_at: datetime | None = None
    status: str = Field(description="Where the incident stands in the resolution lifecycle")
    run_id: int | None = None
    runbook: str | None = None


class RunView(BaseModel):
    run_id: int
    runbook: str
    status: str
    dry_run: bool
    forced: bool
    requested_by: str
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    message: str | None
    steps: list[ResolutionStep]


class IncidentDetail(BaseModel):
    incident_id: str
    title: str
    description: str
    category: str
    priority: str
    status: str
    confidence_score: float
    created_by: str
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    auto_resolved: bool
    tags: list[str]
    source: str | None
    fingerprint: str | None
    service: str | None
    labels: dict[str, str]
    runbook: str | None
    callback_url: str | None
    resolution_status: str
    resolution_reason: str | None
    resolution_steps: list[ResolutionStep]
    latest_run: RunView | None
    held_deliveries: int = Field(
        default=0, description="Deliveries that ran nothing because a person must start it again"
    )
    approval_requested_at: datetime | None = Field(
        default=None, description="While awaiting approval: when the standing request was asked"
    )


class CategoryConfig(BaseModel):
    category: str
    auto_resolution_enabled: bool = True
    confidence_threshold: float = 0.90
    max_retry_attempts: int = 3
    notification_required: bool = True
    dry_run: bool = False
    approval_floor: float | None = None
    approval_timeout_seconds: float = 3600.0
    failure_budget: int = 3
    failure_window_seconds: float = 3600.0
    paused_reason: str | None = Field(default=None, description="Set while the category is paused")
    over_limit: str = Field(default="approval", description="Past a runbook's run limit: approval or skip")
    approval_all: bool = Field(default=False, description="Every run waits for an admin (autonomy: approval)")


class CategoryConfigUpdate(BaseModel):
    """A category's settings to change; omitted fields keep their value (or the default, if new)."""

    model_config = ConfigDict(extra="forbid")

    category: CategoryName
    auto_resolution_enabled: Setting[bool] = None
    confidence_threshold: Setting[float] = Field(default=None, ge=0.5, le=1.0)
    max_retry_attempts: Setting[int] = Field(default=None, ge=0, le=10)
    notification_required: Setting[bool] = None
    dry_run: Setting[bool] = None
    approval_floor: float | None = Field(default=None, ge=0.0, le=1.0, description="null: no approvals")
    approval_timeout_seconds: Setting[float] = Field(
        default=None, ge=1, le=7 * 86400, description="An unanswered approval request expires after this"
    )
    failure_budget: Setting[int] = Field(
        default=None,
        ge=0,
        le=100,
        description="Failed runs within the window that pause the category (0: none)",
    )
    failure_window_seconds: Setting[float] = Field(default=None, ge=60, le=7 * 86400)
    paused_reason: Annotated[Prose, StringConstraints(min_length=1, max_length=500)] | None = Field(
        default=None, description="Pause the category with this reason; null resumes it (admins)"
    )
    over_limit: Setting[Literal["approval", "skip"]] = Field(
        default=None, description="Past a runbook's run limit, wait for approval or skip"
    )
    approval_all: Setting[bool] = Field(
        default=None, description="Every run waits for an admin's approval (autonomy mode: approval)"
    )


class KillSwitchView(BaseModel):
    active: bool
    actor: str | None
    reason: str | None
    since: datetime | None
    until: datetime | None


class AutoResolutionConfig(BaseModel):
    global_enabled: bool = Field(description="False while the kill switch is active")
    default_confidence_threshold: float
    category_configs: dict[str, CategoryConfig]
    max_concurrent_resolutions: int
    notification_recipients: list[str]
    kill_switch: KillSwitchView
    notes: list[str] = Field(
        default_factory=list, description="What the caller should know about the change (a capped duration)"
    )


class ConfigUpdateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    global_enabled: Setting[bool] = None
    default_confidence_threshold: Setting[float] = Field(default=None, ge=0.5, le=1.0)
    category_config: Setting[CategoryConfigUpdate] = None
    max_concurrent_resolutions: Setting[int] = Field(default=None, ge=1, le=100)
    notification_recipients: Setting[list[Annotated[Line, StringConstraints(max_length=320)]]] = Field(
        default=None, max_length=50
    )


class KillSwitchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor: Line | None = Field(default=None, max_length=320)
    reason: Prose | None = Field(default=None, max_length=1000)
    duration: Line | None = Field(
        default=None,
        max_length=100,
        description="Turn off by itself after this, e.g. 30m, 2h, 1d (at most 30 days)",
    )


class AuditLogEntry(BaseModel):
    audit_id: str
    incident_id: str | None
    action: str
    timestamp: datetime
    actor: str
    confidence_score: float | None
    details: dict[str, Any]
    success: bool
    error_message: str | None
    run_id: int | None = None


class FieldError(BaseModel):
    field: str = Field(description="A body field (category_config.dry_run, [2].priority), parameter or body")
    message: str


class ErrorBody(BaseModel):
    """The shape of every error answer."""

    error: str = Field(description="What went wrong, in one line")
    status_code: int
    fields: list[FieldError] | None = Field(default=None, description="Bad input: each field at fault")


class AcceptedIncident(BaseModel):
    index: int = Field(description="Its position in the delivery (0 for a single incident)")
    incident_id: str
    decision: str = Field(description="queued, skipped, awaiting_approval, ... (recorded: an alert resolved)")
    reason: str
    run_id: int | None
    new: bool = Field(description="False when the incident was delivered before")


class RejectedIncident(BaseModel):
    index: int
    incident_id: str | None
    errors: list[FieldError]


class IntakeAnswer(BaseModel):
    """A webhook's answer: each incident accepted with its decision, or rejected with its reasons."""

    accepted: list[AcceptedIncident]
    rejected: list[RejectedIncident]


class IntakeRefusal(ErrorBody):
    """A webhook's 422: the body held no incidents (`error`, `fields`), or none of them was valid
    (then `accepted`, empty, and `rejected`, each with its faults; the first fault is `error`)."""

    accepted: list[AcceptedIncident] | None = None
    rejected: list[RejectedIncident] | None = None
