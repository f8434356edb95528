"""Slower than before? MTTD and RTO of a run against one baseline run (`--baseline`, the first gate) or against
the history of runs (`--history`, reports/history.py).

Against the history, per (scenario id, driver, figure): a regression is a figure above

    bound = median + max(k x spread, margin)        k = 3, margin = 1 s by default

over the last N passing runs (spread: 1.4826 x MAD, see reports/history.py). k = 3: for normal noise a figure
beyond 3 sigma comes once in ~740 comparisons, and a nightly makes ~30 (15 scenarios x 2 figures), so a false
alarm about once a month. The margin: a history of nearly equal figures has a spread near 0, and MTTD and RTO
are taken at health probes 0.5 s apart, so two probe intervals (1 s) is the smallest change the suite can tell
from its own quantisation. With fewer than the minimum runs (3) the comparison says "no baseline yet" and
never fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reports.gate_input import METRICS, figure
from reports.history import DEFAULT_MIN_RUNS, Baseline

DEFAULT_TOLERANCE = 0.5  # --baseline: +50% ...
DEFAULT_SLACK_S = 1.0  # ... and more than 1 s
DEFAULT_K = 3.0
DEFAULT_MARGIN_S = 1.0


def _label(metric: str) -> str:
    return dict(METRICS)[metric]


@dataclass(frozen=True)
class Regression:
    """A figure above the limit of one baseline run (`--baseline`)."""

    id: str
    name: str
    metric: str  # "mttd_s" or "rto_s"
    baseline: float
    measured: float | None
    limit: float

    def describe(self) -> str:
        label = _label(self.metric)
        if self.measured is None:
            return f"{self.id} {self.name}: {label} not measured (baseline {self.baseline:.3g} s)"
        return (f"{self.id} {self.name}: {label} {self.measured:.3g} s > limit {self.limit:.3g} s "
                f"(baseline {self.baseline:.3g} s)")


def against_baseline_run(current: Sequence[Mapping[str, Any]], baseline: Sequence[Mapping[str, Any]],
                         tolerance: float, slack_s: float) -> tuple[list[Regression], list[str]]:
    """The first gate's rule: above `baseline * (1 + tolerance)` AND more than `slack_s` above it."""
    base: dict[str, Mapping[str, Any]] = {}
    for record in baseline:
        if record.get("control") is None and record.get("verdict") != "skipped":
            base.setdefault(str(record["id"]), record)
    found: list[Regression] = []
    notes: list[str] = []
    seen: set[str] = set()
    for record in current:
        sid = str(record["id"])
        if record.get("control") is not None or record.get("verdict") == "skipped" or sid in seen:
            continue
        seen.add(sid)
        before = base.get(sid)
        if before is None:
            notes.append(f"{sid} {record.get('name') or ''}: not in the baseline, no regression check")
            continue
        for metric, _ in METRICS:
            was, now = figure(before, metric), figure(record, metric)
            if was is None:
                continue
            limit = max(was * (1 + tolerance), was + slack_s)
            if now is None or now > limit:
                found.append(Regression(sid, str(record.get("name") or ""), metric, was, now, limit))
    notes += [f"{sid} {record.get('name') or ''}: in the baseline but not in this run"
              for sid, record in base.items() if sid not in seen]
    return found, notes


@dataclass(frozen=True)
class Comparison:
    """One figure of this run against its history: judged, or why not."""

    id: str
    name: str
    driver: str
    metric: str
    measured: float | None
    baseline: Baseline | None
    k: float = DEFAULT_K
    margin_s: float = DEFAULT_MARGIN_S
    min_runs: int = DEFAULT_MIN_RUNS

    @property
    def ready(self) -> bool:
        return self.baseline is not None and self.baseline.runs >= self.min_runs

    @property
    def bound(self) -> float | None:
        if not self.ready or self.baseline is None:
            return None
        return self.baseline.median + max(self.k * self.baseline.spread, self.margin_s)

    @property
    def regressed(self) -> bool:
        bound = self.bound
        return bound is not None and (self.measured is None or self.measured > bound)

    @property
    def status(self) -> str:
        if not self.ready:
            return f"no baseline yet ({self.baseline.runs if self.baseline else 0} of {self.min_runs} passing runs)"
        return "REGRESSION" if self.regressed else "ok"

    def describe(self) -> str:
        head = f"{self.id} {self.name} on {self.driver}: {_label(self.metric)}"
        now = "not measured" if self.measured is None else f"{self.measured:.3g} s"
        if not self.ready or self.baseline is None or self.bound is None:
            return f"{head} {now}: {self.status}"
        b = self.baseline
        rule = f"median + max({self.k:g} x spread, {self.margin_s:g} s)"
        relation = ">" if self.regressed else "<="
        return (f"{head} {now} {relation} bound {self.bound:.3g} s = {rule}; median {b.median:.3g} s, "
                f"spread {b.spread:.3g} s over the last {b.runs} passing runs")


def against_history(current: Sequence[tuple[Mapping[str, Any], str]],
                    history: Mapping[tuple[str, str, str], Baseline], *, k: float = DEFAULT_K,
                    margin_s: float = DEFAULT_MARGIN_S, min_runs: int = DEFAULT_MIN_RUNS) -> list[Comparison]:
    """A comparison per figure of each (record, driver) that is a scenario (not a control) and was not skipped."""
    found: list[Comparison] = []
    for record, driver in current:
        if record.get("control") is not None or record.get("verdict") == "skipped":
            continue
        sid = str(record["id"])
        for metric, _ in METRICS:
            base = history.get((sid, driver, metric))
            measured = figure(record, metric)
            if base is None and measured is None:
                continue
            found.append(Comparison(sid, str(record.get("name") or ""), driver, metric, measured, base, k,
                                    margin_s, min_runs))
    return found
