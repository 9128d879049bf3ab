"""`report calibration` (does each category's confidence mean what it says?) and `outcome <id>
fixed|not-fixed` (a person's word on how an incident ended, over what was recorded)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from cli.context import cli_actor, open_storage
from cli.errors import CliError
from engine import outcomes
from engine.calibration import CategoryCalibration, Policy, calibration_report, window_start
from engine.errors import InvalidInput, NotFound
from settings import Settings


def describe(report: CategoryCalibration) -> list[str]:
    """A category's calibration as text lines."""
    lines = [
        f"{report.category}: threshold {report.threshold:.2f}, {report.outcomes} outcome(s), "
        f"{report.pending} without a verdict",
        f"  {report.verdict}",
    ]
    if report.current is not None:
        at = report.current
        lines.append(
            f"  at {at.threshold:.2f}: {at.not_fixed} of {at.count} not fixed ({at.rate:.1%}, "
            f"upper bound {at.upper:.1%})"
        )
    if report.calibration_error is not None:
        lines.append(f"  expected calibration error {report.calibration_error:.3f}")
    if report.bands:
        lines.append("  confidence      count  mean conf  fixed   95% interval")
        for band in report.bands:
            low, high = band.interval
            lines.append(
                f"  {band.low:.2f}-{band.high:.2f}  {band.count:>9}  {band.mean_confidence:>9.3f}  "
                f"{band.fraction_fixed:>5.1%}  {low:.1%}-{high:.1%}"
            )
    return lines


def report_calibration(settings: Settings, args: argparse.Namespace) -> int:
    open_storage(settings)
    try:
        start = window_start(args.since, "--since")
    except InvalidInput as exc:
        raise CliError(f"{exc.field}: {exc.message}") from None
    policy = Policy(
        settings.calibration_target, settings.calibration_confidence, settings.calibration_min_outcomes
    )
    report = calibration_report(start, category=args.category, policy=policy)
    if args.png:
        draw_reliability(report, args.png, args.since)
        print(f"reliability diagram of {len(report)} category(ies) written to {args.png}")
    if args.json:
        print(json.dumps([asdict(category) for category in report], indent=2))
        return 0
    if not report:
        print(f"No automated decisions in the last {args.since}.")
    for category in report:
        print("\n".join(describe(category)))
    return 0


def draw_reliability(report: list[CategoryCalibration], path: str, since: str) -> None:
    """A reliability diagram per category (fraction fixed against mean confidence, by band, with
    Wilson's intervals; the diagonal is perfect calibration), as a PNG. matplotlib is an optional
    dependency of the CLI (requirements-report.txt), never of the bot."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: a file
        import matplotlib.pyplot as plt
    except ImportError:
        raise CliError("--png needs matplotlib: pip install -r requirements-report.txt") from None
    if not report:
        raise CliError(f"--png: no automated decisions in the last {since} to draw")
    columns = min(len(report), 3)
    rows = -(-len(report) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 4 * rows), squeeze=False)
    for ax in axes.flat[len(report) :]:
        ax.set_visible(False)
    for ax, category in zip(axes.flat, report, strict=False):
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
        xs = [band.mean_confidence for band in category.bands]
        ys = [band.fraction_fixed for band in category.bands]
        below = [y - band.interval[0] for y, band in zip(ys, category.bands, strict=True)]
        above = [band.interval[1] - y for y, band in zip(ys, category.bands, strict=True)]
        ax.errorbar(xs, ys, yerr=[below, above], fmt="o", capsize=3)
        ax.axvline(category.threshold, color="tab:red", linewidth=1)
        ax.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="mean confidence", ylabel="fraction fixed")
        ax.set_title(f"{category.category} ({category.outcomes} outcomes, {since})", fontsize=10)
    figure.tight_layout()
    try:
        figure.savefig(path, format="png", dpi=100)
    except OSError as exc:
        raise CliError(f"--png: cannot write {path}: {exc.strerror}") from None
    finally:
        plt.close(figure)


def correct_outcome(settings: Settings, args: argparse.Namespace) -> int:
    open_storage(settings)
    actor = cli_actor(args.actor)
    try:
        outcomes.correct(args.incident_id, fixed=args.verdict == "fixed", actor=actor)
    except NotFound as exc:
        raise CliError(str(exc)) from None
    print(f"{args.incident_id}: recorded as {args.verdict} by {actor}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="reports on what the bot did (calibration)")
    reports = report.add_subparsers(dest="report", required=True)
    calibration = reports.add_parser(
        "calibration",
        help="per category: does the confidence mean what it says, and what threshold the evidence supports",
    )
    calibration.add_argument("--category", help="one category (default: every one with outcomes)")
    calibration.add_argument("--since", default="30d", help="how far back (default 30d)")
    calibration.add_argument("--json", action="store_true", help="as JSON")
    calibration.add_argument(
        "--png", metavar="FILE", help="also draw a reliability diagram (needs requirements-report.txt)"
    )
    calibration.set_defaults(handler=report_calibration)
    outcome = sub.add_parser("outcome", help="say whether an incident was in the end fixed (audited)")
    outcome.add_argument("incident_id")
    outcome.add_argument("verdict", choices=["fixed", "not-fixed"])
    outcome.add_argument("--actor", help="who is saying it (default: cli:<your user name>)")
    outcome.set_defaults(handler=correct_outcome)
