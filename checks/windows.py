"""Windows of a history: what the load saw between two instants.

All times are monotonic seconds (`Op.start`/`Op.end`, the `mono` of the records). A window is half-open,
[start, end), and an op belongs to a window when it was *invoked* in it (`start <= op.start < end`),
whatever happened to it afterwards.

Which ops count. `fs` names the operations to look at. With `fs=None` every op counts except probes, whose
`f` starts with "health:" or "probe:" (they measure the stack, not the shoppers); a probe counts only when
its name is listed in `fs` explicitly.

Outcomes. `ok` succeeded, `fail` certainly did not happen, `info` is unknown (a timeout, a dropped
connection, or an invoke that never completed: `pair_ops` reads those as `info`). Success rates divide `ok`
by all three: an answer we could not interpret is not a success.

Latency of an op: its recorded `latency_ms`, or else `(end - start) * 1000` when it completed; an op that
never completed has no latency (it is counted in `info`, and in `checks.timing.never_hung`).

Percentiles are NEAREST-RANK: the p-th percentile of n values is the value of rank ceil(p/100 * n) in
ascending order (rank 1 for p = 0). It is always one of the observed latencies, never an interpolation:
of [10, 20, ..., 100] ms, p50 is 50, p95 and p99 are 100.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from load.history import Op

PROBE_PREFIXES: tuple[str, ...] = ("health:", "probe:")


@dataclass(frozen=True)
class Window:
    """A named half-open interval [start, end) of monotonic seconds."""

    name: str
    start: float
    end: float

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"window {self.name!r} ends ({self.end}) before it starts ({self.start})")

    @property
    def duration(self) -> float:
        return self.end - self.start

    def __contains__(self, t: float) -> bool:
        return self.start <= t < self.end


@dataclass(frozen=True)
class WindowStats:
    """What the selected ops invoked in one window did.

    total = ok + fail + info; success_rate = ok / total (None when total == 0). The latency figures are
    nearest-rank percentiles and the maximum over the ops of the window that have a latency (every completed
    one: ok, fail and info alike); None when there are none. throughput_per_s = ok / window duration
    (None for a zero-length window).
    """

    name: str
    start: float
    end: float
    total: int
    ok: int
    fail: int
    info: int
    success_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_latency_ms: float | None
    throughput_per_s: float | None


@dataclass(frozen=True)
class Bucket:
    """One slice [start, end) of a timeline, for plots."""

    start: float
    end: float
    ok: int
    fail: int
    info: int
    success_rate: float | None
    p95_ms: float | None

    @property
    def total(self) -> int:
        return self.ok + self.fail + self.info


def is_probe(f: str) -> bool:
    return f.startswith(PROBE_PREFIXES)


def selected(op: Op, fs: Collection[str] | None) -> bool:
    """Whether `op` counts under `fs`: listed in it, or, with fs=None, not a probe."""
    return op.f in fs if fs is not None else not is_probe(op.f)


def latency_ms(op: Op) -> float | None:
    """The recorded latency; else the monotonic duration if the op completed; else None."""
    if op.latency_ms is not None:
        return op.latency_ms
    if op.end is not None:
        return (op.end - op.start) * 1000.0
    return None


def percentile(values: Iterable[float], p: float) -> float | None:
    """Nearest-rank percentile (see the module docstring); None for no values. 0 <= p <= 100."""
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} outside [0, 100]")
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(Fraction(str(p)) * len(ordered) / 100))
    return ordered[rank - 1]


def in_window(ops: Iterable[Op], start: float, end: float, fs: Collection[str] | None = None) -> list[Op]:
    """The selected ops invoked in [start, end), in the order given."""
    return [op for op in ops if start <= op.start < end and selected(op, fs)]


def success_rate(ops: Sequence[Op]) -> float | None:
    """ok / (ok + fail + info); None for no ops."""
    if not ops:
        return None
    return sum(op.outcome == "ok" for op in ops) / len(ops)


def _latencies(ops: Iterable[Op]) -> list[float]:
    return [lat for lat in map(latency_ms, ops) if lat is not None]


def window_stats(ops: Sequence[Op], window: Window, *, fs: Collection[str] | None = None) -> WindowStats:
    """Counts, success rate, latency percentiles and throughput of the selected ops invoked in `window`."""
    chosen = in_window(ops, window.start, window.end, fs)
    ok = sum(op.outcome == "ok" for op in chosen)
    fail = sum(op.outcome == "fail" for op in chosen)
    latencies = _latencies(chosen)
    return WindowStats(
        name=window.name, start=window.start, end=window.end,
        total=len(chosen), ok=ok, fail=fail, info=len(chosen) - ok - fail,
        success_rate=success_rate(chosen),
        p50_ms=percentile(latencies, 50), p95_ms=percentile(latencies, 95), p99_ms=percentile(latencies, 99),
        max_latency_ms=max(latencies, default=None),
        throughput_per_s=ok / window.duration if window.duration > 0 else None,
    )


def phase_windows(first: float, injected: float, restored: float | None, last: float) -> list[Window]:
    """The phases of a run: baseline [first, injected), fault [injected, restored) and recovery
    [restored, last); without a restoration the fault lasts to `last` and there is no recovery window.

    `last` is exclusive: to include the last op, pass a time just after its invocation (or the run's end).
    """
    fault_end = last if restored is None else restored
    if not first <= injected <= fault_end <= last:
        raise ValueError(f"phases out of order: first={first} injected={injected} "
                         f"restored={restored} last={last}")
    phases = [Window("baseline", first, injected), Window("fault", injected, fault_end)]
    if restored is not None:
        phases.append(Window("recovery", restored, last))
    return phases


def timeline(ops: Sequence[Op], start: float, end: float, bucket_s: float = 1.0,
             fs: Collection[str] | None = None) -> list[Bucket]:
    """Consecutive buckets [start + i*bucket_s, start + (i+1)*bucket_s) covering [start, end); the last
    one is cut at `end`. Each holds the selected ops invoked in it (success rate and p95 as above)."""
    if bucket_s <= 0:
        raise ValueError(f"bucket_s must be positive, got {bucket_s}")
    if end < start:
        raise ValueError(f"timeline ends ({end}) before it starts ({start})")
    chosen = sorted(in_window(ops, start, end, fs), key=lambda op: op.start)
    starts = [op.start for op in chosen]
    if end == start:
        return []
    inner = (start + i * bucket_s for i in range(1, math.ceil((end - start) / bucket_s)))
    edges = [start, *(edge for edge in inner if edge < end), end]
    buckets: list[Bucket] = []
    for lo, hi in zip(edges, edges[1:]):
        part = chosen[bisect_left(starts, lo):bisect_left(starts, hi)]
        ok = sum(op.outcome == "ok" for op in part)
        fail = sum(op.outcome == "fail" for op in part)
        buckets.append(Bucket(lo, hi, ok, fail, len(part) - ok - fail, success_rate(part),
                              percentile(_latencies(part), 95)))
    return buckets
