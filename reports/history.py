"""The history of runs the gate judges against: `reports/history/<UTC time>-<run id>/summary.json`, one
directory per recorded run, and the baseline of each scenario computed from it.

    record_run(summary_path, history_dir, keep=50)   copy a run in (never overwriting), prune beyond `keep`
    read_history(history_dir)                        the recorded runs, oldest first
    baselines(runs, last=10)                         median and spread per (scenario id, driver, figure)

The directory name is the run's start (UTC, from summary.json, else now) and its id: the driver and the
first 8 hex digits of the summary's sha256, so the same run recorded twice is recognised and not copied
again. Each directory the store creates holds a `.aarya-history` marker; pruning removes only directories
with that marker and a name of that shape, never anything else in reports/history (trend.jsonl lives there).

Spread is the MAD (median absolute deviation from the median), scaled by 1.4826 so it estimates a standard
deviation for normal noise. MAD rather than IQR: with the 3 to 10 runs a history holds, quartiles depend on
the interpolation rule and move with every sample, and one slow run in the history (a noisy VM) widens the
IQR; the MAD ignores up to half of the runs being outliers.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reports.gate_input import (EXIT_INVALID, METRICS, GateInputError, driver_of, figure, is_flaky, load_summary,
                                validate)

DEFAULT_HISTORY = Path("reports/history")
DEFAULT_KEEP = 50  # runs kept in the history: a nightly's two months
DEFAULT_LAST = 10  # passing runs a baseline is computed over: two weeks of nightlies, recent enough to follow
#                    an accepted change in the platform, enough for a median that one odd run cannot move
DEFAULT_MIN_RUNS = 3  # fewer passing runs: "no baseline yet" (the median of 2 is their mean, the MAD of 2 is
#                       half their distance: no spread to judge by)
MAD_TO_SIGMA = 1.4826
MARKER = ".aarya-history"
RUN_DIR = re.compile(r"^\d{8}T\d{6}Z-[a-z0-9_]+-[0-9a-f]{8}$")


@dataclass(frozen=True)
class HistoryRun:
    """One recorded run: its directory name (sortable by time) and its validated summary."""

    name: str
    summary: Mapping[str, Any]


@dataclass(frozen=True)
class Baseline:
    """The figure of one (scenario id, driver) over the last passing runs."""

    id: str
    driver: str
    metric: str
    values: tuple[float, ...]  # oldest first

    @property
    def runs(self) -> int:
        return len(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def spread(self) -> float:
        """1.4826 x the median absolute deviation (the module's docstring says why MAD)."""
        centre = self.median
        return MAD_TO_SIGMA * statistics.median(abs(v - centre) for v in self.values)


# -- the store -------------------------------------------------------------------------------------


def _started_utc(summary: Mapping[str, Any], now: datetime) -> str:
    started = (summary.get("run") or {}).get("started")
    try:
        when = datetime.fromisoformat(str(started)) if started else now
    except ValueError:
        when = now
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def run_dir_name(summary: Mapping[str, Any], content: bytes, now: datetime | None = None) -> str:
    """`<UTC start>-<driver>-<sha256[:8]>` of a summary (the run's driver, made safe for a file name)."""
    driver = re.sub(r"[^a-z0-9_]+", "_", str((summary.get("run") or {}).get("driver") or "unknown").lower())
    digest = hashlib.sha256(content).hexdigest()[:8]
    return f"{_started_utc(summary, now or datetime.now(timezone.utc))}-{driver}-{digest}"


def record_run(summary_path: Path, history_dir: Path = DEFAULT_HISTORY, *, keep: int = DEFAULT_KEEP,
               now: datetime | None = None) -> tuple[Path, bool, list[Path]]:
    """Copy a summary into the history: (its directory, whether it was new, directories pruned)."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    if summary_path.is_dir():
        summary_path = summary_path / "summary.json"
    summary = load_summary(summary_path)
    content = summary_path.read_bytes()
    target = history_dir / run_dir_name(summary, content, now)
    digest = target.name[-8:]
    for existing in _own_dirs(history_dir):
        if existing.name.endswith(digest) and (existing / "summary.json").read_bytes() == content:
            return existing, False, []
    target.mkdir(parents=True, exist_ok=False)  # never overwrites: a clash is an error, not a replacement
    (target / MARKER).write_text("created by aarya-chaos gate --record-history; pruned by it\n")
    (target / "summary.json").write_bytes(content)
    return target, True, prune(history_dir, keep)


def _own_dirs(history_dir: Path) -> list[Path]:
    """The run directories the store created, oldest first."""
    if not history_dir.is_dir():
        return []
    return sorted((p for p in history_dir.iterdir()
                   if p.is_dir() and RUN_DIR.match(p.name) and (p / MARKER).is_file()), key=lambda p: p.name)


def prune(history_dir: Path, keep: int) -> list[Path]:
    """Delete the store's oldest run directories beyond `keep`; return them."""
    gone = _own_dirs(history_dir)[:-keep] if keep else _own_dirs(history_dir)
    for path in gone:
        shutil.rmtree(path)
    return gone


def read_history(history_dir: Path = DEFAULT_HISTORY) -> list[HistoryRun]:
    """Every recorded run, oldest first; a directory that is not a summary the gate reads is an error naming it
    (a history is the gate's evidence: a torn one must not be half-read silently)."""
    runs: list[HistoryRun] = []
    if not history_dir.exists():
        return runs
    if not history_dir.is_dir():
        raise GateInputError(f"history {history_dir} is not a directory", EXIT_INVALID)
    for path in sorted(p for p in history_dir.iterdir() if p.is_dir() and RUN_DIR.match(p.name)):
        runs.append(HistoryRun(path.name, load_summary(path / "summary.json", "history run")))
    return runs


def literal_history(*summaries: Mapping[str, Any]) -> list[HistoryRun]:
    """A history from summaries in memory (tests, and judging without a store), oldest first."""
    return [HistoryRun(f"{n:04d}", validate(dict(s), f"history run #{n}")) for n, s in enumerate(summaries, 1)]


# -- baselines -------------------------------------------------------------------------------------


def passing_figures(runs: Sequence[HistoryRun]) -> dict[tuple[str, str, str], list[float]]:
    """(id, driver, metric) -> the figures of passing scenario records (not controls, not flaky), oldest first."""
    found: dict[tuple[str, str, str], list[float]] = {}
    for run in runs:
        for record in run.summary.get("scenarios") or []:
            if record.get("control") is not None or record.get("verdict") != "pass" or is_flaky(record):
                continue
            for metric, _ in METRICS:
                value = figure(record, metric)
                if value is not None:
                    found.setdefault((str(record["id"]), driver_of(record, run.summary), metric), []).append(value)
    return found


def baselines(runs: Sequence[HistoryRun], *, last: int = DEFAULT_LAST) -> dict[tuple[str, str, str], Baseline]:
    """The baseline of every (id, driver, metric) over its `last` passing figures (fewer is allowed here: the
    judge says "no baseline yet" below its minimum)."""
    return {key: Baseline(*key, tuple(values[-last:])) for key, values in passing_figures(runs).items()}
