"""checks.data on literal histories: acknowledged writes, losses and their span, duplicates, unknowns."""

from __future__ import annotations

from checks.data import (RPO_RESOLUTION_S, Loss, acknowledged, duplicates, lost_acknowledged_writes,
                         recovery_point_age, rpo_s, unknown_writes)
from load.history import Op
from tests.unit.test_checks_history import call, history, hung, invoke, ok


def orders() -> list[Op]:
    return history(
        call("checkout", 1.0, latency=500.0, value={"order_id": "o1"}),  # acknowledged at 1.5
        call("checkout", 2.0, latency=250.0, value={"order_id": 2}),  # an int id: acknowledged as "2"
        call("checkout", 3.0, "fail", value={"order_id": "o3"}),  # refused: never acknowledged
        call("checkout", 4.0, "info", value={"order_id": "o4"}),  # unknown: never acknowledged
        call("checkout", 5.0, value={}),  # ok without an id: skipped
        call("checkout", 5.5, value={"order_id": None}),  # ok with a null id: skipped
        call("register", 6.0, latency=250.0, value={"order_id": "not-an-order", "user_id": 9}),  # another f
        call("checkout", 7.0, latency=1000.0, value={"order_id": "o7"}),  # acknowledged at 8.0
        call("checkout", 9.0, latency=1000.0, value={"order_id": "o1"}),  # o1 again: keeps 1.5
        hung("checkout", 11.0),
    )


def test_acknowledged_maps_ids_of_ok_writes_to_their_completion() -> None:
    assert acknowledged(orders(), "checkout", "order_id") == {"o1": 1.5, "2": 2.25, "o7": 8.0}
    assert acknowledged(orders(), "register", "user_id") == {"9": 6.25}


def test_acknowledged_uses_the_monotonic_completion_not_the_wall_clock() -> None:
    ops = history(invoke("a", "checkout", 100.0), ok("a", "checkout", 102.0, 2000.0, {"order_id": "x"}))
    assert acknowledged(ops, "checkout", "order_id") == {"x": 102.0}


def test_lost_acknowledged_writes_with_their_span() -> None:
    acked = {"o1": 1.5, "2": 2.25, "o7": 8.0, "o9": 12.0}
    loss = lost_acknowledged_writes(acked, present={"2", "o9", "never-acknowledged"})
    assert loss == Loss(count=2, ids=("o1", "o7"), first_at=1.5, last_at=8.0, span_s=6.5)


def test_rpo_is_the_age_at_the_failure_of_the_oldest_lost_acknowledged_write() -> None:
    acked = {"o1": 1.5, "2": 2.25, "o7": 8.0, "o9": 12.0}
    loss = lost_acknowledged_writes(acked, present={"2", "o9"})
    assert rpo_s(acked, loss, failure_at=10.0) == 8.5   # o1, acknowledged 8.5 s before the failure
    assert rpo_s(acked, loss, failure_at=5.0) == 3.5    # o7 came after a failure at 5: not in the RPO
    assert rpo_s(acked, loss, failure_at=1.0) == 0.0    # both after the failure: its exposure, not its RPO


def test_one_lost_write_is_an_rpo_above_zero_even_when_it_was_the_last() -> None:
    """The old span definition read 0 here: one lost order, no span."""
    acked = {"o1": 1.5, "o2": 3.0}
    loss = lost_acknowledged_writes(acked, present=["o2"])
    assert loss.count == 1 and loss.span_s == 0.0
    assert rpo_s(acked, loss, failure_at=1.5) == RPO_RESOLUTION_S  # acknowledged at the failure itself
    assert rpo_s(acked, loss, failure_at=4.0) == 2.5


def test_nothing_lost() -> None:
    assert lost_acknowledged_writes({"o1": 1.5}, present={"o1"}) == Loss(0, (), None, None, 0.0)
    assert lost_acknowledged_writes({}, present=()) == Loss(0, (), None, None, 0.0)
    assert rpo_s({}, lost_acknowledged_writes({}, present=()), failure_at=3.0) == 0.0
    assert recovery_point_age([])(100.0) == 0.0


def test_lost_ids_are_sorted_whatever_the_acknowledgement_order() -> None:
    loss = lost_acknowledged_writes({"c": 1.0, "a": 3.0, "b": 2.0}, present=())
    assert (loss.ids, loss.first_at, loss.last_at, loss.span_s) == (("a", "b", "c"), 1.0, 3.0, 2.0)


def test_duplicates_only_keys_seen_more_than_once() -> None:
    assert duplicates(["o1", "o2", "o1", "o3", "o1", "o2"]) == {"o1": 3, "o2": 2}
    assert duplicates(["o1", "o2"]) == {}
    assert duplicates(iter([])) == {}


def test_unknown_writes_are_info_outcomes_including_never_completed() -> None:
    unknown = unknown_writes(orders(), "checkout")
    assert [(op.start, op.end is None) for op in unknown] == [(4.0, False), (11.0, True)]
    assert unknown_writes(orders(), "register") == []
