"""The checks of 5.2 (network partition) on literal histories of the load and of the witness client."""

from __future__ import annotations

from typing import Any

from scenarios.test_network_partition import (Budgets, Witness, answers_within, checkout_degraded_to_pending,
                                              load_answers_within, witness_answers_within)
from tests.helpers.histories import call, calls, every, hung
from tests.helpers.runs import FakeRun, answer

BUDGETS = Budgets(request_s=5.5, checkout_s=7.15)  # what Budgets.reference() gives the reference stack
PENDING = {"order_id": "o1", "status": "pending_payment"}


def witness(*extra: Any) -> FakeRun:
    """Two of each witness request answered within their budgets during the fault, plus `extra`."""
    seen = [answer(Witness.CHECKOUT, t, status=202, latency=2100.0, value=PENDING) for t in (11.0, 14.0)]
    seen += [answer(Witness.SEARCH, t, "fail", status=503, latency=300.0) for t in (11.5, 12.0)]
    seen += [answer(Witness.READY, t, "fail", status=503, latency=200.0, value={"service": "payment"})
             for t in (11.2, 12.2)]
    return FakeRun([seen, *extra])


def claims(run: FakeRun) -> dict[str, Any]:
    return {c.name: c for c in witness_answers_within(run, BUDGETS)}


def test_witness_saw_the_fault_fails() -> None:
    """The witness stopped before it saw the partition (two of each request are its evidence)."""
    assert all(c.passed for c in claims(witness()).values())
    few = FakeRun([answer(Witness.CHECKOUT, t, status=202, value=PENDING) for t in (5.0, 11.0, 14.0)]
                  + [answer(Witness.SEARCH, 12.0, status=503), answer(Witness.READY, 8.0, status=503)])
    saw = claims(few)["witness_saw_the_fault"]
    assert not saw.passed and saw.measured == {Witness.CHECKOUT: 2, Witness.SEARCH: 1, Witness.READY: 0}


def test_no_checkout_hung_fails() -> None:
    """A checkout held past its budget: commerce waits 3 x 30 s for a payment service that is cut off."""
    held = claims(witness(answer(Witness.CHECKOUT, 16.0, status=202, latency=15000.0, value=PENDING)))
    assert not held["no_checkout_hung"].passed and held["no_search_hung"].passed


def test_no_search_hung_fails() -> None:
    """A search that hung on a black-holed link (no client deadline): never answered, or a 504 after 10 s."""
    assert answers_within(witness(), "no_search_hung", {Witness.SEARCH}, 5.5).passed
    hung_search = answers_within(witness(hung(Witness.SEARCH, 13.0),
                                         answer(Witness.SEARCH, 14.0, "fail", status=504, latency=10000.0)),
                                 "no_search_hung", {Witness.SEARCH}, 5.5)
    assert not hung_search.passed and hung_search.measured == 2 and "never completed" in hung_search.detail


def test_no_readiness_probe_hung_fails() -> None:
    """A readiness call of an isolated service that never answered."""
    stuck = claims(witness(answer(Witness.READY, 13.0, "info", latency=15000.0, value={"service": "payment"})))
    assert not stuck["no_readiness_probe_hung"].passed and "(payment)" in stuck["no_readiness_probe_hung"].detail


def test_no_load_request_hung_fails() -> None:
    """A load request that ran into locust's own timeout during the fault (its checkouts are not judged)."""
    load = [calls("browse", every(10.0, 25.0, 1.0)), call("checkout", 12.0, "info", latency=5000.0),
            call("health:payment", 12.0, "fail", latency=9000.0)]
    assert load_answers_within(FakeRun(load), BUDGETS).passed
    slow = load_answers_within(FakeRun([load, call("search", 13.0, "info", latency=5000.5)]), BUDGETS)
    assert not slow.passed and slow.detail.startswith("bound 5.0 s")


def test_checkout_took_orders_as_pending_payment_fails() -> None:
    """Checkout refused the order (400) while payment was cut off, instead of taking it as pending payment."""
    assert checkout_degraded_to_pending(witness()).passed
    refused = checkout_degraded_to_pending(witness(answer(Witness.CHECKOUT, 15.0, "fail", status=400)))
    assert not refused.passed and (400, None) in refused.measured
    assert not checkout_degraded_to_pending(FakeRun()).passed  # no checkout answered: no evidence
