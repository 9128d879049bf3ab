"""Audit action names: the seed's, kept as they were, and ours in the same style."""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    # The seed's names.
    AUTO_RESOLUTION_ATTEMPTED = "auto_resolution_attempted"
    AUTO_RESOLUTION_SUCCESS = "auto_resolution_success"
    AUTO_RESOLUTION_FAILED = "auto_resolution_failed"
    AUTO_RESOLUTION_SKIPPED = "auto_resolution_skipped"
    NOTIFICATION_SENT = "notification_sent"
    KILL_SWITCH_ACTIVATED = "kill_switch_activated"
    KILL_SWITCH_DEACTIVATED = "kill_switch_deactivated"
    CONFIG_UPDATED = "config_updated"
    OUTCOME_RECORDED = "outcome_recorded"
    OUTCOME_CORRECTED = "outcome_corrected"
    AUTONOMY_PROPOSED = "autonomy_proposed"
    AUTONOMY_APPLIED = "autonomy_applied"
    CALIBRATION_SUMMARY_POSTED = "calibration_summary_posted"
    RUNBOOKS_RELOADED = "runbooks_reloaded"
    RUNBOOKS_RELOAD_REFUSED = "runbooks_reload_refused"
    RUNBOOKS_RELOAD_REQUESTED = "runbooks_reload_requested"  # by the CLI; each running bot follows
    # Added by Autoresolve.
    INCIDENT_RECEIVED = "incident_received"
    INCIDENT_DEDUPLICATED = "incident_deduplicated"
    ALERT_RESOLVED = "alert_resolved"
    AUTO_RESOLUTION_QUEUED = "auto_resolution_queued"
    AUTO_RESOLUTION_HALTED = "auto_resolution_halted"
    AUTO_RESOLUTION_INTERRUPTED = "auto_resolution_interrupted"
    AUTO_RESOLUTION_DRY_RUN = "auto_resolution_dry_run"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_GRANTED = "approval_granted"
    APPROVAL_REJECTED = "approval_rejected"
    APPROVAL_SUPERSEDED = "approval_superseded"
    APPROVAL_EXPIRED = "approval_expired"
    INCIDENT_CANCELLED = "incident_cancelled"
    CATEGORY_PAUSED = "category_paused"
    CATEGORY_RESUMED = "category_resumed"
    INCIDENT_REOPENED = "incident_reopened"
    STEP_STARTED = "step_started"
    STEP_SUCCEEDED = "step_succeeded"
    STEP_FAILED = "step_failed"
    STEP_RETRY = "step_retry"
    STEP_SKIPPED = "step_skipped"
    ROLLBACK_STARTED = "rollback_started"
    ROLLBACK_SUCCEEDED = "rollback_succeeded"
    ROLLBACK_FAILED = "rollback_failed"
    NOTIFICATION_FAILED = "notification_failed"
    KILL_SWITCH_EXPIRED = "kill_switch_expired"
    KILL_SWITCH_EXTENDED = "kill_switch_extended"
    REQUEST_REFUSED = "request_refused"
