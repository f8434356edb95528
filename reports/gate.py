"""The CI gate over one or more summary.json: did every scenario pass, did every control bite, did detection
or recovery get slower than the history of runs (or than one baseline run)?

    aarya-chaos gate [--summary reports/latest/summary.json ...] [--gate nightly|pre-release]
                     [--history reports/history] [--record-history] [--quarantine chaos-quarantine.toml]
                     [--trend] [--pushgateway URL] [--baseline PATH] [--allow-skip] ...
    python -m reports.gate ...          (the same, without the aarya-chaos command)

Rules, per record of the summaries (reports/gate_rules.py):

- a scenario (control null) must have the verdict `pass`; `fail` and `error` fail the gate;
- a negative control must have the verdict `pass` (its checks failed, as they must): anything else means
  the control did not bite, and fails the gate;
- `flaky` (passed after a failed attempt, docs/summary-json.md) never passes silently: it fails the gate,
  except under `--gate nightly`, which lists and counts it;
- `skipped` fails the gate (a claim that was not verified is not a claim that held); `--allow-skip` and
  `--gate nightly` list every record that was not verified instead;
- with `--history DIR` (the default of the named gates: reports/history), MTTD and RTO of each scenario on
  each driver are compared with the median and spread of its last N passing runs there (reports/regressions.py:
  above median + max(k x spread, margin) is a regression; fewer than --min-runs runs: "no baseline yet");
- with `--baseline` (another summary.json, or a run directory), the first gate's comparison: above
  `baseline * (1 + max_regression)` AND more than `slack` seconds above it;
- a scenario in the quarantine file (reports/quarantine.py) does not fail the gate for any of the above, and is
  listed; an expired entry fails the gate;
- `--gate nightly` needs records from the local and the docker driver; `--gate pre-release` needs every
  scenario the history knows (on this run's drivers); `--marker` and `--driver` select records;
- a summary without any (selected) scenario record fails the gate (nothing was verified).

The gate writes only when asked: `--record-history` copies the summaries into the history after judging them,
`--pushgateway URL` writes metrics.om beside each summary and pushes the figures (reports/openmetrics.py).

Exit codes: 0 passed, 1 the gate failed, 2 bad command line, 3 a summary, baseline or quarantine file is
missing or unreadable (or --record-history cannot write the history), 4 a file is not JSON / TOML or not of a
schema this gate reads, 5 the gate passed but the push to the Pushgateway failed (metrics.om is written all
the same).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from reports.gate_input import (EXIT_FAILED, EXIT_INVALID, EXIT_MISSING, EXIT_PASSED, EXIT_PUSH_FAILED,
                                EXIT_USAGE, METRICS, SCHEMA, VERDICTS, GateInputError, load_summary, telling_line,
                                validate)
from reports.gate_render import render
from reports.gate_rules import PROFILES, GateProfile, GateResult, Judging, Row, judge, judge_runs
from reports.history import (DEFAULT_HISTORY, DEFAULT_KEEP, DEFAULT_LAST, DEFAULT_MIN_RUNS, baselines,
                             read_history, record_run)
from reports.quarantine import DEFAULT_QUARANTINE, load_quarantine
from reports.regressions import DEFAULT_K, DEFAULT_MARGIN_S, DEFAULT_SLACK_S, DEFAULT_TOLERANCE, Regression
from reports.trend import trend_lines

__all__ = ["EXIT_FAILED", "EXIT_INVALID", "EXIT_MISSING", "EXIT_PASSED", "EXIT_PUSH_FAILED", "EXIT_USAGE",
           "METRICS", "SCHEMA", "VERDICTS", "GateInputError", "GateResult", "Regression", "Row", "add_gate_command",
           "cmd_gate", "gate", "judge", "load_summary", "main", "render", "run", "telling_line", "validate"]

DEFAULT_SUMMARY = Path("reports/latest/summary.json")


def gate(summary_path: Path, baseline_path: Path | None = None, *, tolerance: float = DEFAULT_TOLERANCE,
         slack_s: float = DEFAULT_SLACK_S, allow_skip: bool = False) -> GateResult:
    """The first gate: read one summary (and a baseline run) and judge them. Raises GateInputError."""
    if tolerance < 0 or not math.isfinite(tolerance):
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance}")
    if slack_s < 0 or not math.isfinite(slack_s):
        raise ValueError(f"slack_s must be a finite number >= 0, got {slack_s}")
    summary = load_summary(Path(summary_path), "summary")
    baseline = load_summary(Path(baseline_path), "baseline") if baseline_path is not None else None
    result = judge(summary, baseline, tolerance=tolerance, slack_s=slack_s, allow_skip=allow_skip)
    return replace(result, summary_path=Path(summary_path),
                   baseline_path=None if baseline_path is None else Path(baseline_path))


# -- the command -----------------------------------------------------------------------------------


def profile_of(args: argparse.Namespace) -> GateProfile:
    """The named gate's profile with the command line's selections and --allow-skip on top."""
    profile = PROFILES[args.gate or "default"]
    if args.allow_skip:
        profile = replace(profile, allow_skip=True)
    if args.marker:
        profile = replace(profile, markers=tuple(args.marker))
    if args.driver:
        profile = replace(profile, drivers=tuple(args.driver))
    return profile


def _history_dir(args: argparse.Namespace, profile: GateProfile) -> Path | None:
    if args.history is not None:
        return Path(args.history)
    return DEFAULT_HISTORY if profile.uses_history or args.record_history or args.trend else None


def judging_of(args: argparse.Namespace, history_dir: Path | None, today: date) -> tuple[Judging, list[Any]]:
    """What the run is judged against, and the history's summaries (oldest first) for the trend."""
    baseline = load_summary(Path(args.baseline), "baseline") if args.baseline is not None else None
    given = args.quarantine is not None
    entries = load_quarantine(Path(args.quarantine) if given else DEFAULT_QUARANTINE, required=given)
    runs = read_history(history_dir) if history_dir is not None else []
    history = baselines(runs, last=args.last) if history_dir is not None else None
    judging = Judging(baseline=baseline, history=history, history_runs=len(runs), quarantine=entries, today=today,
                      tolerance=args.max_regression, slack_s=args.slack, k=args.k, margin_s=args.margin,
                      min_runs=args.min_runs)
    return judging, [run.summary for run in runs]


def _push(args: argparse.Namespace, summaries: Sequence[Any], paths: Sequence[Path], err: Console,
          console: Console) -> bool:
    """metrics.om beside each summary, then the push; False if the push failed."""
    from reports.openmetrics import PushError, push_metrics, write_metrics  # prometheus_client only when asked

    for summary, path in zip(summaries, paths):
        written = write_metrics(summary, path if path.is_dir() else path.parent)
        console.print(f"metrics: {escape(str(written))}", highlight=False)
    try:
        push_metrics(summaries, args.pushgateway)
    except PushError as exc:
        err.print(f"[red]gate error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return False
    console.print(f"metrics: pushed to {escape(args.pushgateway)} (job aarya_chaos)", highlight=False)
    return True


def _record(paths: Sequence[Path], history_dir: Path, keep: int, console: Console, err: Console) -> bool:
    """Each summary into the history; False (after a one-line error) if one could not be recorded."""
    for path in paths:
        try:
            where, new, pruned = record_run(path, history_dir, keep=keep)
        except (OSError, GateInputError) as exc:
            err.print(f"[red]gate error:[/red] history {escape(str(history_dir))}: {escape(str(exc))}",
                      highlight=False, soft_wrap=True)
            return False
        state = "recorded" if new else "already recorded"
        console.print(f"history: {state} {escape(str(where))}" +
                      (f" ({len(pruned)} oldest run(s) pruned)" if pruned else ""), highlight=False)
    return True


def run(args: argparse.Namespace, console: Console | None = None, err: Console | None = None, *,
        today: date | None = None) -> int:
    console = console or Console(width=None if sys.stdout.isatty() else 160)
    err = err or Console(stderr=True)
    paths = [Path(p) for p in (args.summary or [DEFAULT_SUMMARY])]
    profile = profile_of(args)
    history_dir = _history_dir(args, profile)
    try:
        summaries = [load_summary(path, "summary") for path in paths]
        judging, history = judging_of(args, history_dir, today or date.today())
    except GateInputError as exc:
        err.print(f"[red]gate error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return exc.exit_code
    result = replace(judge_runs(summaries, profile, judging), summary_paths=tuple(paths),
                     summary_path=paths[0], baseline_path=args.baseline)
    render(result, console, trend_lines([*history, *summaries], last=args.last) if args.trend else ())
    code = result.exit_code
    if args.pushgateway and not _push(args, summaries, paths, err, console) and code == EXIT_PASSED:
        code = EXIT_PUSH_FAILED
    if args.record_history and history_dir is not None and not _record(paths, history_dir, args.keep, console, err):
        code = EXIT_MISSING if code == EXIT_PASSED else code
    return code


# -- command line ----------------------------------------------------------------------------------


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--summary", type=Path, action="append", default=None,
        help=f"a run to judge, repeatable (e.g. the local and the docker run; default {DEFAULT_SUMMARY})")
    add("--gate", choices=[name for name in PROFILES if name != "default"], default=None,
        help="a named gate: nightly (both drivers, flaky and skipped listed) or pre-release (everything, strict)")
    add("--marker", action="append", default=None, metavar="MARKER",
        help="judge only records with this marker (database, cache, service, ..., control); repeatable")
    add("--driver", action="append", default=None, metavar="DRIVER",
        help="judge only records of this driver (local, docker, attach), and require each; repeatable")
    add("--history", type=Path, default=None, metavar="DIR",
        help=f"compare MTTD and RTO with the runs recorded in DIR (named gates: {DEFAULT_HISTORY})")
    add("--record-history", action="store_true",
        help=f"after judging, copy the summaries into the history (--history, default {DEFAULT_HISTORY})")
    add("--keep", type=_positive_int, default=DEFAULT_KEEP, metavar="K",
        help="runs the history keeps; --record-history prunes the oldest beyond (default %(default)s)")
    add("--last", type=_positive_int, default=DEFAULT_LAST, metavar="N",
        help="passing runs a baseline is computed over, and runs the trend shows (default %(default)s)")
    add("--min-runs", type=_positive_int, default=DEFAULT_MIN_RUNS, metavar="N",
        help="passing runs needed before a figure is judged (default %(default)s)")
    add("--k", type=_non_negative, default=DEFAULT_K, help="spreads above the median (default %(default)s)")
    add("--margin", type=_non_negative, default=DEFAULT_MARGIN_S, metavar="SECONDS",
        help="the least distance above the median that is a regression (default %(default)s)")
    add("--quarantine", type=Path, default=None, metavar="FILE",
        help=f"the quarantine file (default {DEFAULT_QUARANTINE} if it exists)")
    add("--trend", action="store_true", help="print each scenario's last runs from the history and this run")
    add("--pushgateway", default=None, metavar="URL",
        help="write metrics.om beside each summary and push the figures to this Prometheus Pushgateway")
    add("--baseline", type=Path, default=None,
        help="a summary.json (or a run directory such as reports/runs/<time>) to compare MTTD and RTO against")
    add("--max-regression", type=_non_negative, default=DEFAULT_TOLERANCE, metavar="FRACTION",
        help="--baseline: allowed growth over the baseline, 0.5 = +50%% (default %(default)s)")
    add("--slack", type=_non_negative, default=DEFAULT_SLACK_S, metavar="SECONDS",
        help="--baseline: growth below this many seconds is never a regression (default %(default)s)")
    add("--allow-skip", action="store_true",
        help="skipped scenarios do not fail the gate; they are listed as not verified")
    add("--strict", action="store_true", help=argparse.SUPPRESS)  # the default since schema 1.1


def add_gate_command(subparsers: Any) -> argparse.ArgumentParser:
    """Adds `gate` to an argparse sub-command set (aarya_chaos/cli.py); dispatch with `cmd_gate`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "gate", help="the CI gate over summary.json", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return parser


def cmd_gate(config: object, args: argparse.Namespace) -> int:
    """The `COMMANDS` entry of aarya_chaos/cli.py (the stack config is not needed)."""
    return run(args)


def main(argv: Sequence[str] | None = None, *, today: date | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aarya-chaos gate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on a bad command line, 0 on --help
        return int(exc.code or 0)
    return run(args, today=today)


if __name__ == "__main__":
    sys.exit(main())
