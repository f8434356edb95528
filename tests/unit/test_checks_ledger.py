"""checks.ledger on literal histories and literal database rows: each finding shown failing, and passing."""

from __future__ import annotations

from checks.ledger import (RPO_RESOLUTION_S, LedgerWrite, Reconciliation, StoredOrder, intent_of, ledger_users,
                           reconcile, recovery_point_age, writes)
from load.history import Op
from tests.helpers.histories import call, history, hung
from tests.helpers.ledger import checkout, stored


def run(ops: list[Op], rows: list[StoredOrder], failure_at: float = 10.0) -> Reconciliation:
    return reconcile(writes(ops), rows, failure_at=failure_at)


def test_a_clean_run_has_no_finding() -> None:
    ops = history(checkout(1.0, "k1", order="o1"), checkout(2.0, "k2", order="o2", status="pending_payment"))
    found = run(ops, [stored("o1", "k1"), stored("o2", "k2", status="paid")])  # pending, then reconciled
    assert (found.judged, found.lost, found.phantoms, found.duplicates, found.charged_twice) == (2, (), (), {}, {})
    assert (found.mismatched, found.failed_but_happened, found.rpo_s) == ((), (), 0.0)


def test_an_acknowledged_order_missing_is_lost_and_its_age_at_the_failure_is_the_rpo() -> None:
    ops = history(checkout(1.0, "k1", order="o1"), checkout(4.0, "k2", order="o2"), checkout(12.0, "k3", order="o3"))
    found = run(ops, [stored("o2", "k2")], failure_at=10.0)
    assert [i for i, _ in found.lost] == ["o1", "o3"]
    assert found.rpo_s == 10.0 - 1.1  # o1 was acknowledged at 1.1, 8.9 s before the failure
    assert [i for i, _ in found.exposure] == ["o3"]  # acknowledged after the failure
    assert round(found.exposure_s, 3) == 2.1


def test_one_lost_order_is_not_an_rpo_of_zero() -> None:
    found = run(history(checkout(9.9, "k1", order="o1", latency=100.0)), [], failure_at=10.0)
    assert found.rpo_s == RPO_RESOLUTION_S


def test_a_refused_checkout_the_database_holds_happened_and_its_retry_is_a_duplicate() -> None:
    """Finding 1 of the audit: a checkout answered as refused after the order committed; the shopper's next
    attempt (a new key) is a second order for the same cart, and a second charge."""
    ops = history(checkout(1.0, "L1/1", "fail", items={"42": 1}), checkout(2.0, "L1/2", order="o2", items={"42": 1}))
    found = run(ops, [stored("o1", "L1/1"), stored("o2", "L1/2")])
    assert found.failed_but_happened == ("L1/1",)
    assert found.duplicates == {"L1": ("o1", "o2")}


def test_a_refused_attempt_retried_under_its_own_key_is_not_a_finding() -> None:
    ops = history(checkout(1.0, "k1", "fail"), checkout(2.0, "k1", order="o1"))  # 401, then after a new login
    assert run(ops, [stored("o1", "k1")]).failed_but_happened == ()


def test_an_order_under_a_key_nobody_sent_is_a_phantom() -> None:
    ops = history(checkout(1.0, "k1", order="o1"))
    found = run(ops, [stored("o1", "k1"), stored("o9", "server-made-key")])
    assert found.phantoms == ("o9",)


def test_an_order_charged_twice() -> None:
    found = run(history(checkout(1.0, "k1", order="o1")), [stored("o1", "k1", charges=2)])
    assert found.charged_twice == {"o1": 2}


def test_orders_stored_otherwise_than_answered_or_asked() -> None:
    ops = history(checkout(1.0, "a", order="oa", status="paid"),
                  checkout(2.0, "b", order="ob", total=1000),
                  checkout(3.0, "c", order="oc", items={"42": 2}),
                  checkout(4.0, "d", order="od"),
                  checkout(5.0, "e", order="oe", status="pending_payment"))
    rows = [stored("oa", "a", status="pending_payment"), stored("ob", "b", total=1500, items_total=1500),
            stored("oc", "c", items={42: 1}), stored("od", "d", items_total=900),
            stored("oe", "e", status="payment_failed")]
    problems = dict(run(ops, rows).mismatched)
    assert set(problems) == {"oa", "ob", "oc", "od", "oe"}
    assert "stored pending_payment" in problems["oa"] and "total 1000" in problems["ob"]
    assert "items" in problems["oc"] and "sum of its items" in problems["od"]


def test_unknown_writes_are_resolved_by_looking_them_up_never_counted_against_the_platform() -> None:
    ops = history(checkout(1.0, "k1", "info"), checkout(2.0, "k2", "info"),
                  hung("checkout", 3.0, {"idempotency_key": "k3", "user_id": 7}))
    found = run(ops, [stored("o1", "k1"), stored("o3", "k3")])
    assert (found.unknown_happened, found.unknown_did_not_happen) == (2, 1)
    assert (found.lost, found.phantoms, found.failed_but_happened) == ((), (), ())


def test_a_declined_payment_names_an_order_that_exists() -> None:
    ops = history(checkout(1.0, "k1", "fail", order="o1", status="payment_failed"))
    found = run(ops, [stored("o1", "k1", status="payment_failed", charges=0)])
    assert (found.judged, found.failed_but_happened, found.mismatched) == (1, (), ())


def test_writes_and_users_come_from_the_history() -> None:
    ops = history(checkout(1.0, "k1", order="o1", user=3), call("browse", 1.5),
                  call("login", 2.0, value={"user_id": 5}), call("login", 2.5, "fail", value={"user_id": 6}))
    assert [w.key for w in writes(ops)] == ["k1"]
    assert isinstance(writes(ops)[0], LedgerWrite)
    assert ledger_users(ops) == {3, 5}


def test_intents() -> None:
    assert intent_of("L0a1b/3") == "L0a1b" and intent_of("8f0c-uuid") == "8f0c-uuid"


def test_the_summary_is_short() -> None:
    ops = history([checkout(float(i), f"k{i}", order=f"o{i}") for i in range(20)])
    summary = run(ops, []).summary()
    assert summary["lost"] == 20 and len(summary["examples"]["lost"]) == 5


def test_acknowledgements_after_the_cut_are_not_judged() -> None:
    """The database read at 5.0 cannot hold an order acknowledged at 6.1; a write invoked before the history
    was read (and after the cut) is still one somebody sent: no phantom."""
    ops = history(checkout(1.0, "k1", order="o1"), checkout(6.0, "k2", order="o2"))
    found = reconcile(writes(ops), [stored("o1", "k1")], failure_at=3.0, cut_at=5.0)
    assert (found.judged, found.lost, found.phantoms) == (1, (), ())
    with_late = reconcile(writes(ops), [stored("o1", "k1"), stored("o2", "k2")], failure_at=3.0, cut_at=5.0)
    assert with_late.phantoms == ()


def test_rpo_is_the_age_at_the_failure_of_the_oldest_lost_acknowledged_write() -> None:
    rpo = recovery_point_age([1.5, 8.0])  # o1 and o7 lost, acknowledged at 1.5 and 8.0
    assert rpo(10.0) == 8.5   # o1, acknowledged 8.5 s before the failure
    assert rpo(5.0) == 3.5    # o7 came after a failure at 5: not in the RPO
    assert rpo(1.0) == 0.0    # both after the failure: its exposure, not its RPO
    assert recovery_point_age([])(100.0) == 0.0


def test_one_lost_write_is_an_rpo_above_zero_even_when_it_was_the_last() -> None:
    """The old span definition read 0 here: one lost order, no span."""
    assert recovery_point_age([1.5])(1.5) == RPO_RESOLUTION_S  # acknowledged at the failure itself
    assert recovery_point_age([1.5])(4.0) == 2.5
