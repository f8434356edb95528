"""The checks of 2.1 (Redis OOM) on literal eviction accounts and histories, and of 4.1 (stream backlog) on
literal event accounts."""

from __future__ import annotations

from typing import Any

from fixtures.event_ledger import OrderEvents
from fixtures.faults.cache import EvictionLoss
from fixtures.diagnose.streams import Accounting
from scenarios.test_redis_oom import (eviction_took_non_essential, no_lockout_evicted, no_shopper_logged_out,
                                      no_stream_evicted, policy_kept_sessions)
from scenarios.test_stream_backlog import none_lost, order_events_processed, orders_during_the_fault
from tests.helpers.histories import calls, every
from tests.helpers.ledger import checkout
from tests.helpers.runs import FakeRun, answer

# -- 2.1 ---------------------------------------------------------------------------------------------------------


def loss(**changes: Any) -> EvictionLoss:
    """Eviction that took 120 cache keys and left 500 bulk keys to take: what volatile-ttl should do."""
    base: dict[str, Any] = {"evicted_total": 120, "by_namespace": {"cache:bulk": 100, "cache": 20}, "complete": True,
                            "sessions_lost": [], "carts_lost": [], "bulk_remaining": 500, "essential_before": 40,
                            "gone_not_evicted": 0}
    return EvictionLoss(**{**base, **changes})


def test_policy_kept_sessions_and_carts_fails() -> None:
    """An eviction policy that may take any key (allkeys-lru) took sessions and carts."""
    assert policy_kept_sessions(loss(), loss()).passed
    lru = policy_kept_sessions(loss(sessions_lost=["session:a"], carts_lost=["cart:7", "cart:8"]), loss())
    assert not lru.passed and lru.measured == {"sessions": 1, "carts": 2}
    unaccounted = policy_kept_sessions(loss(complete=False), loss())  # notifications missed some evictions
    assert not unaccounted.passed and "do not account for every eviction" in unaccounted.detail


def test_eviction_took_non_essential_data_with_some_left_fails() -> None:
    """A fill that never made Redis choose: nothing evicted, or nothing non-essential left to evict."""
    assert eviction_took_non_essential(loss()).passed
    assert not eviction_took_non_essential(loss(bulk_remaining=0)).passed
    assert not eviction_took_non_essential(loss(evicted_total=0, by_namespace={})).passed


def test_no_stream_evicted_fails() -> None:
    """A stream evicted (a policy that may take keys without a TTL): its unconsumed events and group gone."""
    assert no_stream_evicted(loss()).passed
    assert not no_stream_evicted(loss(by_namespace={"cache": 20, "stream": 1})).passed


def test_no_login_lockout_counter_evicted_fails() -> None:
    """A lockout counter evicted with the cache (its window no longer than a cache TTL): a lockout reset."""
    assert no_lockout_evicted(loss()).passed
    evicted = no_lockout_evicted(loss(by_namespace={"cache": 20, "ratelimit": 3}))
    assert not evicted.passed and evicted.measured == 3


def test_no_shopper_logged_out_fails() -> None:
    """A shopper answered 401 after the injection: the session was evicted."""
    before = [calls("view_cart", every(0.0, 30.0, 1.0)), answer("login", 5.0, "fail", status=401)]
    assert no_shopper_logged_out(FakeRun(before)).passed  # a 401 before the fault is not the fault's
    logged_out = no_shopper_logged_out(FakeRun([before, answer("view_cart", 14.0, "fail", status=401)]))
    assert not logged_out.passed and logged_out.measured == 1


# -- 4.1 ---------------------------------------------------------------------------------------------------------


def test_every_event_consumed_or_archived_fails() -> None:
    """Events acknowledged by XADD that no consumer processed and the compactor never archived (trimmed)."""
    assert none_lost(Accounting(100, 92, 8, {}, {("analytics_events", "1-0"): 2})).passed  # duplicates: shown
    trimmed = none_lost(Accounting(100, 90, 8, {"analytics_events": ["5-0", "5-1"]}, {}))
    assert not trimmed.passed and trimmed.measured == 2 and "5-0" in trimmed.detail
    assert not none_lost(Accounting(0, 0, 0, {}, {})).passed  # nothing produced: no evidence
    assert not none_lost(None).passed


def test_every_acknowledged_orders_event_processed_fails() -> None:
    """An acknowledged order whose order_placed event nobody processed (published to a stream nobody reads)."""
    assert order_events_processed(OrderEvents(5, 5, ())).passed
    missing = order_events_processed(OrderEvents(5, 4, ("o3",)))
    assert not missing.passed and missing.measured == 1
    assert not order_events_processed(OrderEvents(0, 0, ())).passed  # no order during the fault: no evidence


def test_orders_during_the_fault_are_those_acknowledged_between_injection_and_restoration() -> None:
    """What the order-events check is asked about: acknowledged in [injection, restored]."""
    run = FakeRun([checkout(5.0, "k1", order="o1"), checkout(12.0, "k2", order="o2"),
                   checkout(15.0, "k3", "fail"), checkout(24.95, "k4", order="o4"), checkout(26.0, "k5", order="o5")])
    assert orders_during_the_fault(run) == ["o2"]  # o4 was answered after the restoration (25.0)


def test_checkout_failed_while_the_disk_was_full_fails() -> None:
    """A "full" disk the shop did not notice: the fill missed the filesystem PostgreSQL writes to."""
    from scenarios.test_disk_exhaustion import checkout_failed_while_full

    assert checkout_failed_while_full(503).passed and checkout_failed_while_full("ReadTimeout").passed
    assert not checkout_failed_while_full(201).passed
