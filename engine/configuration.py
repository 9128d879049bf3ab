"""Run-time configuration: category settings, global limits and the kill switch, each change audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.audit_actions import AuditAction
from engine.durations import parse_kill_switch_duration
from engine.errors import InvalidInput, NotFound
from engine.events import ConfigChanged, KillSwitchReport, Notifier
from engine.permissions import record_refusal
from engine.text import check_prose
from storage import audit, config_store
from storage.config_store import CategorySetting
from storage.database import db_connection, in_write_transaction
from storage.fields import utcnow

MIN_THRESHOLD = 0.5  # the seed's safety floor for a category threshold
CATEGORY_FIELDS = (
    "auto_resolution_enabled",
    "confidence_threshold",
    "max_retry_attempts",
    "notification_required",
    "dry_run",
    "approval_floor",
    "approval_timeout_seconds",
    "failure_budget",
    "failure_window_seconds",
    "paused_reason",
    "over_limit",
    "approval_all",
)
OVER_LIMIT_CHOICES = ("approval", "skip")
# None: no approvals; not paused. Every other setting has a value.
NULLABLE = frozenset({"approval_floor", "paused_reason"})
MAX_APPROVAL_TIMEOUT = 7 * 86400.0
MAX_FAILURE_WINDOW = 7 * 86400.0
NOT_NULL = "cannot be null: leave it out to keep its value"
MAX_KILL_SWITCH_REASON = 2000  # the reasons of every activation while it is on, joined


def refuse_nulls(changes: dict[str, Any]) -> None:
    """A setting with no empty value cannot be changed to None (the database would refuse it)."""
    for name, value in changes.items():
        if value is None and name not in NULLABLE:
            raise InvalidInput(name, NOT_NULL)


@dataclass(frozen=True)
class KillSwitchState:
    active: bool
    actor: str | None
    reason: str | None
    since: datetime | None
    until: datetime | None


@dataclass(frozen=True)
class KillSwitchChange:
    """The kill switch after an activation, and what the caller should be told about it."""

    state: KillSwitchState
    notes: tuple[str, ...] = ()


def _checked_text(field: str, value: str | None) -> str | None:
    """Free text from any face: no control characters (a NUL, a terminal escape)."""
    if value is not None:
        try:
            check_prose(value)
        except ValueError as exc:
            raise InvalidInput(field, str(exc)) from None
    return value


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    """The later of two ends, None (no end) being the latest."""
    return None if a is None or b is None else max(a, b)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def kill_switch_state(now: datetime | None = None) -> KillSwitchState:
    """The kill switch as it stands now; one with a passed `until` counts as off."""
    row = config_store.get_global()
    now = now or utcnow()
    expired = row.kill_switch_until is not None and row.kill_switch_until <= now
    return KillSwitchState(
        active=bool(row.kill_switch_active) and not expired,
        actor=row.kill_switch_actor,
        reason=row.kill_switch_reason,
        since=row.kill_switch_since,
        until=row.kill_switch_until,
    )


def category_as_dict(row: CategorySetting) -> dict[str, Any]:
    return {"category": row.category, **{name: getattr(row, name) for name in CATEGORY_FIELDS}}


def validate_category_values(values: dict[str, Any]) -> None:
    """Cross-field rules that a single field's type cannot express."""
    threshold = values.get("confidence_threshold")
    if threshold is not None and not MIN_THRESHOLD <= threshold <= 1.0:
        raise InvalidInput("confidence_threshold", f"must be between {MIN_THRESHOLD} and 1.0")
    retries = values.get("max_retry_attempts")
    if retries is not None and not 0 <= retries <= 10:
        raise InvalidInput("max_retry_attempts", "must be between 0 and 10")
    timeout = values.get("approval_timeout_seconds")
    if timeout is not None and not 1 <= timeout <= MAX_APPROVAL_TIMEOUT:
        raise InvalidInput("approval_timeout_seconds", "must be between 1 s and 7 days")
    budget = values.get("failure_budget")
    if budget is not None and not 0 <= budget <= 100:
        raise InvalidInput("failure_budget", "must be between 0 (no budget) and 100")
    window = values.get("failure_window_seconds")
    if window is not None and not 60 <= window <= MAX_FAILURE_WINDOW:
        raise InvalidInput("failure_window_seconds", "must be between 60 s and 7 days")
    over = values.get("over_limit")
    if over is not None and over not in OVER_LIMIT_CHOICES:
        raise InvalidInput("over_limit", "must be approval or skip")
    floor = values.get("approval_floor")
    if floor is not None:
        if not 0.0 <= floor <= 1.0:
            raise InvalidInput("approval_floor", "must be between 0.0 and 1.0")
        if threshold is not None and floor >= threshold:
            raise InvalidInput("approval_floor", "must be below the category's confidence_threshold")


@dataclass(frozen=True)
class ConfigSnapshot:
    """Every setting as it stands, read at once: for REST, Slack and the CLI alike."""

    default_confidence_threshold: float
    max_concurrent_resolutions: int
    notification_recipients: list[str]
    kill_switch: KillSwitchState
    categories: list[CategorySetting]


class ConfigurationService:
    """Reads and changes configuration; every change is audited and announced. Each method opens
    its own connection or transaction (or joins the caller's)."""

    def __init__(self, notifier: Notifier, new_category: dict[str, Any] | None = None) -> None:
        self.notifier = notifier
        # What a category created here starts with, unless the change says otherwise: the settings of
        # NEW_CATEGORY_MODE (engine/autonomy.settings_for; `shadow` by default).
        self.new_category = dict(new_category or {})

    def snapshot(self) -> ConfigSnapshot:
        with db_connection():
            row = config_store.get_global()
            return ConfigSnapshot(
                default_confidence_threshold=row.default_confidence_threshold,
                max_concurrent_resolutions=row.max_concurrent_resolutions,
                notification_recipients=list(row.notification_recipients or []),
                kill_switch=kill_switch_state(),
                categories=config_store.list_categories(),
            )

    def kill_switch(self) -> KillSwitchState:
        with db_connection():
            return kill_switch_state()

    def _announce(self, *, actor: str, summary: str) -> None:
        self.notifier.tell(ConfigChanged(actor, summary))

    def categories(self) -> list[CategorySetting]:
        with db_connection():
            return config_store.list_categories()

    def category(self, name: str) -> CategorySetting:
        with db_connection():
            row = config_store.get_category(category=name)
        if row is None:
            raise NotFound(f"Unknown category: {name}")
        return row

    def update_category(
        self, *, category: str, actor: str, changes: dict[str, Any], create: bool = False
    ) -> CategorySetting:
        """Change some of a category's settings (creating it when `create`); audited with before/after."""
        unknown = set(changes) - set(CATEGORY_FIELDS)
        if unknown:
            raise InvalidInput(sorted(unknown)[0], "not a category setting")
        refuse_nulls(changes)
        if isinstance(changes.get("paused_reason"), str):
            _checked_text("paused_reason", changes["paused_reason"])
        with in_write_transaction():
            before_row = config_store.get_category(category=category)
            if before_row is None and not create:
                raise NotFound(f"Unknown category: {category}")
            before = category_as_dict(before_row) if before_row else None
            merged = {**(before or self.new_category), **changes}
            if before is None and "confidence_threshold" not in changes:
                merged["confidence_threshold"] = config_store.get_global().default_confidence_threshold
            validate_category_values(merged)
            values = {k: merged[k] for k in CATEGORY_FIELDS if k in merged}
            if "paused_reason" in changes:  # paused by hand, or resumed: since when goes with it
                values["paused_at"] = utcnow() if changes["paused_reason"] else None
            row = config_store.save_category(category=category, actor=actor, **values)
            after = category_as_dict(row)
            changed = {k: after[k] for k in CATEGORY_FIELDS if before is None or before[k] != after[k]}
            if changed:
                audit.record(
                    action=AuditAction.CONFIG_UPDATED,
                    actor=actor,
                    details={"category": category, "before": before, "after": after},
                )
            if (
                before
                and before["paused_reason"]
                and "paused_reason" in changed
                and not after["paused_reason"]
            ):
                audit.record(
                    action=AuditAction.CATEGORY_RESUMED,
                    actor=actor,
                    details={"category": category, "was_paused": before["paused_reason"]},
                )
        if changed:
            summary = ", ".join(f"{k}={v}" for k, v in changed.items())
            self._announce(actor=actor, summary=f"category {category}: {summary}")
        return row

    def update_global(self, *, actor: str, changes: dict[str, Any]) -> None:
        """Change default_confidence_threshold, max_concurrent_resolutions or notification_recipients."""
        allowed = {
            "default_confidence_threshold",
            "max_concurrent_resolutions",
            "notification_recipients",
        }
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidInput(sorted(unknown)[0], "not a global setting")
        refuse_nulls(changes)
        threshold = changes.get("default_confidence_threshold")
        if threshold is not None and not MIN_THRESHOLD <= threshold <= 1.0:
            raise InvalidInput("default_confidence_threshold", f"must be between {MIN_THRESHOLD} and 1.0")
        limit = changes.get("max_concurrent_resolutions")
        if limit is not None and not 1 <= limit <= 100:
            raise InvalidInput("max_concurrent_resolutions", "must be between 1 and 100")
        with in_write_transaction():
            row = config_store.get_global()
            before = {k: getattr(row, k) for k in changes}
            if before == changes:
                return
            config_store.update_global(**changes)
            audit.record(
                action=AuditAction.CONFIG_UPDATED,
                actor=actor,
                details={"global": True, "before": before, "after": changes},
            )
        self._announce(actor=actor, summary=", ".join(f"{k}={v}" for k, v in changes.items()))

    def activate_kill_switch(
        self,
        *,
        actor: str,
        reason: str | None,
        duration: str | timedelta | None = None,
        may_shorten: bool = False,
    ) -> KillSwitchChange:
        """Turn the kill switch on, or keep it on longer: it only ever gets safer.

        `duration` (operator text like 30m, or a span) is capped at KILL_SWITCH_MAX; none means no
        end. While the switch is on, an activation may only move its end later (or remove it) and
        adds its reason to the record; a shorter end is kept out unless `may_shorten` (an admin,
        or the CLI on the host). Raises InvalidInput naming `duration` for an unreadable one.
        """
        reason = _checked_text("reason", reason)
        notes: list[str] = []
        span, capped = self._span(duration)
        if capped:
            notes.append(capped)
        with in_write_transaction():
            now = utcnow()
            was = kill_switch_state(now)
            until = now + span if span else None
            if not was.active:
                config_store.set_kill_switch(active=True, actor=actor, reason=reason, until=until)
                audit.record(
                    action=AuditAction.KILL_SWITCH_ACTIVATED,
                    actor=actor,
                    details={"reason": reason, "until": _iso(until), "capped": bool(capped)},
                )
                report = KillSwitchReport(active=True, actor=actor, reason=reason, until=until)
            else:
                kept = _later(was.until, until)
                if kept != until and not may_shorten:
                    notes.append(
                        f"it stays on until {was.until:%Y-%m-%d %H:%M} UTC: only an admin may end it sooner"
                        if was.until
                        else "it stays on with no end: only an admin may end it"
                    )
                    record_refusal(
                        actor=actor,
                        error="not allowed: shorten the kill switch",
                        command="killswitch on",
                        requested_until=_iso(until),
                    )
                new_until = until if may_shorten else kept
                joined = "; ".join(r for r in (was.reason, f"{reason} ({actor})" if reason else None) if r)
                if len(joined) > MAX_KILL_SWITCH_REASON:  # the first reason and the newest ones
                    half = MAX_KILL_SWITCH_REASON // 2
                    joined = f"{joined[:half]} ... {joined[-half:]}"
                config_store.extend_kill_switch(reason=joined or None, until=new_until)
                audit.record(
                    action=AuditAction.KILL_SWITCH_EXTENDED,
                    actor=actor,
                    details={
                        "reason": reason,
                        "until": _iso(new_until),
                        "previous_until": _iso(was.until),
                        "requested_until": _iso(until),
                        "capped": bool(capped),
                    },
                )
                report = KillSwitchReport(
                    active=True, actor=actor, reason=reason, until=new_until, extended=True
                )
        self._tell_kill_switch(report)
        return KillSwitchChange(kill_switch_state(), tuple(notes))

    @staticmethod
    def _span(duration: str | timedelta | None) -> tuple[timedelta | None, str | None]:
        if duration is None or duration == "":
            return None, None
        if isinstance(duration, timedelta):
            return parse_kill_switch_duration(duration.total_seconds())
        return parse_kill_switch_duration(duration)

    def deactivate_kill_switch(self, *, actor: str, reason: str | None) -> KillSwitchState:
        reason = _checked_text("reason", reason)
        with in_write_transaction():
            was = kill_switch_state()
            config_store.set_kill_switch(active=False, actor=actor, reason=reason)
            audit.record(
                action=AuditAction.KILL_SWITCH_DEACTIVATED,
                actor=actor,
                details={"reason": reason, "was_active": was.active},
            )
        self._tell_kill_switch(KillSwitchReport(active=False, actor=actor, reason=reason, until=None))
        return kill_switch_state()

    def expire_kill_switch(self) -> bool:
        """Turn off a kill switch whose duration has passed; true if this call did it."""
        with in_write_transaction():
            row = config_store.get_global()
            now = utcnow()
            if not (row.kill_switch_active and row.kill_switch_until and row.kill_switch_until <= now):
                return False
            config_store.set_kill_switch(active=False, actor="system", reason="duration ended")
            audit.record(
                action=AuditAction.KILL_SWITCH_EXPIRED,
                details={
                    "activated_by": row.kill_switch_actor,
                    "until": row.kill_switch_until.isoformat(),
                },
            )
        self._tell_kill_switch(
            KillSwitchReport(active=False, actor="system", reason="duration ended", until=None)
        )
        return True

    def _tell_kill_switch(self, report: KillSwitchReport) -> None:
        self.notifier.tell(report)
