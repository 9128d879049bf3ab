"""Whether each category's confidence means what it says, measured on recorded outcomes
(engine/outcomes.py), and the threshold the evidence supports.

Per category, over a window: a reliability table (by confidence band: how many, their mean
confidence, the fraction fixed, with Wilson's 95% interval), the expected calibration error, and for
the current threshold the false-resolution rate (the share not fixed among the outcomes at or above it)
with its exact one-sided upper bound. The suggested threshold is the lowest whose upper bound stays
under the target (CALIBRATION_TARGET, 2% at 95% by default) with at least CALIBRATION_MIN_OUTCOMES
outcomes at or above it; with fewer outcomes than that in all, the answer is "not enough evidence" and
no change is suggested."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from engine.audit_actions import AuditAction
from engine.calibration_stats import Band, bands, expected_calibration_error, upper_bound, wilson
from engine.durations import parse_duration
from engine.errors import InvalidInput
from engine.events import CalibrationSummary, Notifier
from storage import audit, config_store, outcomes
from storage.database import db_connection, in_write_transaction, key_lock
from storage.fields import utcnow
from storage.outcomes import DecisionKind, Outcome

BAND_EDGES = (0.0, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)
MAX_WINDOW_DAYS = 366


def window_start(since: str, field: str = "since") -> datetime:
    """The start of a window written as a duration back from now (30d, 12h); InvalidInput naming
    `field` for anything else."""
    try:
        seconds = parse_duration(since)
    except ValueError as exc:
        raise InvalidInput(field, str(exc)) from None
    if not 0 < seconds <= MAX_WINDOW_DAYS * 86_400:
        raise InvalidInput(field, f"must be more than 0s and at most {MAX_WINDOW_DAYS}d")
    return utcnow() - timedelta(seconds=seconds)


@dataclass(frozen=True)
class Policy:
    target: float = 0.02  # the highest false-resolution rate a threshold may have, at `confidence`
    confidence: float = 0.95
    minimum: int = 30  # outcomes, before anything is suggested


@dataclass(frozen=True)
class AtThreshold:
    """What automating at `threshold` did (or would have done) to the outcomes at or above it."""

    threshold: float
    count: int
    not_fixed: int
    rate: float
    upper: float  # the rate is below this with the policy's confidence


@dataclass(frozen=True)
class BandRow:
    low: float
    high: float
    count: int
    mean_confidence: float
    fraction_fixed: float
    interval: tuple[float, float]


@dataclass(frozen=True)
class CategoryCalibration:
    category: str
    threshold: float
    outcomes: int  # with a verdict (fixed or not)
    pending: int  # decided, no verdict yet (or none to have: halted, rejected)
    by_kind: dict[str, int]
    bands: list[BandRow]
    calibration_error: float | None
    current: AtThreshold | None
    suggested: float | None
    verdict: str
    change: dict[str, int] = field(default_factory=dict)  # at the suggestion, against now

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def at_threshold(evidence: list[tuple[float, bool]], threshold: float, policy: Policy) -> AtThreshold:
    above = [fixed for confidence, fixed in evidence if _at_or_above(confidence, threshold)]
    not_fixed = sum(1 for fixed in above if not fixed)
    count = len(above)
    return AtThreshold(
        threshold,
        count,
        not_fixed,
        not_fixed / count if count else 0.0,
        upper_bound(not_fixed, count, policy.confidence),
    )


def _at_or_above(confidence: float, threshold: float) -> bool:
    return round(confidence * 1e6) >= round(threshold * 1e6)  # as the gate compares


def calibrate(category: str, threshold: float, rows: list[Outcome], policy: Policy) -> CategoryCalibration:
    evidence = [(row.confidence, bool(row.fixed)) for row in rows if row.fixed is not None]
    table = bands(evidence, BAND_EDGES)
    base = CategoryCalibration(
        category=category,
        threshold=threshold,
        outcomes=len(evidence),
        pending=len(rows) - len(evidence),
        by_kind=dict(sorted(Counter(row.kind or "pending" for row in rows).items())),
        bands=[_band_row(band, policy) for band in table],
        calibration_error=expected_calibration_error(table) if evidence else None,
        current=None,
        suggested=None,
        verdict="",
    )
    if len(evidence) < policy.minimum:
        needed = f"{len(evidence)} outcome(s), {policy.minimum} needed"
        return replace(base, verdict=f"Not enough evidence: {needed}; no change suggested")
    now = at_threshold(evidence, threshold, policy)
    candidates = sorted({confidence for confidence, _ in evidence} | {threshold})
    meeting = [
        at
        for at in (at_threshold(evidence, t, policy) for t in candidates)
        if at.count >= policy.minimum and at.upper <= policy.target
    ]
    target = f"{policy.target:.1%} at {policy.confidence:.0%}"
    if not meeting:
        measured = f"at {threshold:.2f}: {now.not_fixed} of {now.count} not fixed, bound {now.upper:.1%}"
        verdict = f"No threshold keeps false resolutions under {target} ({measured}); no change suggested"
        return replace(base, current=now, verdict=verdict)
    best = meeting[0]
    change = {"automated": best.count - now.count, "mistakes": best.not_fixed - now.not_fixed}
    if round(best.threshold * 1e6) == round(threshold * 1e6):
        verdict = f"Keep {threshold:.2f}: the lowest threshold that keeps false resolutions under {target}"
    elif best.threshold < threshold:
        verdict = (
            f"Lower to {best.threshold:.2f}: {change['automated']} more automated, "
            f"{change['mistakes']} more mistake(s) in this window; bound {best.upper:.1%}, under {target}"
        )
    else:
        verdict = (
            f"Raise to {best.threshold:.2f}: {-change['automated']} fewer automated, "
            f"{-change['mistakes']} fewer mistake(s) in this window; now bound {now.upper:.1%}, over {target}"
        )
    return replace(base, current=now, suggested=best.threshold, verdict=verdict, change=change)


def _band_row(band: Band, policy: Policy) -> BandRow:
    return BandRow(
        band.low,
        band.high,
        band.count,
        band.mean_confidence,
        band.fraction_fixed,
        wilson(band.fixed, band.count, policy.confidence),
    )


def calibration_report(
    since: datetime, *, category: str | None = None, policy: Policy | None = None
) -> list[CategoryCalibration]:
    """Every category with outcomes since `since` (or the one asked for), by name."""
    with db_connection():
        return _report(since, category, policy or Policy())


def _report(since: datetime, category: str | None, policy: Policy) -> list[CategoryCalibration]:
    rows = outcomes.in_window(since=since, category=category)
    by_category: dict[str, list[Outcome]] = {}
    for row in rows:
        by_category.setdefault(row.category, []).append(row)
    if category is not None:
        by_category.setdefault(category, [])
    default = config_store.get_global().default_confidence_threshold
    report = []
    for name in sorted(by_category):
        setting = config_store.get_category(category=name)
        threshold = setting.confidence_threshold if setting is not None else default
        report.append(calibrate(name, threshold, by_category[name], policy))
    return report


@dataclass(frozen=True)
class OutcomeTally:
    """For /metrics: outcomes by category and kind, and the share of automated runs not fixed."""

    by_kind: dict[tuple[str, str], int]
    false_resolution_rate: dict[str, float]


def outcome_tally(since: datetime) -> OutcomeTally:
    with db_connection():
        rows = outcomes.tally(since=since)
    by_kind: Counter[tuple[str, str]] = Counter()
    automated: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    for category, decision, kind, fixed, count in rows:
        by_kind[(category, kind or "pending")] += count
        if decision == DecisionKind.AUTO.value and fixed is not None:
            automated[category] += count
            wrong[category] += count if not fixed else 0
    return OutcomeTally(dict(by_kind), {c: wrong[c] / n for c, n in automated.items()})


SUMMARY_EVERY = timedelta(days=7)


def post_weekly_summary(notifier: Notifier, policy: Policy) -> bool:
    """The last week's report to the audit channel, if none was posted in the last week (replicas take
    turns). True if posted."""
    with in_write_transaction():
        key_lock("calibration-summary")
        week = utcnow() - SUMMARY_EVERY
        if audit.query(action=AuditAction.CALIBRATION_SUMMARY_POSTED, start_date=week, limit=1):
            return False
        report = _report(week, None, policy)
        audit.record(action=AuditAction.CALIBRATION_SUMMARY_POSTED, details={"categories": len(report)})
        notifier.tell(CalibrationSummary(tuple(report), "7d"))
    return True
