"""Every table the current code uses, each defined beside its queries (storage/<table>.py); the
migrations build and upgrade them."""

from __future__ import annotations

from storage.audit import AuditEntry
from storage.config_store import CategorySetting, GlobalSetting
from storage.database import BaseModel
from storage.incidents import Incident
from storage.leases import JobLease
from storage.migrations import SchemaVersion
from storage.outbox import OutboxMessage, SlackMessage
from storage.outcomes import Outcome
from storage.runs import Run, StepResult
from storage.seen_signatures import SeenSignature

ALL_MODELS: list[type[BaseModel]] = [
    SchemaVersion,
    Incident,
    Run,
    StepResult,
    AuditEntry,
    CategorySetting,
    GlobalSetting,
    OutboxMessage,
    SlackMessage,
    JobLease,
    SeenSignature,
    Outcome,
]
