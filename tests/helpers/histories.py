"""Literal-history builders for the checker tests (after Jepsen's invoke-op / ok-op / fail-op / info-op).

Times are monotonic seconds; the wall clock is the same instant shifted by WALL0. tests/unit/test_checks_history.py
shows they build the history the checkers will see.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from load.history import Op, Outcome, Record, pair_ops

WALL0 = 1_700_000_000.0


def invoke(id: str, f: str, t: float, asks: Mapping[str, Any] | None = None) -> Record:
    return Record("invoke", f, WALL0 + t, t, id=id, process="w1", value=asks)


def _complete(kind: Outcome, id: str, f: str, t: float, latency: float | None,
              value: Mapping[str, Any] | None) -> Record:
    return Record(kind, f, WALL0 + t, t, id=id, process="w1", latency_ms=latency, value=value)


def ok(id: str, f: str, t: float, latency: float | None = None, value: Mapping[str, Any] | None = None) -> Record:
    return _complete("ok", id, f, t, latency, value)


def fail(id: str, f: str, t: float, latency: float | None = None, value: Mapping[str, Any] | None = None) -> Record:
    return _complete("fail", id, f, t, latency, value)


def info(id: str, f: str, t: float, latency: float | None = None, value: Mapping[str, Any] | None = None) -> Record:
    return _complete("info", id, f, t, latency, value)


Records = Record | Iterable["Records"]


def flatten(records: Records) -> list[Record]:
    """The records, nested lists flattened, in the order given."""
    if isinstance(records, Record):
        return [records]
    return [record for item in records for record in flatten(item)]


def history(*records: Records) -> list[Op]:
    """Pair the records (given in any order, nested lists flattened) into ops, as the checkers see them."""
    return pair_ops(sorted(flatten(records), key=lambda r: r.mono))


_seq = iter(range(1, 10**9))


def call(f: str, t: float, outcome: Outcome = "ok", latency: float = 10.0,
         value: Mapping[str, Any] | None = None, asks: Mapping[str, Any] | None = None) -> list[Record]:
    """An op invoked at t (asking `asks`) that completes `latency` ms later with `outcome` (and `value`)."""
    op_id = f"op-{next(_seq)}"
    done = {"ok": ok, "fail": fail, "info": info}[outcome]
    return [invoke(op_id, f, t, asks), done(op_id, f, t + latency / 1000, latency, value)]


def calls(f: str, times: Iterable[float], outcome: Outcome = "ok", latency: float = 10.0) -> list[Record]:
    return [record for t in times for record in call(f, t, outcome, latency)]


def hung(f: str, t: float, asks: Mapping[str, Any] | None = None) -> list[Record]:
    """An op invoked at t that never completed."""
    return [invoke(f"hung-{next(_seq)}", f, t, asks)]


def every(start: float, stop: float, step: float) -> list[float]:
    """start, start + step, ... < stop (step a power of two fraction keeps these exact)."""
    count = round((stop - start) / step)
    return [start + i * step for i in range(count) if start + i * step < stop]
