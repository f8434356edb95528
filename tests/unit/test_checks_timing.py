"""checks.timing on literal histories: MTTD, restored_at / RTO, steady_before, hangs.

The reference outage: load ("checkout") every 0.5 s from t=0, probes ("health:commerce") every 1 s at whole
seconds; the fault lands at t=10, load succeeds again from `load_back`, probes are green again from
`green_from`. Restoration is only ever declared at a health probe's invocation time: with load back at 17.5
and probes green from 18, the stack reads restored at 18.0.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from checks.timing import SteadyState, mttd, never_hung, restored_at, rto, steady_before
from checks.windows import Window
from load.history import Op, Outcome, Record
from tests.helpers.histories import call, calls, every, history, hung

STEADY = SteadyState(threshold=0.95, hold_s=5.0, min_ops=5)


def outage(load_back: float = 17.5, green_from: float | None = 18.0, end: float = 40.0,
           load: Callable[[float], Outcome] | None = None, skip: frozenset[float] = frozenset()) -> list[Record]:
    def load_outcome(t: float) -> Outcome:
        return "ok" if t < 10 or t >= load_back else "fail"

    def probe_outcome(t: float) -> Outcome:
        return "ok" if t < 10 or (green_from is not None and t >= green_from) else "fail"

    outcome = load or load_outcome
    records = [r for t in every(0.0, end, 0.5) if t not in skip for r in call("checkout", t, outcome(t))]
    return records + [r for t in every(0.0, end, 1.0) for r in call("health:commerce", t, probe_outcome(t))]


# ---- MTTD ----------------------------------------------------------------------------------------


def test_mttd() -> None:
    assert mttd(10.0, 12.5) == 2.5
    assert mttd(10.0, 10.0) == 0.0
    assert mttd(10.0, None) is None
    with pytest.raises(ValueError):
        mttd(10.0, 9.0)


# ---- restored_at and RTO -------------------------------------------------------------------------


def test_restored_when_load_comes_back_and_probes_are_green() -> None:
    ops = history(outage(load_back=17.5, green_from=18.0))
    assert restored_at(ops, after=10.0, steady=STEADY) == 18.0  # the first green probe; probe 17 is red
    assert rto(10.0, ops, STEADY) == 8.0
    probed = history(outage(load_back=17.5, green_from=18.0), call("health:commerce", 17.5))
    assert restored_at(probed, after=10.0, steady=STEADY) == 17.5  # a green probe as the load comes back
    assert rto(10.0, probed, STEADY) == 7.5


def test_restoration_waits_for_the_probes() -> None:
    ops = history(outage(load_back=17.5, green_from=19.0))
    assert restored_at(ops, after=10.0, steady=STEADY) == 19.0  # load fine from 17.5, probe 18 still red


def test_a_flap_shorter_than_hold_is_not_a_restoration() -> None:
    def flapping(t: float) -> Outcome:
        return "ok" if t < 10 or 17.5 <= t < 19.5 or t >= 22 else "fail"

    ops = history(outage(load=flapping, green_from=10.0), call("health:commerce", 17.5))
    assert restored_at(ops, after=10.0, steady=STEADY) == 22.0  # [17.5, 22.5) holds the fails 19.5 .. 21.5
    short_hold = SteadyState(threshold=0.95, hold_s=2.0, min_ops=4)
    assert restored_at(ops, after=10.0, steady=short_hold) == 17.5  # the hold is what rejected the flap


def test_red_probes_with_fine_load_is_not_restored() -> None:
    ops = history(outage(load_back=11.0, green_from=None))
    assert restored_at(ops, after=10.0, steady=STEADY) is None
    assert rto(10.0, ops, STEADY) is None


def test_no_ops_after_the_fault_is_never_restored() -> None:
    assert restored_at(history(outage(end=10.0)), after=10.0, steady=STEADY) is None
    assert restored_at([], after=10.0, steady=STEADY) is None


def test_a_window_past_the_end_of_the_history_is_not_evidence() -> None:
    # the steady window [18, 23) needs an op invoked at 23.0 or later to be closed
    assert restored_at(history(outage(end=23.0)), after=10.0, steady=STEADY) is None  # last op at 22.5
    assert restored_at(history(outage(end=23.5)), after=10.0, steady=STEADY) == 18.0  # last op at 23.0


def test_an_op_that_never_completed_counts_as_info() -> None:
    ops = history(outage(skip=frozenset({18.0})), hung("checkout", 18.0))
    # the window from the probe at 18 holds 9 ok of 10 = 0.9 < 0.95
    assert restored_at(ops, after=10.0, steady=STEADY) == 19.0
    # without that op at all, [18, 23) holds 9 ok of 9
    assert restored_at(history(outage(skip=frozenset({18.0}))), after=10.0, steady=STEADY) == 18.0


def test_too_few_ops_is_not_steady() -> None:
    ops = history(outage())
    assert restored_at(ops, after=10.0, steady=SteadyState(min_ops=11)) is None  # 10 load ops per 5 s
    assert restored_at(ops, after=10.0, steady=SteadyState(min_ops=10)) == 18.0


def test_the_threshold_is_inclusive() -> None:
    ops = history(outage(load_back=17.5, green_from=17.0))
    assert restored_at(ops, after=10.0, steady=SteadyState(threshold=0.9)) == 17.0  # 9 of 10
    assert restored_at(ops, after=10.0, steady=SteadyState(threshold=0.91)) == 18.0  # next probe: 10 of 10


def test_after_is_a_candidate_only_when_a_probe_is_invoked_then() -> None:
    ops = history(outage())
    # [17.3, 22.3) would be steady (load 17.5 .. 22.0, probes 18 .. 22), but no probe was invoked at 17.3
    assert restored_at(ops, after=17.3, steady=STEADY) == 18.0
    assert restored_at(ops, after=2.5, steady=STEADY) == 3.0  # steady since 0, first probe at or after 2.5
    assert restored_at(ops, after=2.0, steady=STEADY) == 2.0  # a probe at exactly `after`
    probed = history(outage(), call("health:commerce", 17.3))
    assert restored_at(probed, after=17.3, steady=STEADY) == 17.3  # a probe at exactly `after`
    assert restored_at(probed, after=17.4, steady=STEADY) == 18.0  # a probe before `after` is not one


def test_restoration_waits_for_a_green_probe_even_when_load_is_back_earlier() -> None:
    # the fault lands at 10; load (every 0.1 s) fails at 10.0 and 10.1 and is fine from 10.2; the probe at
    # 10.0 is red, the next one, at 10.5, green
    load = [round(i / 10, 1) for i in range(50, 200)]
    ops = history([call("checkout", t, "fail" if 10.0 <= t < 10.2 else "ok") for t in load],
                  call("health:commerce", 9.5), call("health:commerce", 10.0, "fail"),
                  calls("health:commerce", every(10.5, 20.0, 1.0)))
    strict = SteadyState(threshold=1.0, hold_s=5.0, min_ops=5)
    assert not steady_before(ops, before=15.1, steady=strict)  # [10.1, 15.1) holds the fail at 10.1
    assert steady_before(ops, before=15.2, steady=strict)  # [10.2, 15.2) was already steady ...
    assert restored_at(ops, after=10.0, steady=strict) == 10.5  # ... but no probe saw it before 10.5
    assert rto(10.0, ops, strict) == 0.5


def test_a_component_last_seen_down_is_not_restored_by_another_probe() -> None:
    # 3.1 as it ran: core_platform's probe at 10.05 fails (killed), the fault is seen to land at 10.1, the
    # gateway's probe at 10.1 is green, core_platform is restarted and its next probe, at 10.6, is green.
    # Every probe invoked in [10.1, 15.1) is green, but at 10.1 core_platform was last seen down.
    load = [round(i / 10, 1) for i in range(50, 250)]
    ops = history([call("checkout", t) for t in load],
                  calls("health:core_platform", every(5.05, 10.0, 0.5)), call("health:core_platform", 10.05, "fail"),
                  calls("health:core_platform", every(10.6, 25.0, 0.5)),
                  calls("health:api_gateway", every(5.1, 25.0, 0.5)))
    assert restored_at(ops, after=10.1, steady=STEADY) == 10.6  # not 10.1, a millisecond after the landing
    assert rto(10.0, ops, STEADY, after=10.1) == pytest.approx(0.6)


def test_rto_of_a_fault_that_bites_late_searches_from_after() -> None:
    def late(t: float) -> Outcome:
        return "fail" if 16 <= t < 20 else "ok"

    ops = history(outage(load=late, green_from=10.0))
    assert rto(10.0, ops, STEADY) == 0.0  # probe 10 opens a steady window: the fault had not bitten
    assert rto(10.0, ops, STEADY, after=16.0) == 10.0  # restored at 20
    assert rto(10.0, ops, STEADY, after=3.0) == 0.0  # never searched before the injection


def test_steady_state_filters_load_by_name() -> None:
    ops = history(outage(), calls("browse", every(10.0, 40.0, 0.5), "fail"))
    assert restored_at(ops, after=10.0, steady=STEADY) is None  # browse is load too
    assert restored_at(ops, after=10.0, steady=SteadyState(fs={"checkout"})) == 18.0


def test_steady_state_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        SteadyState(threshold=1.5)
    with pytest.raises(ValueError):
        SteadyState(hold_s=0.0)
    with pytest.raises(ValueError):
        SteadyState(min_ops=-1)


# ---- steady_before -------------------------------------------------------------------------------


def test_steady_before() -> None:
    ops = history(outage())
    assert steady_before(ops, before=10.0, steady=STEADY)  # [5, 10): all green
    assert not steady_before(ops, before=10.5, steady=STEADY)  # holds the failure at 10.0
    assert not steady_before(ops, before=12.0, steady=STEADY)
    assert not steady_before(ops, before=10.0, steady=SteadyState(min_ops=11))
    assert steady_before(ops, before=3.0, steady=STEADY)  # 6 load ops (0.0 .. 2.5) and 3 probes, all ok
    assert not steady_before(ops, before=2.0, steady=STEADY)  # 4 load ops < min_ops


def test_not_steady_before_with_a_red_probe_or_no_probe() -> None:
    red = history(outage(), call("health:commerce", 7.5, "fail"))
    assert not steady_before(red, before=10.0, steady=STEADY)
    unprobed = history(calls("checkout", every(0.0, 10.0, 0.5)))
    assert not steady_before(unprobed, before=10.0, steady=STEADY)


# ---- properties against a direct reading of the definition ---------------------------------------


def reference_restored_at(ops: list[Op], after: float, steady: SteadyState) -> float | None:
    """restored_at read literally off its docstring, quadratically."""
    if not ops:
        return None
    last = max(op.start for op in ops)
    for t in sorted({op.start for op in ops if steady.is_health(op) and op.start >= after}):
        if t + steady.hold_s > last:
            return None
        window = [op for op in ops if t <= op.start < t + steady.hold_s]
        load = [op for op in window if steady.is_load(op)]
        probes = [op for op in window if steady.is_health(op)]
        rate_ok = bool(load) and sum(op.outcome == "ok" for op in load) / len(load) >= steady.threshold
        if len(load) >= steady.min_ops and rate_ok and probes and all(op.outcome == "ok" for op in probes):
            return t
    return None


def random_history(rng: random.Random) -> list[Op]:
    records: list[Record] = []
    for _ in range(rng.randint(0, 60)):
        f = rng.choice(["checkout", "checkout", "browse", "health:commerce", "probe:db"])
        t = rng.randint(0, 120) / 4  # a coarse grid: ties and boundary hits on purpose
        if rng.random() < 0.05:
            records += hung(f, t)
        else:
            outcome: Outcome = rng.choice(["ok", "ok", "ok", "ok", "fail", "info"])
            records += call(f, t, outcome, latency=rng.choice([1.0, 100.0, 3000.0]))
    return history(records)


def test_restored_at_matches_the_definition_on_random_histories() -> None:
    rng = random.Random(1234)
    restored = 0
    for _ in range(400):
        ops = random_history(rng)
        steady = SteadyState(threshold=rng.choice([0.5, 0.75, 1.0]), hold_s=rng.choice([1.0, 2.5, 5.0]),
                             min_ops=rng.choice([0, 1, 3]))
        after = rng.randint(0, 100) / 4
        got = restored_at(ops, after=after, steady=steady)
        assert got == reference_restored_at(ops, after, steady)
        if got is not None:
            restored += 1
            assert got >= after
            assert any(steady.is_health(op) and op.start == got for op in ops)  # declared by a probe
            assert steady_before(ops, before=got + steady.hold_s, steady=steady)
    assert restored > 20  # the property was exercised, not vacuous


# ---- never_hung ----------------------------------------------------------------------------------


def test_never_hung_names_slow_and_unfinished_ops() -> None:
    ops = history(call("checkout", 1.0, latency=500.0), call("checkout", 2.0, latency=1000.0),
                  call("checkout", 3.0, "fail", latency=1500.0), hung("checkout", 5.0),
                  call("checkout", 6.0, "info", latency=2000.0), call("health:commerce", 7.0, latency=5000.0),
                  call("checkout", 10.0, latency=5000.0), hung("checkout", 11.0))
    offenders = never_hung(ops, Window("fault", 0.0, 10.0), 1000.0)
    assert [(op.start, op.outcome, op.end is None) for op in offenders] == [
        (3.0, "fail", False), (5.0, "info", True), (6.0, "info", False)]
    assert [op.start for op in never_hung(ops, Window("fault", 0.0, 10.0), 1000.0,
                                          fs={"health:commerce"})] == [7.0]
    assert never_hung(ops, Window("quiet", 0.0, 2.5), 1000.0) == []
