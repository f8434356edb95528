"""Timing claims over a history: MTTD, restoration, RTO, steady state, hangs.

All times are monotonic seconds. Ops are selected as in `checks.windows` (`fs`; with fs=None, every op
that is not a probe), and an op belongs to a window when it was invoked in it.

Steady state (`SteadyState`) holds over a window W = [t, t + hold_s) when
  (a) the load ops invoked in W number at least `min_ops` (and at least one), and
      ok / (ok + fail + info) >= `threshold`;
  (b) at least one health probe (f starting with `health_prefix`) was invoked in W, and every health
      probe invoked in W is ok.
Restoration at t also needs
  (c) at t, the last probe of every health function invoked at or before t is ok (or there is none): a
      component last seen down is not restored because its next probe came only after it was back.
      Without (c) an outage shorter than one probe interval, seen by a probe just before t, would give
      a window that looks steady and an RTO of a millisecond.
An op that never completed is `info`, so it counts against (a), (b) and (c).

Definitions used in reports:
  MTTD         detected_at - injected_at: from the injection to the first detection of the fault.
  restored_at  the earliest candidate t >= after at which steady state holds over [t, t + hold_s) and
               (c) holds at t,
               the candidates being the invocation times of the health probes invoked at or after
               `after` (not `after` itself, unless a probe was invoked exactly then, nor any load op), and
               only windows that end no later than the last invocation of any op in the history (a window
               running past the end of the history is not evidence). Restoration is declared when a
               green probe sees it, never in between: the RTO is conservative, by at most one probe
               interval (a load op that happens to succeed first proves nothing about the rest).
  RTO          restored_at(after=injected_at) - injected_at: from the injection to the first health probe
               that opens a steady window after it. It does not include hold_s: the hold is how long we
               watched to be sure, not part of the outage.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from itertools import accumulate

from checks.windows import Window, in_window, latency_ms, selected
from load.history import Op


def mttd(injected_at: float, detected_at: float | None) -> float | None:
    """Mean time to detect, for one injection: detected_at - injected_at; None when never detected.

    Raises ValueError when the detection precedes the injection: it detected something else.
    """
    if detected_at is None:
        return None
    if detected_at < injected_at:
        raise ValueError(f"detected at {detected_at}, before the injection at {injected_at}")
    return detected_at - injected_at


@dataclass(frozen=True)
class SteadyState:
    """The hypothesis "the shop works": see the module docstring for the exact conditions."""

    threshold: float = 0.95
    hold_s: float = 5.0
    min_ops: int = 5
    fs: Collection[str] | None = None
    health_prefix: str = "health:"

    def __post_init__(self) -> None:
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold {self.threshold} outside [0, 1]")
        if self.hold_s <= 0:
            raise ValueError(f"hold_s must be positive, got {self.hold_s}")
        if self.min_ops < 0:
            raise ValueError(f"min_ops must be >= 0, got {self.min_ops}")

    def is_load(self, op: Op) -> bool:
        """Load ops are selected by `fs`; with fs=None, probes (including `health_prefix`) are not load."""
        if self.fs is not None:
            return op.f in self.fs
        return selected(op, None) and not op.f.startswith(self.health_prefix)

    def is_health(self, op: Op) -> bool:
        return op.f.startswith(self.health_prefix)


class _Series:
    """Invocation times of some ops, sorted, with a running count of the ok ones: O(log n) window counts."""

    def __init__(self, ops: Sequence[Op]) -> None:
        ordered = sorted(ops, key=lambda op: op.start)
        self.starts = [op.start for op in ordered]
        self._oks = [0, *accumulate(op.outcome == "ok" for op in ordered)]

    def count(self, start: float, end: float) -> tuple[int, int]:
        """(ops, ok ops) invoked in [start, end)."""
        lo, hi = bisect_left(self.starts, start), bisect_left(self.starts, end)
        return hi - lo, self._oks[hi] - self._oks[lo]


class _Steady:
    def __init__(self, ops: Sequence[Op], steady: SteadyState) -> None:
        self.steady = steady
        self.load = _Series([op for op in ops if steady.is_load(op)])
        probes = [op for op in ops if steady.is_health(op)]
        self.health = _Series(probes)
        self.by_probe: dict[str, tuple[list[float], list[bool]]] = {}
        for op in sorted(probes, key=lambda op: op.start):
            starts, oks = self.by_probe.setdefault(op.f, ([], []))
            starts.append(op.start)
            oks.append(op.outcome == "ok")

    def last_seen_healthy(self, t: float) -> bool:
        """Condition (c): the last probe of each health function invoked at or before t was ok."""
        for starts, oks in self.by_probe.values():
            seen = bisect_right(starts, t)
            if seen and not oks[seen - 1]:
                return False
        return True

    def holds(self, start: float, end: float) -> bool:
        total, ok = self.load.count(start, end)
        probes, probes_ok = self.health.count(start, end)
        load_fine = total >= self.steady.min_ops and total > 0 and ok / total >= self.steady.threshold
        return load_fine and probes > 0 and probes_ok == probes

    def candidates(self, after: float) -> list[float]:
        return self.health.starts[bisect_left(self.health.starts, after):]


def restored_at(ops: Sequence[Op], *, after: float, steady: SteadyState) -> float | None:
    """The earliest health probe invocation t >= `after` whose window [t, t + hold_s) is steady (module
    docstring); None when there is none before the history ends."""
    if not ops:
        return None
    last = max(op.start for op in ops)
    index = _Steady(ops, steady)
    for t in index.candidates(after):
        if t + steady.hold_s > last:
            return None
        if index.holds(t, t + steady.hold_s) and index.last_seen_healthy(t):
            return t
    return None


def rto(injected_at: float, ops: Sequence[Op], steady: SteadyState, *,
        after: float | None = None) -> float | None:
    """Recovery time objective as measured: restored_at - injected_at; None when never restored.

    The search starts at `after` (default: the injection). A fault that takes a while to bite leaves the
    stack steady just after the injection, and the first probe after it would open a steady window: an
    RTO of at most one probe interval (0 when a probe was invoked at the injection itself); pass the time
    the fault was seen to land (a `landed` event, the first failed op) to search from there instead.
    """
    start = injected_at if after is None else max(after, injected_at)
    restored = restored_at(ops, after=start, steady=steady)
    return None if restored is None else restored - injected_at


def steady_before(ops: Sequence[Op], *, before: float, steady: SteadyState) -> bool:
    """Whether steady state held over [before - hold_s, before): a precondition for injecting.

    Evaluated live, ops still in flight at `before` read as `info` (never completed); pass a `before`
    at least one request timeout in the past if the history is still being written.
    """
    return _Steady(ops, steady).holds(before - steady.hold_s, before)


def steady_broken_at(ops: Sequence[Op], *, start: float, end: float, steady: SteadyState) -> float | None:
    """The first moment in [start, end) at which the steady state did not hold: a health probe invoked
    then that failed, or a load op invoking a window [t, min(t + hold_s, end)) whose load ops (at least
    `min_ops`, and one) succeed below `threshold`. None when it held throughout: the fault never broke it.
    """
    probes = sorted((op.start for op in ops if steady.is_health(op) and start <= op.start < end
                     and op.outcome != "ok"))
    first_probe = probes[0] if probes else None
    load = sorted((op for op in ops if steady.is_load(op) and start <= op.start < end), key=lambda op: op.start)
    series = _Series(load)
    first_load = None
    for op in load:
        if first_probe is not None and op.start >= first_probe:
            break
        total, ok = series.count(op.start, min(op.start + steady.hold_s, end))
        if total >= max(steady.min_ops, 1) and ok / total < steady.threshold:
            first_load = op.start
            break
    found = [t for t in (first_probe, first_load) if t is not None]
    return min(found) if found else None


def never_hung(ops: Sequence[Op], window: Window, max_latency_ms: float, *,
               fs: Collection[str] | None = None) -> list[Op]:
    """The selected ops invoked in `window` that hung: latency > max_latency_ms, or never completed.

    The claim "every request got a fast, defined answer" holds when this is empty. A timed-out `info`
    that completed within the bound is not a hang here (it is counted against the success rate instead).
    """
    return [op for op in in_window(ops, window.start, window.end, fs)
            if op.end is None or (latency_ms(op) or 0.0) > max_latency_ms]
