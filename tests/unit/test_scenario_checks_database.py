"""The checks of 1.2 (connection-pool exhaustion) and 7.1 (slow database cascade) on literal histories."""

from __future__ import annotations

from types import SimpleNamespace

from scenarios.test_pool_exhaustion import exhaustion_bit, services_not_restarted
from scenarios.parts.lock_cascade import (lock_bit_checkout, statements_not_multiplied,
                                                  unlocked_endpoints_stayed_up)
from tests.helpers.histories import call, calls, every
from tests.helpers.runs import FakeRun, FakeStack, answer, timeline

# -- 1.2 ---------------------------------------------------------------------------------------------------------


def test_exhaustion_bit_the_load_fails() -> None:
    """A fault that never reached the shoppers (the holders took no slot the pools needed)."""
    quiet = [calls("browse", every(10.0, 25.0, 0.5)), answer("browse", 5.0, "fail", status=503)]  # before it
    assert not exhaustion_bit(FakeRun(quiet)).passed
    bit = exhaustion_bit(FakeRun([quiet, answer("checkout", 12.0, "fail", status=503),
                                  answer("browse", 13.0, "info", error="ReadTimeout")]))
    assert bit.passed and bit.measured == 2 and bit.detail == "1 of them answered 503"


def test_services_came_back_without_a_restart_fails() -> None:
    """A recovery that restarted a service (the runbook's step 2) instead of letting its pool reconnect."""
    check = services_not_restarted({"commerce": 101, "payment": 102})
    assert check(FakeRun(stack=FakeStack({"postgres": 7, "commerce": 101, "payment": 102}))).passed
    restarted = check(FakeRun(stack=FakeStack({"postgres": 8, "commerce": 201, "payment": 102})))
    assert not restarted.passed and restarted.measured == {"commerce": (101, 201)}


# -- 7.1 ---------------------------------------------------------------------------------------------------------


def test_lock_bit_checkout_fails() -> None:
    """A lock that no checkout ran into (the blocker locked rows checkout does not need)."""
    fine = [calls("checkout", every(10.0, 25.0, 1.0)), calls("health:checkout", every(10.0, 25.0, 1.0)),
            call("checkout", 5.0, "fail")]
    assert not lock_bit_checkout(FakeRun(fine)).passed
    assert lock_bit_checkout(FakeRun([fine, call("health:checkout", 12.5, "fail")])).passed  # a synthetic one


def test_unlocked_endpoints_stayed_up_fails() -> None:
    """The blast radius spread: endpoints that do not touch the locked rows failed too (a shared pool drained)."""
    browse = calls("browse", every(10.0, 25.0, 0.5))
    assert unlocked_endpoints_stayed_up(FakeRun([browse, calls("checkout", every(10.0, 25.0, 1.0), "fail")])).passed
    spread = unlocked_endpoints_stayed_up(FakeRun([browse, calls("search", every(10.0, 13.0, 0.5), "fail")]))
    assert not spread.passed and spread.measured == 0.8333
    assert not unlocked_endpoints_stayed_up(FakeRun(calls("checkout", [12.0]))).passed  # nothing to judge


def sampler(statements: int) -> SimpleNamespace:
    """The QueueSampler's findings: `statements` distinct (pid, query_start) seen waiting on the lock."""
    return SimpleNamespace(waiting_statements={(4000 + n, 12.0 + n / 10) for n in range(statements)},
                           lock_waiters=[min(statements, 3)] * 4, pool_waiting=[0, 2, 1])


def test_lock_waits_at_most_one_per_checkout_sent_fails() -> None:
    """Retries inside the request: three statements queued on the lock for each checkout sent."""
    sent = FakeRun([calls("checkout", [11.0, 14.0]), calls("health:checkout", [16.0]), call("checkout", 40.0)])
    assert statements_not_multiplied(sent, sampler(3)).passed
    assert not statements_not_multiplied(FakeRun(calls("checkout", [11.0])), sampler(3)).passed
    outside = FakeRun(calls("checkout", [13.0]), timeline=timeline(landed=12.5))  # waits before the landing:
    assert statements_not_multiplied(outside, sampler(3)).passed  # not this lock's
    multiplied = statements_not_multiplied(sent, sampler(9))
    assert not multiplied.passed and (multiplied.measured, multiplied.target) == (9, "<= 3 (checkouts sent)")
    assert sent.measured["commerce_pool_requests_waiting_max"]["value"] == 2  # shown beside, not judged
    assert not statements_not_multiplied(FakeRun(call("browse", 12.0)), sampler(0)).passed  # no checkout sent


def test_commerce_not_restarted_fails() -> None:
    """A cascade "contained" by restarting commerce (the runbook's steps 3-5) rather than by its timeouts."""
    from scenarios.parts.lock_cascade import commerce_not_restarted

    assert commerce_not_restarted(FakeRun(stack=FakeStack({"commerce": 101})), 101).passed
    assert not commerce_not_restarted(FakeRun(stack=FakeStack({"commerce": 202})), 101).passed
    assert not commerce_not_restarted(FakeRun(stack=FakeStack({"commerce": None})), 101).passed
