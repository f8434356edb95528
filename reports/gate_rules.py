"""The gate's rules, pure: what each record means for the gate, the named gates' profiles, and the judgement
over one or more summaries (with a baseline run or a history, and a quarantine).

Named gates (`--gate NAME`), each a selection of records (by marker and driver) and a strictness:

- `default` (no --gate): the first gate: every selected record must pass; skipped and flaky fail.
- `nightly`: everything, on both drivers (local and docker must each have records); skipped and flaky are
  listed and counted but do not fail; the history is the baseline.
- `pre-release`: everything, strict: skipped and flaky fail (unless quarantined), and every scenario the history
  knows on a driver of this run must be in this run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from reports.gate_input import (EXIT_FAILED, EXIT_PASSED, FLAKY, driver_of, figure, is_flaky, markers_of,
                                telling_line)
from reports.history import DEFAULT_MIN_RUNS, Baseline
from reports.quarantine import Quarantine, expired_problems, quarantined
from reports.regressions import (DEFAULT_K, DEFAULT_MARGIN_S, DEFAULT_SLACK_S, DEFAULT_TOLERANCE, Comparison,
                                 Regression, against_baseline_run, against_history)


@dataclass(frozen=True)
class GateProfile:
    name: str
    allow_skip: bool = False
    allow_flaky: bool = False
    require_drivers: tuple[str, ...] = ()
    markers: tuple[str, ...] | None = None  # records selected by marker; None: all
    drivers: tuple[str, ...] | None = None  # records selected by driver; None: all
    require_known_scenarios: bool = False  # every scenario of the history (on this run's drivers) must be here
    uses_history: bool = False


PROFILES = {
    "default": GateProfile("default"),
    "nightly": GateProfile("nightly", allow_skip=True, allow_flaky=True, require_drivers=("local", "docker"),
                           uses_history=True),
    "pre-release": GateProfile("pre-release", require_known_scenarios=True, uses_history=True),
}


@dataclass(frozen=True)
class Row:
    """The gate's view of one record."""

    id: str
    name: str
    control: str | None
    verdict: str
    status: str  # "ok", "FAIL", "skipped", "flaky", "quarantined"
    note: str
    mttd_s: float | None
    rto_s: float | None
    targets: Mapping[str, Any]
    driver: str = ""


@dataclass(frozen=True)
class GateResult:
    rows: list[Row]
    problems: list[str]  # each one fails the gate
    warnings: list[str] = field(default_factory=list)
    regressions: list[Regression] = field(default_factory=list)
    summary_path: Path | None = None
    baseline_path: Path | None = None
    comparisons: list[Comparison] = field(default_factory=list)
    profile: str = "default"
    summary_paths: tuple[Path, ...] = ()
    history_runs: int | None = None  # None: no history was used

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        return EXIT_PASSED if self.passed else EXIT_FAILED

    @property
    def flaky(self) -> int:
        return sum(1 for row in self.rows if row.verdict == FLAKY)


# -- one record ------------------------------------------------------------------------------------


def _flaky_note(record: Mapping[str, Any]) -> str:
    attempts = record.get("attempts") or []
    failed = [a for a in attempts if a.get("verdict") != "pass"]
    first = telling_line(failed[0].get("reason")) if failed else telling_line(record.get("reason"))
    counted = f"{len(failed)} of {len(attempts)} attempts did not pass" if attempts else "passed after a failed attempt"
    return f"flaky: {counted}" + (f" (first: {first})" if first else "")


def _control_outcome(record: Mapping[str, Any], verdict: str) -> tuple[str, str, bool]:
    if verdict == "pass":
        return "ok", "control bit", False
    why = ("the scenario passed its checks without the recovery: the checks do not bite" if verdict == "fail"
           else f"the control could not be judged ({telling_line(record.get('reason'))})")
    return "FAIL", f"control did not bite: {why}", True


def judge_record(record: Mapping[str, Any], profile: GateProfile,
                 driver: str = "") -> tuple[Row, str | None, str | None]:
    """(row, problem or None, warning or None) of one record under a profile."""
    sid, name = str(record["id"]), str(record.get("name") or "")
    control, verdict = record.get("control"), str(record["verdict"])
    label = f"{sid} {name}" + (f" [control {control}]" if control else "") + (f" on {driver}" if driver else "")
    problem = warning = None
    if is_flaky(record):
        verdict, status, note = FLAKY, "flaky", _flaky_note(record)
        if profile.allow_flaky:
            warning = f"FLAKY (counted on the trend): {label}: {note}"
        else:
            status = "FAIL"
            problem = f"{label}: {note}; the {profile.name} gate does not pass a flaky scenario (quarantine it to ship)"
    elif verdict == "skipped":
        reason = telling_line(record.get("reason"))
        note = "skipped: " + (reason or "no reason given")
        status = "skipped" if profile.allow_skip else "FAIL"
        if profile.allow_skip:
            allowed_by = "--allow-skip" if profile.name == "default" else profile.name
            warning = f"NOT VERIFIED ({allowed_by}): {label}: skipped ({reason})"
        else:
            problem = f"{label}: skipped, so its claims were not verified ({reason}); --allow-skip accepts that"
    elif control:
        status, note, failed = _control_outcome(record, verdict)
        problem = f"{label}: {note}" if failed else None
    elif verdict == "pass":
        status, note = "ok", ""
    else:
        reason = telling_line(record.get("reason")) or "no reason recorded"
        status, note = "FAIL", reason if reason.startswith(f"{verdict}:") else f"{verdict}: {reason}"  # aborted's says it
        problem = f"{label}: {note}"
    row = Row(sid, name, control, verdict, status, note, figure(record, "mttd_s"), figure(record, "rto_s"),
              record.get("targets") or {}, driver)
    return row, problem, warning


# -- selection -------------------------------------------------------------------------------------


Selected = list[tuple[Mapping[str, Any], str]]  # (record, driver)


def select(summaries: Sequence[Mapping[str, Any]], profile: GateProfile) -> tuple[Selected, int]:
    """The (record, driver) pairs the profile selects, and how many it left out."""
    chosen: Selected = []
    left_out = 0
    for summary in summaries:
        for record in summary.get("scenarios") or []:
            driver = driver_of(record, summary)
            by_driver = profile.drivers is None or driver in profile.drivers
            by_marker = profile.markers is None or bool(markers_of(record) & set(profile.markers))
            if by_driver and by_marker:
                chosen.append((record, driver))
            else:
                left_out += 1
    return chosen, left_out


def _missing_drivers(chosen: Sequence[tuple[Mapping[str, Any], str]], profile: GateProfile) -> list[str]:
    """A problem per driver the profile requires (its own, or the ones --driver selected) without a record."""
    present = {driver for _, driver in chosen}
    required = profile.drivers if profile.drivers is not None else profile.require_drivers
    return [f"the {profile.name} gate needs records from driver {d}: none in the summaries given"
            for d in required if d not in present]


def _unknown_here(chosen: Sequence[tuple[Mapping[str, Any], str]],
                  history: Mapping[tuple[str, str, str], Baseline]) -> list[tuple[str, str]]:
    present = {(str(r["id"]), d) for r, d in chosen}
    drivers = {d for _, d in chosen}
    known = sorted({(sid, d) for sid, d, _ in history if d in drivers})
    return [key for key in known if key not in present]


# -- the judgement ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judging:
    """What a judgement compares against, besides the run itself."""

    baseline: Mapping[str, Any] | None = None  # one earlier summary (--baseline)
    history: Mapping[tuple[str, str, str], Baseline] | None = None  # reports/history.baselines(...)
    history_runs: int = 0
    quarantine: Sequence[Quarantine] = ()
    today: date = field(default_factory=date.today)
    tolerance: float = DEFAULT_TOLERANCE
    slack_s: float = DEFAULT_SLACK_S
    k: float = DEFAULT_K
    margin_s: float = DEFAULT_MARGIN_S
    min_runs: int = DEFAULT_MIN_RUNS


def judge_runs(summaries: Sequence[Mapping[str, Any]], profile: GateProfile = PROFILES["default"],
               against: Judging | None = None) -> GateResult:
    """The gate over validated summaries; pure (`against.today` is the quarantine's date)."""
    against = against or Judging()
    chosen, left_out = select(summaries, profile)
    rows: list[Row] = []
    problems: list[tuple[str, str, str]] = []  # (scenario id, driver, problem)
    warnings: list[str] = []
    show_driver = len(summaries) > 1 or profile.name != "default"
    for record, driver in chosen:
        row, problem, warning = judge_record(record, profile, driver if show_driver else "")
        rows.append(replace(row, driver=driver))
        problems += [(row.id, driver, problem)] if problem else []
        warnings += [warning] if warning else []
    if not chosen:
        problems.append(("", "", "the summary holds no scenario record: nothing was verified" if not left_out else
                         f"the {profile.name} gate selected none of the {left_out} records: nothing was verified"))
    elif left_out:
        warnings.append(f"{left_out} record(s) not selected by the {profile.name} gate's markers and drivers")
    problems += [("", "", p) for p in _missing_drivers(chosen, profile)]
    regressions: list[Regression] = []
    if against.baseline is not None:
        regressions, notes = against_baseline_run([r for r, _ in chosen], list(against.baseline.get("scenarios") or []),
                                                  against.tolerance, against.slack_s)
        problems += [(r.id, "", f"regression: {r.describe()}") for r in regressions]
        warnings += notes
    comparisons: list[Comparison] = []
    if against.history is not None:
        comparisons = against_history(chosen, against.history, k=against.k, margin_s=against.margin_s,
                                      min_runs=against.min_runs)
        problems += [(c.id, c.driver, f"regression: {c.describe()}") for c in comparisons if c.regressed]
        for sid, driver in _unknown_here(chosen, against.history):
            text = f"{sid} on {driver}: in the history but not in this run"
            if profile.require_known_scenarios:
                problems.append((sid, driver, f"{text}; the {profile.name} gate runs everything"))
            else:
                warnings.append(text)
    kept, waived = _apply_quarantine(problems, against.quarantine, against.today)
    rows = [_mark_quarantined(row, against.quarantine, against.today) for row in rows]
    return GateResult(rows, kept + expired_problems(against.quarantine, against.today), warnings + waived,
                      regressions, comparisons=comparisons, profile=profile.name,
                      history_runs=against.history_runs if against.history is not None else None)


def _apply_quarantine(problems: Sequence[tuple[str, str, str]], entries: Sequence[Quarantine],
                      today: date) -> tuple[list[str], list[str]]:
    kept: list[str] = []
    waived: list[str] = []
    for sid, driver, problem in problems:
        entry = quarantined(entries, sid, driver, today) if sid else None
        if entry is None:
            kept.append(problem)
        else:
            waived.append(f"QUARANTINED {problem} [quarantine: {entry.describe()}]")
    return kept, waived


def _mark_quarantined(row: Row, entries: Sequence[Quarantine], today: date) -> Row:
    if row.status in ("ok",) or quarantined(entries, row.id, row.driver, today) is None:
        return row
    return replace(row, status="quarantined")


def judge(summary: Mapping[str, Any], baseline: Mapping[str, Any] | None = None, *,
          tolerance: float = DEFAULT_TOLERANCE, slack_s: float = DEFAULT_SLACK_S,
          allow_skip: bool = False) -> GateResult:
    """The first gate over one validated summary (see `load_summary`); pure."""
    profile = replace(PROFILES["default"], allow_skip=allow_skip)
    return judge_runs([summary], profile, Judging(baseline=baseline, tolerance=tolerance, slack_s=slack_s))
