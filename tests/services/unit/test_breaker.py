"""Unit tests for stack.services.common.breaker: no servers, no real sleeps (a fake monotonic clock)."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from stack.services.common.breaker import BreakerState, CircuitBreaker, CircuitOpenError

# A realistic time.time() value: far past the constant 30 the runbook's sketch compares against.
EPOCH_NOW = 1_700_000_000.0


class FakeClock:
    def __init__(self, start: float = EPOCH_NOW) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class YieldingClock(FakeClock):
    """A fake clock that yields the GIL on every read (time.sleep(0) does not wait): it widens any
    unlocked read-clock-then-act window enough for a race to show up."""

    def __call__(self) -> float:
        time.sleep(0)
        return self.now


class Boom(ConnectionError):
    pass


class Recorder:
    """An on_state_change callback that records every transition."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, BreakerState, BreakerState]] = []

    def __call__(self, name: str, old: BreakerState, new: BreakerState) -> None:
        self.calls.append((name, old, new))


@pytest.fixture
def eager_thread_switching() -> Iterator[None]:
    """Make the interpreter switch threads very often, so unlocked check-then-act races show up."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def make(clock: FakeClock, **kwargs: object) -> CircuitBreaker:
    options: dict[str, object] = {
        "failure_threshold": 3,
        "recovery_timeout_s": 5.0,
        "errors": (ConnectionError,),
        "clock": clock,
    }
    options.update(kwargs)
    return CircuitBreaker("redis", **options)  # type: ignore[arg-type]


def fail() -> None:
    raise Boom("connection refused")


def trip(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.failure_threshold):
        with pytest.raises(Boom):
            breaker.call(fail)
    assert breaker.state is BreakerState.OPEN


def test_opens_after_exactly_threshold_consecutive_failures() -> None:
    breaker = make(FakeClock(), failure_threshold=3)
    for expected in (1, 2):
        with pytest.raises(Boom):
            breaker.call(fail)
        assert breaker.state is BreakerState.CLOSED
        assert breaker.snapshot()["consecutive_failures"] == expected
    with pytest.raises(Boom):  # the threshold-th failure itself is re-raised, not short-circuited
        breaker.call(fail)
    assert breaker.state is BreakerState.OPEN


def test_open_short_circuits_without_calling_the_operation_until_the_timeout() -> None:
    """Regression test for the runbook sketch, which compared time.time() with the constant 30."""
    clock = FakeClock(EPOCH_NOW)
    assert time.time() > 30 and clock() > 30
    breaker = make(clock, recovery_timeout_s=5.0)
    trip(breaker)
    calls = 0

    def operation() -> str:
        nonlocal calls
        calls += 1
        return "ok"

    for step in (0.0, 1.0, 2.0, 1.999):  # up to 4.999 s after opening
        clock.advance(step)
        with pytest.raises(CircuitOpenError) as info:
            breaker.call(operation)
        assert info.value.name == "redis"
        assert info.value.retry_after_s == pytest.approx(5.0 - (clock.now - EPOCH_NOW))
        assert breaker.state is BreakerState.OPEN
    assert calls == 0
    assert breaker.snapshot()["total_short_circuits"] == 4

    clock.advance(0.001)  # exactly recovery_timeout_s after opening
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.call(operation) == "ok"
    assert calls == 1
    assert breaker.state is BreakerState.CLOSED


def test_stays_open_with_the_real_monotonic_clock() -> None:
    breaker = CircuitBreaker("payment", failure_threshold=1, recovery_timeout_s=3600.0)
    with pytest.raises(Boom):
        breaker.call(fail)
    called: list[int] = []
    for _ in range(3):
        with pytest.raises(CircuitOpenError):
            breaker.call(lambda: called.append(1))
    assert called == []
    assert breaker.state is BreakerState.OPEN


def test_half_open_allows_one_trial() -> None:
    clock = FakeClock()
    breaker = make(clock)
    trip(breaker)
    clock.advance(5.0)
    assert breaker.state is BreakerState.HALF_OPEN
    inner: list[BaseException] = []

    def trial() -> str:
        # While this trial is in flight, any other call is short-circuited.
        with pytest.raises(CircuitOpenError) as info:
            breaker.call(lambda: "second trial must not run")
        inner.append(info.value)
        return "trial ok"

    assert breaker.call(trial) == "trial ok"
    assert len(inner) == 1
    assert inner[0].retry_after_s == 0.0


def test_trial_success_closes_and_resets() -> None:
    clock = FakeClock()
    breaker = make(clock)
    trip(breaker)
    clock.advance(5.0)
    assert breaker.call(lambda: 42) == 42
    assert breaker.state is BreakerState.CLOSED
    snap = breaker.snapshot()
    assert snap["consecutive_failures"] == 0
    assert snap["opened_for_s"] is None
    # fully closed again: it takes a full threshold of new failures to re-open
    for _ in range(2):
        with pytest.raises(Boom):
            breaker.call(fail)
    assert breaker.state is BreakerState.CLOSED


def test_trial_failure_reopens_with_a_fresh_timer() -> None:
    clock = FakeClock()
    breaker = make(clock, recovery_timeout_s=5.0)
    trip(breaker)  # opened at EPOCH_NOW
    clock.advance(5.0)
    with pytest.raises(Boom):
        breaker.call(fail)  # the trial fails at EPOCH_NOW + 5
    assert breaker.state is BreakerState.OPEN
    assert breaker.snapshot()["opened_for_s"] == 0.0

    clock.advance(4.9)  # 9.9 s after the first opening: the old timer would have expired long ago
    with pytest.raises(CircuitOpenError) as info:
        breaker.call(lambda: None)
    assert info.value.retry_after_s == pytest.approx(0.1)
    assert breaker.state is BreakerState.OPEN

    clock.advance(0.1)
    assert breaker.state is BreakerState.HALF_OPEN


def test_unlisted_exceptions_propagate_without_counting() -> None:
    breaker = make(FakeClock(), failure_threshold=3, errors=(ConnectionError,))
    fallback_calls: list[BaseException] = []

    def bug() -> None:
        raise ValueError("a bug, not an outage")

    for _ in range(10):
        with pytest.raises(ValueError):
            breaker.call(bug, fallback=fallback_calls.append)
    assert fallback_calls == []
    assert breaker.state is BreakerState.CLOSED
    assert breaker.snapshot()["total_failures"] == 0

    # ...and they do not reset the consecutive count either
    for _ in range(2):
        with pytest.raises(Boom):
            breaker.call(fail)
    with pytest.raises(ValueError):
        breaker.call(bug)
    assert breaker.snapshot()["consecutive_failures"] == 2
    with pytest.raises(Boom):
        breaker.call(fail)
    assert breaker.state is BreakerState.OPEN


def test_unlisted_exception_in_a_trial_gives_the_slot_back() -> None:
    clock = FakeClock()
    breaker = make(clock)
    trip(breaker)
    clock.advance(5.0)
    with pytest.raises(KeyError):
        breaker.call(lambda: {}["missing"])
    assert breaker.state is BreakerState.HALF_OPEN  # neither a success nor a failure
    assert breaker.call(lambda: "next trial runs") == "next trial runs"
    assert breaker.state is BreakerState.CLOSED


def test_outcomes_of_calls_admitted_before_a_transition_do_not_drive_the_state() -> None:
    """A slow call that started while closed and ends after the breaker opened must neither close it
    (success) nor restart its timer (failure)."""
    clock = FakeClock()
    breaker = make(clock, failure_threshold=3)

    def slow_success() -> str:
        trip(breaker)  # meanwhile, other callers trip the breaker
        clock.advance(1.0)
        return "late ok"

    assert breaker.call(slow_success) == "late ok"
    assert breaker.state is BreakerState.OPEN
    assert breaker.snapshot()["consecutive_failures"] == 3

    breaker.reset()

    def slow_failure() -> None:
        trip(breaker)  # opened at EPOCH_NOW + 1
        clock.advance(4.0)
        raise Boom("late failure")

    with pytest.raises(Boom):
        breaker.call(slow_failure)
    assert breaker.snapshot()["total_failures"] == 7  # still counted in the totals...
    assert breaker.snapshot()["opened_for_s"] == 4.0  # ...but the timer was not restarted
    clock.advance(1.0)
    assert breaker.state is BreakerState.HALF_OPEN


def test_fallback_receives_the_error() -> None:
    clock = FakeClock()
    breaker = make(clock, failure_threshold=2)
    seen: list[BaseException] = []

    def fallback(exc: BaseException) -> str:
        seen.append(exc)
        return "cached"

    error = Boom("down")

    def failing() -> str:
        raise error

    assert breaker.call(failing, fallback=fallback) == "cached"
    assert seen == [error]  # the very exception, in the closed state
    assert breaker.call(failing, fallback=fallback) == "cached"
    assert breaker.state is BreakerState.OPEN

    assert breaker.call(lambda: "never runs", fallback=fallback) == "cached"
    assert isinstance(seen[-1], CircuitOpenError)
    assert seen[-1].name == "redis"
    assert seen[-1].retry_after_s == pytest.approx(5.0)
    assert "circuit" in str(seen[-1])


def test_success_in_closed_resets_the_consecutive_count() -> None:
    breaker = make(FakeClock(), failure_threshold=3)
    for _ in range(5):
        for _ in range(2):
            with pytest.raises(Boom):
                breaker.call(fail)
        assert breaker.call(lambda: "ok") == "ok"
        assert breaker.snapshot()["consecutive_failures"] == 0
    assert breaker.state is BreakerState.CLOSED
    assert breaker.snapshot()["total_failures"] == 10


@pytest.mark.parametrize("max_calls", [1, 3])
@pytest.mark.usefixtures("eager_thread_switching")
def test_concurrent_callers_in_half_open_beyond_the_trial_budget_are_short_circuited(max_calls: int) -> None:
    clock = YieldingClock()
    recorder = Recorder()
    breaker = make(clock, half_open_max_calls=max_calls, on_state_change=recorder)
    trip(breaker)
    clock.advance(5.0)  # the OPEN -> HALF_OPEN transition is left to the racing callers to observe

    threads = 20
    start = threading.Barrier(threads)
    release = threading.Event()
    lock = threading.Lock()
    ran = 0
    short_circuited = 0
    all_short_circuits_done = threading.Event()

    def operation() -> str:
        nonlocal ran
        with lock:
            ran += 1
        # hold the trial slot until every other caller has been answered
        assert release.wait(timeout=10)
        return "trial"

    def worker() -> str:
        nonlocal short_circuited
        start.wait(timeout=10)
        try:
            return breaker.call(operation)
        except CircuitOpenError:
            with lock:
                short_circuited += 1
                if short_circuited == threads - max_calls:
                    all_short_circuits_done.set()
            return "short-circuited"

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(worker) for _ in range(threads)]
        assert all_short_circuits_done.wait(timeout=10)
        release.set()
        results = [f.result(timeout=10) for f in futures]

    assert ran == max_calls
    assert results.count("trial") == max_calls
    assert results.count("short-circuited") == threads - max_calls
    assert breaker.state is BreakerState.CLOSED
    assert breaker.snapshot()["total_short_circuits"] == (threads - max_calls)
    c, o, h = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
    assert recorder.calls == [("redis", c, o), ("redis", o, h), ("redis", h, c)]


@pytest.mark.usefixtures("eager_thread_switching")
def test_concurrent_failures_are_all_counted_and_open_exactly_once() -> None:
    recorder = Recorder()
    breaker = make(FakeClock(), failure_threshold=1000, on_state_change=recorder)
    start = threading.Barrier(20)

    def worker() -> None:
        start.wait(timeout=10)
        for _ in range(50):
            with pytest.raises(Boom):
                breaker.call(fail)

    with ThreadPoolExecutor(max_workers=20) as pool:
        for future in [pool.submit(worker) for _ in range(20)]:
            future.result(timeout=30)
    snap = breaker.snapshot()
    assert snap["total_failures"] == 1000
    assert snap["consecutive_failures"] == 1000
    assert snap["state"] == "open"
    assert recorder.calls == [("redis", BreakerState.CLOSED, BreakerState.OPEN)]


def test_on_state_change_is_called_with_each_transition(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    recorder = Recorder()
    breaker = make(clock, on_state_change=recorder)
    caplog.set_level(logging.WARNING, logger="aarya.breaker")

    trip(breaker)  # closed -> open
    clock.advance(5.0)
    with pytest.raises(Boom):
        breaker.call(fail)  # open -> half_open (observed by the call), half_open -> open
    clock.advance(5.0)
    breaker.call(lambda: None)  # open -> half_open -> closed
    trip(breaker)  # closed -> open
    breaker.reset()  # open -> closed

    c, o, h = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
    expected = [(c, o), (o, h), (h, o), (o, h), (h, c), (c, o), (o, c)]
    assert recorder.calls == [("redis", old, new) for old, new in expected]

    records = [r for r in caplog.records if r.name == "aarya.breaker"]
    assert len(records) == len(expected)
    for record, (old, new) in zip(records, expected):
        message = record.getMessage()
        assert record.levelno == logging.WARNING
        assert "circuit" in message and "'redis'" in message
        assert f"{old.value} -> {new.value}" in message
        assert (record.breaker, record.old_state, record.new_state) == ("redis", old.value, new.value)  # type: ignore[attr-defined]
        if new is BreakerState.OPEN:  # the runbook's detection greps for "circuit" and "error"
            assert "error" in message.lower()


def test_a_broken_or_reentrant_callback_does_not_break_the_breaker() -> None:
    clock = FakeClock()
    observed: list[BreakerState] = []

    def callback(name: str, old: BreakerState, new: BreakerState) -> None:
        observed.append(breaker.state)  # re-enters the breaker: must not deadlock
        raise RuntimeError("buggy metrics hook")

    breaker = make(clock, failure_threshold=1, on_state_change=callback)
    with pytest.raises(Boom):
        breaker.call(fail)
    assert observed == [BreakerState.OPEN]
    clock.advance(5.0)
    assert breaker.call(lambda: "ok") == "ok"
    assert breaker.state is BreakerState.CLOSED
    assert observed == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_snapshot_fields() -> None:
    clock = FakeClock()
    breaker = make(clock, failure_threshold=2)
    assert breaker.snapshot() == {
        "name": "redis",
        "state": "closed",
        "consecutive_failures": 0,
        "opened_for_s": None,
        "total_short_circuits": 0,
        "total_failures": 0,
    }
    trip(breaker)
    clock.advance(1.5)
    with pytest.raises(CircuitOpenError):
        breaker.call(lambda: None)
    assert breaker.snapshot() == {
        "name": "redis",
        "state": "open",
        "consecutive_failures": 2,
        "opened_for_s": 1.5,
        "total_short_circuits": 1,
        "total_failures": 2,
    }
    clock.advance(3.5)
    snap = breaker.snapshot()
    assert snap["state"] == "half_open"
    assert snap["opened_for_s"] == 5.0


def test_reset_closes_but_keeps_lifetime_totals() -> None:
    breaker = make(FakeClock(), failure_threshold=2)
    trip(breaker)
    breaker.reset()
    snap = breaker.snapshot()
    assert snap["state"] == "closed"
    assert snap["consecutive_failures"] == 0
    assert snap["opened_for_s"] is None
    assert snap["total_failures"] == 2
    assert breaker.call(lambda: "ok") == "ok"


def test_state_is_a_str_enum() -> None:
    assert BreakerState.HALF_OPEN == "half_open"
    assert BreakerState("open") is BreakerState.OPEN


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"recovery_timeout_s": -1.0},
        {"half_open_max_calls": 0},
        {"errors": ()},
        {"errors": (int,)},
    ],
)
def test_invalid_configuration_is_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker("x", **kwargs)  # type: ignore[arg-type]
