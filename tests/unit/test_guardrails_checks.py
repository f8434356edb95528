"""checks.guardrails on literal histories: each guardrail where it trips, where it does not, and its edges.

The reference run: load ("checkout") every 0.25 s from t=0, each answered 10 ms later; probes
("health:commerce", "health:postgres") every 0.5 s; the fault is injected at t=10. Outcomes during the fault
are what each test says.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from checks.guardrails import (ANY_COMPONENT, ComponentDown, LatencyCeiling, SuccessFloor, first_trip,
                               suite_defaults)
from load.history import Op, Outcome, Record
from tests.helpers.histories import call, every, history, hung

INJECTED = 10.0
END = 30.0


def load(outcome: Callable[[float], Outcome] = lambda t: "ok", latency: Callable[[float], float] = lambda t: 10.0,
         end: float = END) -> list[Record]:
    return [r for t in every(0.0, end, 0.25) for r in call("checkout", t, outcome(t), latency(t))]


def probes(component: str, outcome: Callable[[float], Outcome] = lambda t: "ok", end: float = END) -> list[Record]:
    return [r for t in every(0.0, end, 0.5) for r in call(f"health:{component}", t, outcome(t), 5.0)]


def failing(start: float, stop: float, every_nth: int = 1) -> Callable[[float], Outcome]:
    """fail in [start, stop) (each `every_nth` op of it: 2 fails one in two), ok elsewhere."""
    def outcome(t: float) -> Outcome:
        return "fail" if start <= t < stop and round(t * 4) % every_nth == 0 else "ok"
    return outcome


def run(*records: list[Record]) -> list[Op]:
    return history(*records, probes("commerce"), probes("postgres"))


# ---- success floor -----------------------------------------------------------------------------------


def test_the_success_floor_trips_once_the_window_after_the_injection_is_below_it() -> None:
    ops = run(load(failing(10.0, 30.0, every_nth=2)))  # half the load fails from the injection on
    trip = first_trip(ops, [SuccessFloor(0.95, 2.0)], INJECTED, END)
    assert trip is not None
    assert trip.when == pytest.approx(12.0)  # never in the first for_s: the window lies after the injection
    assert trip.measured == "50% of 8 load ops succeeded (4 ok)"
    assert trip.text(INJECTED) == ("success floor 95% over 2 s tripped at +2.0 s after the injection: "
                                   "50% of 8 load ops succeeded (4 ok)")


def test_a_healthy_run_trips_nothing() -> None:
    ops = run(load())
    guardrails = [SuccessFloor(0.95, 2.0), LatencyCeiling(100.0, 2.0), ComponentDown(ANY_COMPONENT, 2.0)]
    assert first_trip(ops, guardrails, INJECTED, END) is None


def test_exactly_at_the_floor_does_not_trip() -> None:
    ops = run(load(failing(10.0, 30.0, every_nth=2)))
    assert first_trip(ops, [SuccessFloor(0.5, 2.0)], INJECTED, END) is None  # 50 % is not below 50 %
    assert first_trip(ops, [SuccessFloor(0.51, 2.0)], INJECTED, END) is not None


def test_a_dip_shorter_than_the_window_that_keeps_the_rate_above_the_floor_does_not_trip() -> None:
    ops = run(load(failing(15.0, 15.75)))  # 3 of the window's 8 ops fail: 62 % at worst
    assert first_trip(ops, [SuccessFloor(0.6, 2.0)], INJECTED, END) is None
    tight = first_trip(ops, [SuccessFloor(0.7, 2.0)], INJECTED, END)
    assert tight is not None and tight.measured == "62% of 8 load ops succeeded (5 ok)"


def test_failures_before_the_injection_do_not_count() -> None:
    ops = run(load(failing(0.0, 10.0)))
    assert first_trip(ops, [SuccessFloor(0.95, 2.0)], INJECTED, END) is None


def test_unknown_outcomes_count_as_failures() -> None:
    ops = run(load(lambda t: "info" if t >= 10.0 else "ok"))
    trip = first_trip(ops, [SuccessFloor(0.5, 2.0)], INJECTED, END)
    assert trip is not None and trip.measured.startswith("0% of 8")


def test_too_few_ops_are_no_evidence() -> None:
    thin = [r for t in every(10.0, 30.0, 1.0) for r in call("checkout", t, "fail")]  # 2 ops per 2 s window
    assert first_trip(history(thin), [SuccessFloor(0.95, 2.0)], INJECTED, END) is None
    assert first_trip(history(thin), [SuccessFloor(0.95, 2.0, min_ops=2)], INJECTED, END) is not None


def test_nothing_is_judged_after_now() -> None:
    ops = run(load(failing(10.0, 30.0)))
    assert first_trip(ops, [SuccessFloor(0.95, 2.0)], INJECTED, now=11.9) is None  # the window is not full yet
    assert first_trip(ops, [SuccessFloor(0.95, 2.0)], INJECTED, now=12.0) is not None


def test_probes_are_not_load() -> None:
    ops = history(load(), probes("commerce", failing(10.0, 30.0)))
    assert first_trip(ops, [SuccessFloor(0.95, 2.0)], INJECTED, END) is None


# ---- latency ceiling ---------------------------------------------------------------------------------


def test_the_latency_ceiling_trips_on_slow_answers() -> None:
    ops = run(load(latency=lambda t: 900.0 if t >= 10.0 else 10.0))
    trip = first_trip(ops, [LatencyCeiling(500.0, 2.0)], INJECTED, END)
    assert trip is not None and trip.when == pytest.approx(12.0)
    assert trip.measured.startswith("p95 900 ms")
    assert first_trip(ops, [LatencyCeiling(900.0, 2.0)], INJECTED, END) is None  # at the ceiling is not above it


def test_hung_requests_trip_the_latency_ceiling_by_their_age() -> None:
    ops = history(load(end=10.0), [r for t in every(10.0, 12.0, 0.25) for r in hung("checkout", t)])
    trip = first_trip(ops, [LatencyCeiling(1000.0, 2.0)], INJECTED, now=15.0)
    assert trip is not None and 12.0 <= trip.when <= 15.0


def test_a_few_slow_answers_leave_the_p95_under_the_ceiling() -> None:
    ops = run(load(latency=lambda t: 900.0 if t in (12.0, 20.0) else 10.0))  # 1 in 8 of a window
    assert first_trip(ops, [LatencyCeiling(500.0, 2.0)], INJECTED, END) is not None
    ops = run(load(latency=lambda t: 900.0 if t in (12.0, 20.0) else 10.0, end=30.0),
              [r for t in every(10.0, 30.0, 0.05) for r in call("checkout", t + 0.01, "ok", 10.0)])
    assert first_trip(ops, [LatencyCeiling(500.0, 2.0)], INJECTED, END) is None  # 1 in 48: under the p95


# ---- a component down --------------------------------------------------------------------------------


def test_a_component_down_for_the_span_trips() -> None:
    ops = history(load(), probes("commerce", failing(10.0, 30.0)), probes("postgres"))
    trip = first_trip(ops, [ComponentDown("commerce", 5.0)], INJECTED, END)
    assert trip is not None and trip.when == pytest.approx(15.005)  # the probe invoked at 15.0, answered 5 ms later
    assert trip.measured == "commerce failed 11 probes in a row over 5.0 s (from +0.0 s)"
    assert first_trip(ops, [ComponentDown("postgres", 5.0)], INJECTED, END) is None


def test_an_outage_shorter_than_the_span_does_not_trip() -> None:
    def flapping(t: float) -> Outcome:
        return "ok" if t == 14.5 or t >= 19.5 or t < 10.0 else "fail"  # one ok probe between two outages

    ops = history(load(), probes("commerce", flapping))
    assert first_trip(ops, [ComponentDown("commerce", 5.0)], INJECTED, END) is None  # 4.5 s, then 4.5 s
    assert first_trip(ops, [ComponentDown("commerce", 4.0)], INJECTED, END) is not None


def test_any_component_but_the_expected_ones() -> None:
    ops = history(load(), probes("commerce", failing(10.0, 30.0)), probes("postgres"))
    any_down = ComponentDown(ANY_COMPONENT, 5.0)
    found = first_trip(ops, [any_down], INJECTED, END)
    assert found is not None and found.measured.startswith("commerce failed")
    assert first_trip(ops, [ComponentDown(ANY_COMPONENT, 5.0, frozenset({"commerce"}))], INJECTED, END) is None
    assert any_down.describe() == "any component down for 5 s"
    assert ComponentDown(ANY_COMPONENT, 5.0, frozenset({"commerce"})).describe() == "any component (but commerce) down for 5 s"


# ---- several guardrails, and the defaults ------------------------------------------------------------


def test_the_earliest_trip_wins() -> None:
    ops = history(load(failing(10.0, 30.0)), probes("commerce", failing(10.0, 30.0)))
    trip = first_trip(ops, [ComponentDown("commerce", 5.0), SuccessFloor(0.95, 2.0)], INJECTED, END)
    assert trip is not None and isinstance(trip.guardrail, SuccessFloor)


def test_the_suite_defaults_let_a_deliberate_outage_run_and_stop_a_stuck_one() -> None:
    outage = history(load(failing(10.0, 100.0), end=100.0), probes("commerce", failing(10.0, 100.0), end=100.0))
    assert first_trip(outage, suite_defaults(), INJECTED, now=45.0) is None  # 35 s of a broken shop: the fault's
    stuck = first_trip(outage, suite_defaults(), INJECTED, now=100.0)
    assert stuck is not None and stuck.when == pytest.approx(70.005)
    assert first_trip(outage, suite_defaults(expected_down={"commerce"}), INJECTED, now=100.0) is None
