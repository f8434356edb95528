"""checks.standard on literal histories: each standard check failing where it must, passing where it may."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from checks.ledger import reconcile, writes
from checks.standard import (STANDARD, JudgedClaim, Limits, Timeline, RunFacts, baseline, detection,
                             fault_broke_steady_state, ledger_checks, recovery_judged_before_heal,
                             restored_after_recovery, standard_checks)
from checks.timing import SteadyState
from load.history import Op
from tests.helpers.histories import calls, every, history
from tests.helpers.ledger import checkout, stored

STEADY = SteadyState(threshold=0.95, hold_s=2.0, min_ops=3)
MOMENTS = Timeline(steady=9.0, injected=10.0, landed=10.1, detected=10.5, recovery_started=11.0, restored=14.0,
                  healed=20.0)


def outage(start: float = 10.0, end: float = 14.0) -> list[Op]:
    """Load every 0.25 s from 0 to 24 s, failing in [start, end); health probes every 0.5 s, failing too."""
    times = every(0.0, 24.0, 0.25)
    return history(calls("browse", [t for t in times if not start <= t < end]),
                   calls("browse", [t for t in times if start <= t < end], "fail"),
                   calls("health:commerce", [t for t in every(0.0, 24.0, 0.5) if not start <= t < end]),
                   calls("health:commerce", [t for t in every(0.0, 24.0, 0.5) if start <= t < end], "fail"))


def facts(ops: list[Op] | None = None, **kw: Any) -> RunFacts:
    base = RunFacts(moments=MOMENTS, ops=outage() if ops is None else ops, steady=STEADY,
                    limits=Limits(mttd_s=15.0, rto_s=60.0, min_writes_judged=None), detection_signal="pg_isready",
                    baseline_ops=60)
    return replace(base, **kw)


def test_detection_in_time_late_and_never() -> None:
    assert detection(facts()).passed and detection(facts()).name == "detected_within_mttd_target"
    late = detection(facts(moments=replace(MOMENTS, detected=40.0)))
    assert (late.name, late.passed, late.measured) == ("detected_within_mttd_target", False, 30.0)
    never = detection(facts(moments=replace(MOMENTS, detected=None)))
    assert (never.name, never.passed) == ("not_detected", False)
    assert "pg_isready never showed" in never.detail


def test_a_fault_that_changed_nothing_fails_broke_the_steady_state() -> None:
    assert fault_broke_steady_state(facts()).passed
    quiet = fault_broke_steady_state(facts(ops=outage(start=30.0, end=31.0)))
    assert not quiet.passed and "changed nothing" in quiet.detail


def test_load_below_its_threshold_also_breaks_the_steady_state() -> None:
    times = every(0.0, 24.0, 0.25)
    ops = history(calls("browse", [t for t in times if not 10.0 <= t < 12.0]),
                  calls("browse", [t for t in times if 10.0 <= t < 12.0], "fail"),
                  calls("health:commerce", every(0.0, 24.0, 0.5)))  # every probe green
    assert fault_broke_steady_state(facts(ops=ops)).passed


def test_restored_before_the_recovery_started_fails() -> None:
    assert restored_after_recovery(facts()).passed
    early = restored_after_recovery(facts(moments=replace(MOMENTS, restored=10.5)))
    assert not early.passed and "before the recovery started" in early.detail
    assert restored_after_recovery(facts(moments=replace(MOMENTS, restored=None))).passed  # RTO fails instead


def test_recovery_claims_judged_after_the_heal_fail() -> None:
    good = facts(recovery_claims=[JudgedClaim("checkout_works_after_recovery", 15.0)])
    assert recovery_judged_before_heal(good).passed
    late = recovery_judged_before_heal(facts(recovery_claims=[JudgedClaim("checkout_works_after_recovery", 21.0)]))
    assert not late.passed and late.measured == ["checkout_works_after_recovery"]
    early = recovery_judged_before_heal(facts(recovery_claims=[JudgedClaim("breaker_closed", 10.5)]))
    assert not early.passed
    after_heal = recovery_judged_before_heal(facts(moments=replace(MOMENTS, restored=25.0)))
    assert not after_heal.passed and after_heal.measured == ["restored"]


def test_a_thin_baseline_fails() -> None:
    assert baseline(facts()).passed
    thin = baseline(facts(baseline_ops=3))
    assert not thin.passed and thin.measured == 3
    assert not baseline(facts(baseline_ops=None)).passed


def test_ledger_checks_fail_on_each_finding() -> None:
    ops = history(checkout(1.0, "L1/1", "fail"), checkout(2.0, "L1/2", order="o2"), checkout(3.0, "k3", order="o3"))
    rows = [stored("o1", "L1/1", charges=2), stored("o2", "L1/2"), stored("o9", "nobody-sent-it")]
    found = reconcile(writes(ops), rows, failure_at=10.0)
    checks = {c.name: c for c in ledger_checks(facts(ledger=found, limits=Limits(min_writes_judged=10)))}
    assert {n for n, c in checks.items() if not c.passed} == {
        "no_lost_acknowledged_orders", "rpo_within_target", "no_duplicate_orders_for_one_intent",
        "no_order_charged_twice", "no_phantom_orders", "no_refused_write_happened", "enough_writes_judged"}
    assert checks["rpo_within_target"].measured == 6.9  # o3, acknowledged at 3.1, lost


def test_an_unreachable_database_fails_every_ledger_check_with_its_reason() -> None:
    checks = ledger_checks(facts(ledger=None, ledger_error="could not read the orders: OperationalError"))
    assert checks and all(not c.passed and "OperationalError" in c.detail for c in checks)


def test_standard_checks_honour_opt_outs_and_are_labelled() -> None:
    found = reconcile(writes(history(checkout(1.0, "k1", order="o1"))), [stored("o1", "k1")], failure_at=10.0)
    every_check = standard_checks(facts(ledger=found))
    assert all(c.judged == STANDARD for c in every_check)
    assert all(c.passed for c in every_check), [c for c in every_check if not c.passed]
    names = {c.name for c in standard_checks(facts(ledger=found, opt_outs={"fault_broke_the_steady_state": "why"}))}
    assert "fault_broke_the_steady_state" not in names and "restored_within_rto_target" in names


def test_a_rollback_may_drop_what_came_after_the_failure_never_what_came_before() -> None:
    ops = history(checkout(1.0, "k1", order="o1"), checkout(12.0, "k2", order="o2"))
    after_only = reconcile(writes(ops), [stored("o1", "k1")], failure_at=10.0)
    exposure = Limits(min_writes_judged=None, exposure_allowed=True)
    checks = {c.name: c for c in ledger_checks(facts(ledger=after_only, limits=exposure))}
    assert checks["no_lost_acknowledged_orders"].passed and checks["rpo_within_target"].passed
    assert not {c.name: c for c in ledger_checks(facts(ledger=after_only))}["no_lost_acknowledged_orders"].passed
    before_too = reconcile(writes(ops), [], failure_at=10.0)
    checks = {c.name: c for c in ledger_checks(facts(ledger=before_too, limits=exposure))}
    assert not checks["no_lost_acknowledged_orders"].passed and not checks["rpo_within_target"].passed
