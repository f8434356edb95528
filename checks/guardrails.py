"""Guardrails during the fault: abort conditions over a run's history, pure (docs/guardrails.md).

A run must never do more harm than it set out to. Each guardrail is a condition over a trailing window of
`for_s` seconds, judged at a moment t:

    SuccessFloor(rate, for_s)       the load ops that COMPLETED in (t - for_s, t] (at least `min_ops` of them)
                                    succeeded below `rate`: ok / (ok + fail + info) < rate
    LatencyCeiling(p95_ms, for_s)   the nearest-rank p95 of the load's latencies is above `p95_ms`: ops that
                                    completed in (t - for_s, t] with their latency, and ops still in flight
                                    at t with their age so far (a hung request is the worst latency of all)
    ComponentDown(component, for_s) every probe `health:<component>` for `for_s` seconds failed: a run of
                                    failed probes, no ok one between, invoked `for_s` apart at least
                                    (component "*": any probed component outside `expected_down`)

`info` (an outcome nobody knows: a timeout, a dropped connection) counts as NOT a success. A guardrail
limits the harm the shoppers saw, and a shopper whose checkout timed out was harmed whatever the server
did; the steady state (checks/timing.py) and the windows (checks/windows.py) count it the same way.

Windows lie wholly after `since` (the injection): a guardrail never trips in its first `for_s` seconds, and
the load before the fault never dilutes the one during it. `first_trip` returns the earliest moment in
[since, now] at which one tripped, judged only on what the history held at that moment (completions at or
before it), so the same history gives the same trip live (every 0.25 s) and afterwards.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Union

from checks.windows import latency_ms, percentile, selected
from load.history import Op, cancelled_at_shutdown

HEALTH = "health:"
ANY_COMPONENT = "*"
MIN_OPS = 5


@dataclass(frozen=True)
class SuccessFloor:
    rate: float
    for_s: float
    fs: Collection[str] | None = None  # load ops judged (checks.windows.selected); None: every non-probe op
    min_ops: int = MIN_OPS

    def describe(self) -> str:
        return f"success floor {self.rate:.0%} over {self.for_s:g} s"


@dataclass(frozen=True)
class LatencyCeiling:
    p95_ms: float
    for_s: float
    fs: Collection[str] | None = None
    min_ops: int = MIN_OPS

    def describe(self) -> str:
        return f"p95 ceiling {self.p95_ms:g} ms over {self.for_s:g} s"


@dataclass(frozen=True)
class ComponentDown:
    component: str
    for_s: float
    expected_down: frozenset[str] = field(default_factory=frozenset)  # only with component "*"

    def describe(self) -> str:
        if self.component != ANY_COMPONENT:
            return f"{self.component} down for {self.for_s:g} s"
        spared = f" (but {', '.join(sorted(self.expected_down))})" if self.expected_down else ""
        return f"any component{spared} down for {self.for_s:g} s"


Guardrail = Union[SuccessFloor, LatencyCeiling, ComponentDown]


@dataclass(frozen=True)
class Trip:
    """A guardrail that tripped: when (monotonic), what was measured, and one line for people."""

    guardrail: Guardrail
    when: float
    measured: str

    def text(self, since: float) -> str:
        return f"{self.guardrail.describe()} tripped at +{self.when - since:.1f} s after the injection: {self.measured}"


# -- suite-wide defaults (docs/guardrails.md says why these) ------------------------------------------------

#: Twice the longest any recorded run waited between its injection and its recovery (30.4 s, pretix's 7.1
#: with its earlier lock hold; 20.4 s on the reference platform): only a run that is stuck trips it.
DEFAULT_DOWN_S = 60.0
#: Six times the load's own answer timeout (5 s): only requests that hang past every client deadline.
DEFAULT_P95_MS = 30_000.0
DEFAULT_P95_FOR_S = 10.0


def suite_defaults(expected_down: Collection[str] = ()) -> list[Guardrail]:
    """What every scenario is guarded by unless it sets its own: no component (but `expected_down`) down for
    60 s before the recovery starts, and no p95 above 30 s over 10 s. No success floor: the faults break the
    load on purpose (1.1 takes it to 0 %), so no floor fits every scenario."""
    return [ComponentDown(ANY_COMPONENT, DEFAULT_DOWN_S, frozenset(expected_down)),
            LatencyCeiling(DEFAULT_P95_MS, DEFAULT_P95_FOR_S)]


# -- judging ---------------------------------------------------------------------------------------


def first_trip(ops: Iterable[Op], guardrails: Sequence[Guardrail], since: float, now: float) -> Trip | None:
    """The earliest trip in [since, now] of any of `guardrails` over `ops` (any order), or None."""
    ops = list(ops)
    trips = [trip for g in guardrails if (trip := _trip_of(g, ops, since, now)) is not None]
    return min(trips, key=lambda trip: trip.when, default=None)


def _trip_of(guardrail: Guardrail, ops: list[Op], since: float, now: float) -> Trip | None:
    if isinstance(guardrail, SuccessFloor):
        return _success_trip(guardrail, ops, since, now)
    if isinstance(guardrail, LatencyCeiling):
        return _latency_trip(guardrail, ops, since, now)
    return _down_trip(guardrail, ops, since, now)


def _load(ops: Iterable[Op], fs: Collection[str] | None) -> list[Op]:
    return [op for op in ops if selected(op, fs) and not cancelled_at_shutdown(op)]


def _moments(ends: Sequence[float], for_s: float, since: float, now: float) -> list[float]:
    """Where a window's content changes (an op enters at its end, leaves for_s later), in [since + for_s, now]."""
    first = since + for_s
    found = {t for end in ends for t in (end, end + for_s) if first <= t <= now}
    return sorted(found | ({first} if first <= now else set()))


def _success_trip(floor: SuccessFloor, ops: list[Op], since: float, now: float) -> Trip | None:
    done = sorted((op for op in _load(ops, floor.fs) if op.end is not None and op.end > since),
                  key=lambda op: op.end or 0.0)
    ends = [op.end or 0.0 for op in done]
    oks = [0]
    for op in done:
        oks.append(oks[-1] + (op.outcome == "ok"))
    for t in _moments(ends, floor.for_s, since, now):
        lo, hi = bisect_right(ends, t - floor.for_s), bisect_right(ends, t)
        total, ok = hi - lo, oks[hi] - oks[lo]
        if total >= max(floor.min_ops, 1) and ok / total < floor.rate:
            return Trip(floor, t, f"{ok / total:.0%} of {total} load ops succeeded ({ok} ok)")
    return None


def _latency_trip(ceiling: LatencyCeiling, ops: list[Op], since: float, now: float) -> Trip | None:
    load = [op for op in _load(ops, ceiling.fs) if op.end is None or op.end > since]
    ceiling_s = ceiling.p95_ms / 1000.0
    # A p95 above the ceiling needs a sample above it in the window: look only where one is (cheap when none).
    slow = [op for op in load if _took_s(op, now) > ceiling_s]
    if not slow:
        return None
    ends = sorted(op.end for op in load if op.end is not None and op.end <= now)
    near = [(op.start + ceiling_s, (op.end if op.end is not None else now) + ceiling.for_s) for op in slow]
    moments = [t for t in _moments(ends, ceiling.for_s, since, now) if any(lo <= t <= hi for lo, hi in near)]
    for t in moments + [now]:
        samples = _latencies_at(load, t, ceiling.for_s)
        p95 = percentile(samples, 95)
        if t >= since + ceiling.for_s and len(samples) >= max(ceiling.min_ops, 1) and p95 is not None \
                and p95 > ceiling.p95_ms:
            return Trip(ceiling, t, f"p95 {p95:.0f} ms over {len(samples)} load ops")
    return None


def _took_s(op: Op, now: float) -> float:
    """How long an op took (its latency), or has taken so far at `now` when still in flight."""
    if op.end is None or op.end > now:
        return now - op.start
    return (latency_ms(op) or 0.0) / 1000.0


def _latencies_at(load: list[Op], t: float, for_s: float) -> list[float]:
    """Completed in (t - for_s, t]: their latency; in flight at t: their age so far."""
    samples: list[float] = []
    for op in load:
        if op.end is not None and t - for_s < op.end <= t:
            samples.append(latency_ms(op) or 0.0)
        elif op.start <= t and (op.end is None or op.end > t):
            samples.append((t - op.start) * 1000.0)
    return samples


def _down_trip(down: ComponentDown, ops: list[Op], since: float, now: float) -> Trip | None:
    trips = [trip for f in _probed(down, ops) if (trip := _down_run(down, f, ops, since, now)) is not None]
    return min(trips, key=lambda trip: trip.when, default=None)


def _probed(down: ComponentDown, ops: list[Op]) -> list[str]:
    if down.component != ANY_COMPONENT:
        return [HEALTH + down.component]
    names = {op.f for op in ops if op.f.startswith(HEALTH)}
    return sorted(f for f in names if f.removeprefix(HEALTH) not in down.expected_down)


def _down_run(down: ComponentDown, f: str, ops: list[Op], since: float, now: float) -> Trip | None:
    """The first failed probe of `f` that ends a run of failures (no ok probe between) spanning for_s."""
    probes = sorted((op for op in ops if op.f == f and op.start >= since and op.end is not None and op.end <= now),
                    key=lambda op: op.start)
    first_failed: Op | None = None
    failed = 0
    for probe in probes:
        if probe.outcome == "ok":
            first_failed, failed = None, 0
            continue
        first_failed = first_failed or probe
        failed += 1
        if probe.start - first_failed.start >= down.for_s:
            span = probe.start - first_failed.start
            return Trip(down, probe.end or probe.start,
                        f"{f.removeprefix(HEALTH)} failed {failed} probes in a row over {span:.1f} s "
                        f"(from +{first_failed.start - since:.1f} s)")
    return None
