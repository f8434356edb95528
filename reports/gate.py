"""The CI gate over `reports/latest/summary.json`: did every scenario pass, did every control bite, did
detection or recovery get slower than a baseline run?

    aarya-chaos gate [--summary reports/latest/summary.json] [--baseline PATH] [--max-regression 0.5]
                     [--slack 1.0] [--allow-skip]
    python -m reports.gate ...          (the same, without the aarya-chaos command)

Rules, per record of the summary:

- a scenario (control null) must have the verdict `pass`; `fail` and `error` fail the gate;
- a negative control must have the verdict `pass` (its checks failed, as they must): anything else means
  the control did not bite, and fails the gate;
- `skipped` fails the gate too (strict by default, for the pre-release use: a claim that was not verified is
  not a claim that held); `--allow-skip` opts out and lists every record that was not verified;
- with `--baseline` (another summary.json, or a run directory holding one), MTTD and RTO of each scenario
  are compared by scenario id: a regression is a measurement above `baseline * (1 + max_regression)` AND
  more than `slack` seconds above the baseline; a figure the baseline had and this run could not measure is
  a regression too;
- a summary without any scenario record fails the gate (nothing was verified).

The gate only reads: it never writes or moves the summary or the baseline.

Exit codes: 0 passed, 1 the gate failed, 2 bad command line, 3 a summary or baseline file is missing or
unreadable, 4 a file is not JSON or not a summary.json of a schema this gate reads.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aarya_chaos.errors import ChaosError

SCHEMA = 1
VERDICTS = ("pass", "fail", "error", "skipped")
METRICS = (("mttd_s", "MTTD"), ("rto_s", "RTO"))
DEFAULT_SUMMARY = Path("reports/latest/summary.json")
DEFAULT_TOLERANCE = 0.5
DEFAULT_SLACK_S = 1.0

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_MISSING = 3
EXIT_INVALID = 4


class GateInputError(ChaosError):
    """A summary or baseline the gate cannot read; `exit_code` is EXIT_MISSING or EXIT_INVALID."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Regression:
    id: str
    name: str
    metric: str  # "mttd_s" or "rto_s"
    baseline: float
    measured: float | None
    limit: float

    def describe(self) -> str:
        label = dict(METRICS)[self.metric]
        if self.measured is None:
            return f"{self.id} {self.name}: {label} not measured (baseline {self.baseline:.3g} s)"
        return (f"{self.id} {self.name}: {label} {self.measured:.3g} s > limit {self.limit:.3g} s "
                f"(baseline {self.baseline:.3g} s)")


@dataclass(frozen=True)
class Row:
    """The gate's view of one record."""

    id: str
    name: str
    control: str | None
    verdict: str
    status: str  # "ok", "FAIL", "skipped"
    note: str
    mttd_s: float | None
    rto_s: float | None
    targets: Mapping[str, Any]


@dataclass(frozen=True)
class GateResult:
    rows: list[Row]
    problems: list[str]  # each one fails the gate
    warnings: list[str] = field(default_factory=list)
    regressions: list[Regression] = field(default_factory=list)
    summary_path: Path | None = None
    baseline_path: Path | None = None

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        return EXIT_PASSED if self.passed else EXIT_FAILED


# -- reading ---------------------------------------------------------------------------------------


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def validate(data: object, what: str = "summary") -> dict[str, Any]:
    """`data` as a summary.json dict, or GateInputError(EXIT_INVALID) saying what is wrong with it."""

    def invalid(problem: str) -> GateInputError:
        return GateInputError(f"{what} is not a summary.json the gate can read: {problem}", EXIT_INVALID)

    if not isinstance(data, dict):
        raise invalid(f"expected a JSON object, got {type(data).__name__}")
    schema = data.get("schema")
    if schema is None:
        raise invalid("no `schema` field")
    if schema != SCHEMA:
        raise invalid(f"schema {schema!r}, this gate reads schema {SCHEMA}")
    scenarios = data.get("scenarios")
    if not isinstance(scenarios, list):
        raise invalid("`scenarios` must be a list")
    for n, record in enumerate(scenarios, 1):
        if not isinstance(record, dict):
            raise invalid(f"scenario #{n} is not an object")
        if not isinstance(record.get("id"), str) or not record["id"]:
            raise invalid(f"scenario #{n} has no `id`")
        if record.get("verdict") not in VERDICTS:
            raise invalid(f"scenario #{n} ({record['id']}): `verdict` must be one of {', '.join(VERDICTS)}, "
                          f"got {record.get('verdict')!r}")
        if record.get("control") is not None and not isinstance(record["control"], str):
            raise invalid(f"scenario #{n} ({record['id']}): `control` must be null or a string")
        for key in ("measured", "targets"):
            if record.get(key) is not None and not isinstance(record[key], dict):
                raise invalid(f"scenario #{n} ({record['id']}): `{key}` must be an object")
    return data


def load_summary(path: Path, what: str = "summary") -> dict[str, Any]:
    """Read and validate a summary.json (a directory means its summary.json). Never writes anything."""
    if path.is_dir():
        path = path / "summary.json"
    label = f"{what} {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GateInputError(f"{label} does not exist (did the chaos run write it?)", EXIT_MISSING) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GateInputError(f"{label} cannot be read: {exc}", EXIT_MISSING) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        hint = " (empty file)" if not text.strip() else ""
        raise GateInputError(f"{label} is not JSON{hint}: {exc}", EXIT_INVALID) from None
    return validate(data, label)


# -- judging ---------------------------------------------------------------------------------------


def telling_line(text: object, limit: int = 160) -> str:
    """The line of a pytest report that tells what went wrong (its first `E ` line, else its last line), cut
    to `limit` characters."""
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    # pytest's longrepr ends with "file:line: Error"; the most telling line is the last "E " one if any
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    chosen = errors[0] if errors else (lines[-1] if lines else "")
    return chosen if len(chosen) <= limit else chosen[: limit - 1] + "…"


def _judge_record(record: Mapping[str, Any], allow_skip: bool) -> tuple[Row, str | None, str | None]:
    """(row, problem or None, warning or None)."""
    sid, name = str(record["id"]), str(record.get("name") or "")
    control = record.get("control")
    verdict = str(record["verdict"])
    measured = record.get("measured") or {}
    label = f"{sid} {name}" + (f" [control {control}]" if control else "")
    problem = warning = None
    if verdict == "skipped":
        status = "skipped" if allow_skip else "FAIL"
        note = "skipped: " + (telling_line(record.get("reason")) or "no reason given")
        if allow_skip:
            warning = f"NOT VERIFIED (--allow-skip): {label}: skipped ({telling_line(record.get('reason'))})"
        else:
            problem = (f"{label}: skipped, so its claims were not verified ({telling_line(record.get('reason'))}); "
                       "--allow-skip accepts that")
    elif control:
        if verdict == "pass":
            status, note = "ok", "control bit"
        else:
            status = "FAIL"
            why = ("the scenario passed its checks without the recovery: the checks do not bite"
                   if verdict == "fail" else f"the control could not be judged ({telling_line(record.get('reason'))})")
            note = f"control did not bite: {why}"
            problem = f"{label}: {note}"
    elif verdict == "pass":
        status, note = "ok", ""
    else:
        status = "FAIL"
        note = f"{verdict}: {telling_line(record.get('reason')) or 'no reason recorded'}"
        problem = f"{label}: {note}"
    row = Row(sid, name, control, verdict, status, note, _number(measured.get("mttd_s")),
              _number(measured.get("rto_s")), record.get("targets") or {})
    return row, problem, warning


def _regressions(current: Sequence[Mapping[str, Any]], baseline: Sequence[Mapping[str, Any]],
                 tolerance: float, slack_s: float) -> tuple[list[Regression], list[str]]:
    base: dict[str, Mapping[str, Any]] = {}
    for record in baseline:
        if record.get("control") is None and record.get("verdict") != "skipped":
            base.setdefault(str(record["id"]), record)
    found: list[Regression] = []
    notes: list[str] = []
    seen: set[str] = set()
    for record in current:
        if record.get("control") is not None or record.get("verdict") == "skipped":
            continue
        sid = str(record["id"])
        if sid in seen:
            continue
        seen.add(sid)
        before = base.get(sid)
        if before is None:
            notes.append(f"{sid} {record.get('name') or ''}: not in the baseline, no regression check")
            continue
        for metric, _ in METRICS:
            was = _number((before.get("measured") or {}).get(metric))
            now = _number((record.get("measured") or {}).get(metric))
            if was is None:
                continue
            limit = max(was * (1 + tolerance), was + slack_s)
            if now is None or now > limit:
                found.append(Regression(sid, str(record.get("name") or ""), metric, was, now, limit))
    for sid, record in base.items():
        if sid not in seen:
            notes.append(f"{sid} {record.get('name') or ''}: in the baseline but not in this run")
    return found, notes


def judge(summary: Mapping[str, Any], baseline: Mapping[str, Any] | None = None, *,
          tolerance: float = DEFAULT_TOLERANCE, slack_s: float = DEFAULT_SLACK_S,
          allow_skip: bool = False) -> GateResult:
    """The gate over validated summaries (see `load_summary`); pure."""
    rows: list[Row] = []
    problems: list[str] = []
    warnings: list[str] = []
    records = list(summary.get("scenarios") or [])
    for record in records:
        row, problem, warning = _judge_record(record, allow_skip)
        rows.append(row)
        problems += [problem] if problem else []
        warnings += [warning] if warning else []
    if not records:
        problems.append("the summary holds no scenario record: nothing was verified")
    regressions: list[Regression] = []
    if baseline is not None:
        regressions, notes = _regressions(records, list(baseline.get("scenarios") or []), tolerance, slack_s)
        problems += [f"regression: {r.describe()}" for r in regressions]
        warnings += notes
    return GateResult(rows, problems, warnings, regressions)


def gate(summary_path: Path, baseline_path: Path | None = None, *, tolerance: float = DEFAULT_TOLERANCE,
         slack_s: float = DEFAULT_SLACK_S, allow_skip: bool = False) -> GateResult:
    """Read the summary (and baseline) and judge them. Raises GateInputError for unreadable input."""
    if tolerance < 0 or not math.isfinite(tolerance):
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance}")
    if slack_s < 0 or not math.isfinite(slack_s):
        raise ValueError(f"slack_s must be a finite number >= 0, got {slack_s}")
    summary = load_summary(Path(summary_path), "summary")
    baseline = load_summary(Path(baseline_path), "baseline") if baseline_path is not None else None
    result = judge(summary, baseline, tolerance=tolerance, slack_s=slack_s, allow_skip=allow_skip)
    return GateResult(result.rows, result.problems, result.warnings, result.regressions,
                      Path(summary_path), None if baseline_path is None else Path(baseline_path))


# -- printing --------------------------------------------------------------------------------------

STATUS_STYLE = {"ok": "[green]ok[/green]", "FAIL": "[bold red]FAIL[/bold red]", "skipped": "[yellow]skipped[/yellow]"}
VERDICT_STYLE = {"pass": "green", "fail": "red", "error": "magenta", "skipped": "yellow"}


def _seconds(measured: float | None, target: object) -> str:
    text = "—" if measured is None else f"{measured:.2f} s"
    goal = _number(target)
    return text if goal is None else f"{text} / {goal:g} s"


def render(result: GateResult, console: Console) -> None:
    """A table of every record, then regressions, warnings, and the outcome."""
    title = "chaos gate" + (f": {result.summary_path}" if result.summary_path else "")
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in ("id", "scenario", "control", "verdict", "MTTD / target", "RTO / target", "gate", "note"):
        table.add_column(column, overflow="fold")
    regressed = {(r.id, r.metric) for r in result.regressions}
    for row in result.rows:
        verdict = f"[{VERDICT_STYLE.get(row.verdict, 'white')}]{row.verdict}[/]"
        cells = []
        for metric, value in (("mttd_s", row.mttd_s), ("rto_s", row.rto_s)):
            text = escape(_seconds(value, row.targets.get(metric)))
            cells.append(f"[red]{text} ▲[/red]" if row.control is None and (row.id, metric) in regressed else text)
        table.add_row(row.id, escape(row.name), escape(row.control or "—"), verdict, *cells,
                      STATUS_STYLE.get(row.status, row.status), escape(row.note))
    console.print(table)
    if result.baseline_path is not None:
        console.print(f"baseline: {escape(str(result.baseline_path))}", highlight=False)
    for regression in result.regressions:
        console.print(f"[red]regression[/red] {escape(regression.describe())}", highlight=False)
    for warning in result.warnings:
        console.print(f"[yellow]note[/yellow] {escape(warning)}", highlight=False)
    if result.passed:
        controls = sum(1 for r in result.rows if r.control)
        console.print(f"[bold green]GATE PASSED[/bold green]: {len(result.rows) - controls} scenario record(s), "
                      f"{controls} control(s) that bit", highlight=False)
    else:
        console.print(f"[bold red]GATE FAILED[/bold red]: {len(result.problems)} problem(s)", highlight=False)
        for problem in result.problems:
            console.print(f"  - {escape(problem)}", highlight=False)


# -- command line ----------------------------------------------------------------------------------


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--summary", type=Path, default=DEFAULT_SUMMARY,
                        help=f"the run to judge (default {DEFAULT_SUMMARY})")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a summary.json (or a run directory such as reports/runs/<time>) to compare MTTD "
                             "and RTO against")
    parser.add_argument("--max-regression", type=_non_negative, default=DEFAULT_TOLERANCE, metavar="FRACTION",
                        help="allowed growth over the baseline, 0.5 = +50%% (default %(default)s)")
    parser.add_argument("--slack", type=_non_negative, default=DEFAULT_SLACK_S, metavar="SECONDS",
                        help="growth below this many seconds is never a regression (default %(default)s)")
    parser.add_argument("--allow-skip", action="store_true",
                        help="skipped scenarios do not fail the gate; they are listed as not verified")
    parser.add_argument("--strict", action="store_true", help=argparse.SUPPRESS)  # the default since schema 1.1


def add_gate_command(subparsers: Any) -> argparse.ArgumentParser:
    """Adds `gate` to an argparse sub-command set (aarya_chaos/cli.py); dispatch with `cmd_gate`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "gate", help="the CI gate over summary.json", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return parser


def run(args: argparse.Namespace, console: Console | None = None, err: Console | None = None) -> int:
    console = console or Console(width=None if sys.stdout.isatty() else 140)
    err = err or Console(stderr=True)
    try:
        result = gate(args.summary, args.baseline, tolerance=args.max_regression, slack_s=args.slack,
                      allow_skip=args.allow_skip)
    except GateInputError as exc:
        err.print(f"[red]gate error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return exc.exit_code
    render(result, console)
    return result.exit_code


def cmd_gate(config: object, args: argparse.Namespace) -> int:
    """The `COMMANDS` entry of aarya_chaos/cli.py (the stack config is not needed)."""
    return run(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aarya-chaos gate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on a bad command line, 0 on --help
        return int(exc.code or 0)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
