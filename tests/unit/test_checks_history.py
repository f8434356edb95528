"""Literal-history helpers for the checker tests (after Jepsen's invoke-op / ok-op / fail-op / info-op),
and tests that they build the history the checkers will see.

Times are monotonic seconds; the wall clock is the same instant shifted by WALL0.
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


def _flatten(records: Records) -> Iterable[Record]:
    if isinstance(records, Record):
        yield records
    else:
        for item in records:
            yield from _flatten(item)


def history(*records: Records) -> list[Op]:
    """Pair the records (given in any order, nested lists flattened) into ops, as the checkers see them."""
    return pair_ops(sorted(_flatten(records), key=lambda r: r.mono))


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


# ---- the helpers themselves ----------------------------------------------------------------------

def test_call_pairs_into_one_op_with_its_outcome_latency_and_value() -> None:
    [op] = history(call("checkout", 3.0, "fail", latency=250.0, value={"order_id": 7}))
    assert (op.f, op.start, op.end, op.outcome, op.latency_ms) == ("checkout", 3.0, 3.25, "fail", 250.0)
    assert op.start_time == WALL0 + 3.0
    assert op.value == {"order_id": 7}


def test_an_invoke_with_no_completion_reads_as_info_that_never_ended() -> None:
    [op] = history(invoke("a", "checkout", 1.0, {"idempotency_key": "k1"}))
    assert (op.outcome, op.end, op.latency_ms) == ("info", None, None)
    assert op.value == {"idempotency_key": "k1"}  # what it asked for, so it can be looked up afterwards


def test_a_paired_op_has_the_invokes_value_updated_by_the_completions() -> None:
    [op] = history(call("checkout", 1.0, value={"order_id": "o1", "status": "paid"},
                        asks={"idempotency_key": "k1", "status": "asked"}))
    assert op.value == {"idempotency_key": "k1", "order_id": "o1", "status": "paid"}


def test_history_orders_ops_by_invocation_whatever_the_record_order() -> None:
    ops = history(ok("b", "x", 2.5), ok("a", "x", 1.5), invoke("b", "x", 2.0), invoke("a", "x", 1.0))
    assert [op.id for op in ops] == ["a", "b"]


def test_every_is_exact_on_binary_fractions() -> None:
    assert every(10.0, 12.0, 0.5) == [10.0, 10.5, 11.0, 11.5]
