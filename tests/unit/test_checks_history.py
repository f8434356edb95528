"""The literal-history builders of tests/helpers/histories.py (after Jepsen's invoke-op / ok-op / fail-op /
info-op): they build the history the checkers will see."""

from __future__ import annotations

from tests.helpers.histories import WALL0, call, every, history, invoke, ok


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
