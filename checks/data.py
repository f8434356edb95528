"""Data claims over a history: acknowledged writes that were lost, duplicated, or left unknown.

A write is ACKNOWLEDGED when its op completed `ok`: the client was told it happened, so it must survive any
fault. A `fail` write certainly did not happen; an `info` write may or may not have (see `unknown_writes`):
neither may be counted as lost.

RPO (`rpo_s`), as a database engineer means it: the age, at the moment of failure, of the oldest
acknowledged write that was lost (its acknowledgement time to the failure), at least `RPO_RESOLUTION_S`
when anything acknowledged at or before the failure was lost, 0 only when nothing was. `checks.ledger`
reconciles whole runs with it; writes acknowledged after the failure and lost are its exposure window.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from load.history import Op


def acknowledged(ops: Iterable[Op], f: str, key: str) -> dict[str, float]:
    """The id `str(op.value[key])` of every ok op named `f`, mapped to its monotonic completion time
    (`op.end`). Ops whose value lacks the key (or holds None there) are skipped; an id acknowledged more
    than once keeps its earliest completion."""
    acked: dict[str, float] = {}
    for op in ops:
        if op.f != f or op.outcome != "ok" or op.value.get(key) is None:
            continue
        ident = str(op.value[key])
        at = op.end if op.end is not None else op.start
        acked[ident] = min(at, acked.get(ident, at))
    return acked


@dataclass(frozen=True)
class Loss:
    """Acknowledged writes missing afterwards: their ids (sorted), the first and last acknowledgement
    times among them (None when none was lost), and span_s = last_at - first_at (0 when count <= 1)."""

    count: int
    ids: tuple[str, ...]
    first_at: float | None
    last_at: float | None
    span_s: float


def lost_acknowledged_writes(acknowledged: Mapping[str, float], present: Collection[str]) -> Loss:
    """The acknowledged ids (mapped to their acknowledgement time) that are not in `present`."""
    found = set(present)
    lost = sorted(ident for ident in acknowledged if ident not in found)
    if not lost:
        return Loss(0, (), None, None, 0.0)
    times = [acknowledged[ident] for ident in lost]
    first, last = min(times), max(times)
    return Loss(len(lost), tuple(lost), first, last, last - first)


RPO_RESOLUTION_S = 0.001


def rpo_s(acknowledged: Mapping[str, float], loss: Loss, failure_at: float) -> float:
    """RPO in seconds at the failure moment `failure_at` (module docstring), of `loss` among `acknowledged`."""
    return recovery_point_age(acknowledged[ident] for ident in loss.ids)(failure_at)


def recovery_point_age(lost_acks: Iterable[float]) -> Callable[[float], float]:
    """Given the acknowledgement times of the lost writes: the RPO at a failure moment, i.e. the failure
    moment minus the oldest of them acknowledged at or before it (at least RPO_RESOLUTION_S); 0 when none."""
    times = sorted(lost_acks)

    def at(failure_at: float) -> float:
        if not times or times[0] > failure_at:
            return 0.0
        return max(failure_at - times[0], RPO_RESOLUTION_S)

    return at


def duplicates(keys: Iterable[str]) -> dict[str, int]:
    """The keys seen more than once, with how many times (e.g. an order created twice for one cart)."""
    return {key: count for key, count in Counter(keys).items() if count > 1}


def unknown_writes(ops: Sequence[Op], f: str) -> list[Op]:
    """The `info` ops named `f`: their effect may or may not exist, so they are neither acknowledged nor
    lost. The caller decides (look them up, or bound the claim by their number)."""
    return [op for op in ops if op.f == f and op.outcome == "info"]
