"""The tables as the current code sees them; storage/migrations.py builds and upgrades them."""

from __future__ import annotations

import peewee

from storage.database import db
from storage.fields import JSONField, UTCDateTimeField, utcnow
from storage.lanes import LaneField, Transport
from storage.statuses import (
    ACTIVE_RUN_STATUSES,
    IncidentStatus,
    OutboxStatus,
    ResolutionStatus,
    RunStatus,
    StepStatus,
)


class BaseModel(peewee.Model):
    class Meta:
        database = db
        legacy_table_names = False


class SchemaVersion(BaseModel):
    version = peewee.IntegerField(primary_key=True)
    name = peewee.CharField(max_length=200)
    applied_at = UTCDateTimeField(default=utcnow)


class Incident(BaseModel):
    id = peewee.AutoField()
    incident_id = peewee.CharField(max_length=128, unique=True)
    title = peewee.CharField(max_length=500)
    description = peewee.TextField(default="")
    category = peewee.CharField(max_length=64, index=True)
    priority = peewee.CharField(max_length=16)
    status = peewee.CharField(max_length=32, default=IncidentStatus.OPEN.value)
    confidence_score = peewee.DoubleField()
    created_by = peewee.CharField(max_length=320)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)
    resolved_at = UTCDateTimeField(null=True)
    auto_resolved = peewee.BooleanField(default=False)
    tags = JSONField(default=list)
    # Added by Autoresolve (migration 2).
    source = peewee.CharField(max_length=200, null=True)
    fingerprint = peewee.CharField(max_length=200, null=True, index=True)
    service = peewee.CharField(max_length=200, null=True)
    labels = JSONField(default=dict)
    runbook = peewee.CharField(max_length=128, null=True)
    callback_url = peewee.CharField(max_length=2048, null=True)
    resolution_status = peewee.CharField(max_length=32, default=ResolutionStatus.RECEIVED.value)
    resolution_reason = peewee.TextField(null=True)
    # Added by migration 4: when we first received it (created_at may be the sender's clock).
    received_at = UTCDateTimeField(default=utcnow)
    # Added by migration 6: the approval asked for (what it would run, hashed) and since when;
    # deliveries that ran nothing because a person must decide first.
    approval_digest = peewee.CharField(max_length=64, null=True)
    approval_requested_at = UTCDateTimeField(null=True)
    held_deliveries = peewee.IntegerField(default=0)

    class Meta:
        indexes = (
            (("fingerprint", "received_at"), False),
            (("resolution_status", "approval_requested_at"), False),
        )


class Run(BaseModel):
    """One execution (or dry run) of a runbook for an incident."""

    id = peewee.AutoField()
    incident_id = peewee.CharField(max_length=128, index=True)
    runbook_id = peewee.CharField(max_length=128)
    status = peewee.CharField(max_length=32, default=RunStatus.QUEUED.value, index=True)
    dry_run = peewee.BooleanField(default=False)
    forced = peewee.BooleanField(default=False)
    requested_by = peewee.CharField(max_length=320, default="system")
    queued_at = UTCDateTimeField(default=utcnow)
    started_at = UTCDateTimeField(null=True)
    finished_at = UTCDateTimeField(null=True)
    claimed_by = peewee.CharField(max_length=128, null=True)
    lease_expires_at = UTCDateTimeField(null=True)
    message = peewee.TextField(null=True)

    class Meta:
        indexes = ((("status", "id"), False),)


# Never two queued-or-running runs for one incident, enforced by the database itself.
Run.add_index(
    Run.index(Run.incident_id, unique=True, name="run_one_active_per_incident").where(
        Run.status.in_(sorted(ACTIVE_RUN_STATUSES))
    )
)


class StepResult(BaseModel):
    id = peewee.AutoField()
    run = peewee.ForeignKeyField(Run, backref="steps", on_delete="CASCADE")
    run_id: int  # peewee's accessor for the foreign key's raw value
    position = peewee.IntegerField()
    name = peewee.CharField(max_length=200)
    kind = peewee.CharField(max_length=16)
    phase = peewee.CharField(max_length=16, default="step")  # step | rollback
    status = peewee.CharField(max_length=16, default=StepStatus.RUNNING.value)
    attempts = peewee.IntegerField(default=0)
    started_at = UTCDateTimeField(default=utcnow)
    finished_at = UTCDateTimeField(null=True)
    duration_ms = peewee.IntegerField(null=True)
    action = peewee.TextField(default="")
    output = peewee.TextField(default="")
    error = peewee.TextField(null=True)


class AuditEntry(BaseModel):
    """Append-only: rows are inserted, never updated or deleted."""

    id = peewee.AutoField()
    audit_id = peewee.CharField(max_length=32, unique=True)
    timestamp = UTCDateTimeField(default=utcnow, index=True)
    action = peewee.CharField(max_length=64)
    incident_id = peewee.CharField(max_length=128, null=True)
    actor = peewee.CharField(max_length=320, default="system")
    confidence_score = peewee.DoubleField(null=True)
    details = JSONField(default=dict)
    success = peewee.BooleanField(default=True)
    error_message = peewee.TextField(null=True)
    run_id = peewee.IntegerField(null=True)
    # The tamper-evident chain (migration 5), filled in by the sealer in commit order.
    seq = peewee.BigIntegerField(null=True, unique=True)
    chain_hash = peewee.CharField(max_length=64, null=True)

    class Meta:
        table_name = "audit_log"
        indexes = (
            (("incident_id", "id"), False),
            (("action", "id"), False),
            (("actor", "id"), False),
        )


class CategorySetting(BaseModel):
    category = peewee.CharField(max_length=64, primary_key=True)
    auto_resolution_enabled = peewee.BooleanField(default=True)
    confidence_threshold = peewee.DoubleField(default=0.90)
    max_retry_attempts = peewee.IntegerField(default=3)
    notification_required = peewee.BooleanField(default=True)
    dry_run = peewee.BooleanField(default=False)
    approval_floor = peewee.DoubleField(null=True)
    updated_at = UTCDateTimeField(default=utcnow)
    updated_by = peewee.CharField(max_length=320, default="system")
    # Added by migration 6.
    approval_timeout_seconds = peewee.DoubleField(default=3600.0)
    failure_budget = peewee.IntegerField(default=3)  # failed runs within the window that pause it
    failure_window_seconds = peewee.DoubleField(default=3600.0)
    paused_reason = peewee.TextField(null=True)  # set while the failure budget holds it paused
    paused_at = UTCDateTimeField(null=True)
    over_limit = peewee.CharField(max_length=16, default="approval")  # past a runbook's limit: approval|skip

    class Meta:
        table_name = "category_config"


class GlobalSetting(BaseModel):
    """A single row (id 1): global defaults and the kill switch."""

    id = peewee.AutoField()
    default_confidence_threshold = peewee.DoubleField(default=0.90)
    max_concurrent_resolutions = peewee.IntegerField(default=10)
    notification_recipients = JSONField(default=list)
    kill_switch_active = peewee.BooleanField(default=False)
    kill_switch_actor = peewee.CharField(max_length=320, null=True)
    kill_switch_reason = peewee.TextField(null=True)
    kill_switch_since = UTCDateTimeField(null=True)
    kill_switch_until = UTCDateTimeField(null=True)
    updated_at = UTCDateTimeField(default=utcnow)
    audit_key_id = peewee.CharField(max_length=32, null=True)  # migration 7: which key seals the chain

    class Meta:
        table_name = "global_config"


class OutboxMessage(BaseModel):
    """A message to deliver (to Slack, or a result callback), written with the audit row it belongs to.

    Delivered in order per `lane` (a channel, a DM recipient, a callback URL), exactly once: the
    dispatcher records the Slack ts of a posted message under `message_key`, so later changes update
    it in place and a retry never posts it twice.
    """

    id = peewee.AutoField()
    lane = LaneField(max_length=2100)  # storage/lanes.py
    transport = peewee.CharField(max_length=16, default=Transport.SLACK.value)  # storage/lanes.py
    method = peewee.CharField(max_length=64)
    target = peewee.CharField(max_length=2048)
    message_key = peewee.CharField(max_length=200, null=True)
    thread_key = peewee.CharField(max_length=200, null=True)
    payload = JSONField(default=dict)
    purpose = peewee.CharField(max_length=32)
    incident_id = peewee.CharField(max_length=128, null=True)
    status = peewee.CharField(max_length=16, default=OutboxStatus.PENDING.value)  # OutboxStatus
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = UTCDateTimeField(default=utcnow)
    last_error = peewee.TextField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    sent_at = UTCDateTimeField(null=True)

    class Meta:
        indexes = (
            (("status", "next_attempt_at"), False),
            (("lane", "id"), False),
            (("message_key", "status"), False),
        )


class SlackMessage(BaseModel):
    """Where a keyed message was posted, so it can be updated in place and threaded under."""

    message_key = peewee.CharField(max_length=200, primary_key=True)
    channel = peewee.CharField(max_length=64)
    ts = peewee.CharField(max_length=32)
    posted_at = UTCDateTimeField(default=utcnow)


class JobLease(BaseModel):
    """Who runs a periodic job right now: one replica at a time, taken over when the lease lapses."""

    name = peewee.CharField(max_length=64, primary_key=True)
    owner = peewee.CharField(max_length=128)
    expires_at = UTCDateTimeField()


class SeenSignature(BaseModel):
    """Webhook signatures already accepted, kept while their timestamp is fresh: a replay is refused."""

    signature = peewee.CharField(max_length=128, primary_key=True)
    expires_at = UTCDateTimeField(index=True)


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
]
