"""Unit tests for stack.services.common.retry: no servers, no real sleeps (a fake sleep and clock)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import tenacity

from stack.services.common.breaker import BreakerState, CircuitBreaker, CircuitOpenError
from stack.services.common.retry import RetryPolicy, retry_call


class Transient(ConnectionError):
    pass


class FakeTime:
    """A monotonic clock plus a sleep that advances it instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    """Point tenacity's clock (used by stop_after_delay) at a fake one, and give tests a fake sleep."""
    fake = FakeTime()
    monkeypatch.setattr(tenacity, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


@pytest.fixture
def seeded_random() -> Iterator[None]:
    state = random.getstate()
    random.seed(20240601)
    yield
    random.setstate(state)


class Flaky:
    """Raises the given exceptions in turn, then returns 'ok'."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_success_first_time_does_not_sleep(fake_time: FakeTime) -> None:
    op = Flaky()
    assert retry_call(op, RetryPolicy(), retry_on=(Transient,), sleep=fake_time.sleep) == "ok"
    assert op.calls == 1
    assert fake_time.sleeps == []


def test_retries_listed_exceptions_until_success(fake_time: FakeTime) -> None:
    op = Flaky(Transient("a"), Transient("b"))
    assert retry_call(op, RetryPolicy(attempts=3), retry_on=(Transient,), sleep=fake_time.sleep) == "ok"
    assert op.calls == 3
    assert len(fake_time.sleeps) == 2


def test_does_not_retry_unlisted_exceptions(fake_time: FakeTime) -> None:
    op = Flaky(ValueError("bad input"), Transient("never reached"))
    with pytest.raises(ValueError, match="bad input"):
        retry_call(op, RetryPolicy(attempts=5), retry_on=(Transient,), sleep=fake_time.sleep)
    assert op.calls == 1
    assert fake_time.sleeps == []


def test_stops_after_attempts_and_reraises_the_last_original_exception(fake_time: FakeTime) -> None:
    errors = [Transient(f"failure {i}") for i in range(10)]
    op = Flaky(*errors)
    with pytest.raises(Transient) as info:
        retry_call(op, RetryPolicy(attempts=4, deadline_s=None), retry_on=(Transient,), sleep=fake_time.sleep)
    assert not isinstance(info.value, tenacity.RetryError)
    assert info.value is errors[3]  # the last attempt's own exception, not a wrapper
    assert op.calls == 4
    assert len(fake_time.sleeps) == 3


def test_a_single_attempt_never_retries(fake_time: FakeTime) -> None:
    op = Flaky(Transient("once"))
    with pytest.raises(Transient):
        retry_call(op, RetryPolicy(attempts=1, deadline_s=None), retry_on=(Transient,), sleep=fake_time.sleep)
    assert op.calls == 1
    assert fake_time.sleeps == []


def test_respects_the_deadline(fake_time: FakeTime) -> None:
    """Each attempt takes 1 s of (fake) time; with a 2.5 s deadline the third attempt is the last."""

    calls = 0

    def slow_failure() -> None:
        nonlocal calls
        calls += 1
        fake_time.now += 1.0
        raise Transient("timeout")

    policy = RetryPolicy(attempts=100, base_delay_s=0.0, max_delay_s=0.0, deadline_s=2.5)
    with pytest.raises(Transient):
        retry_call(slow_failure, policy, retry_on=(Transient,), sleep=fake_time.sleep)
    assert calls == 3
    assert fake_time.now - 1000.0 == pytest.approx(3.0)


def test_backoff_sleeps_count_against_the_deadline(fake_time: FakeTime) -> None:
    op = Flaky(*[Transient("down") for _ in range(100)])
    policy = RetryPolicy(attempts=100, base_delay_s=1.0, max_delay_s=1.0, deadline_s=10.0)
    with pytest.raises(Transient):
        retry_call(op, policy, retry_on=(Transient,), sleep=fake_time.sleep)
    elapsed = fake_time.now - 1000.0
    assert elapsed >= 10.0
    assert elapsed < 10.0 + policy.max_delay_s  # at most one backoff past the deadline (attempts are instant)
    assert op.calls == len(fake_time.sleeps) + 1 < 100


def test_delays_use_full_jitter_within_the_exponential_cap(fake_time: FakeTime, seeded_random: None) -> None:
    policy = RetryPolicy(attempts=6, base_delay_s=0.05, max_delay_s=0.3, deadline_s=None)
    caps = [min(policy.max_delay_s, policy.base_delay_s * 2**n) for n in range(policy.attempts - 1)]
    assert caps == pytest.approx([0.05, 0.1, 0.2, 0.3, 0.3])

    by_retry: list[list[float]] = [[] for _ in caps]
    for _ in range(50):
        fake_time.sleeps.clear()
        op = Flaky(*[Transient("down") for _ in range(policy.attempts)])
        with pytest.raises(Transient):
            retry_call(op, policy, retry_on=(Transient,), sleep=fake_time.sleep)
        assert len(fake_time.sleeps) == len(caps)
        for n, delay in enumerate(fake_time.sleeps):
            assert 0.0 <= delay <= caps[n] + 1e-12
            by_retry[n].append(delay)

    all_delays = [d for delays in by_retry for d in delays]
    assert len(set(all_delays)) > 1  # jittered, not the runbook's fixed base * 2**n
    for n, delays in enumerate(by_retry):
        assert len(set(delays)) > 1
        # spread over the whole window [0, cap], not clustered at the cap
        assert min(delays) < 0.25 * caps[n]
        assert max(delays) > 0.75 * caps[n]


def test_on_retry_is_called_before_each_backoff(fake_time: FakeTime) -> None:
    first, second = Transient("first"), Transient("second")
    op = Flaky(first, second)
    seen: list[tuple[int, BaseException, float]] = []
    result = retry_call(
        op,
        RetryPolicy(attempts=3),
        retry_on=(Transient,),
        sleep=fake_time.sleep,
        on_retry=lambda n, exc, delay: seen.append((n, exc, delay)),
    )
    assert result == "ok"
    assert [(n, exc) for n, exc, _ in seen] == [(1, first), (2, second)]
    assert [delay for _, _, delay in seen] == fake_time.sleeps


def test_on_retry_is_not_called_when_attempts_are_exhausted(fake_time: FakeTime) -> None:
    seen: list[int] = []
    op = Flaky(Transient("a"), Transient("b"))
    with pytest.raises(Transient):
        retry_call(
            op,
            RetryPolicy(attempts=2),
            retry_on=(Transient,),
            sleep=fake_time.sleep,
            on_retry=lambda n, exc, delay: seen.append(n),
        )
    assert seen == [1]


def test_policy_is_frozen_and_validated() -> None:
    policy = RetryPolicy()
    assert (policy.attempts, policy.base_delay_s, policy.max_delay_s, policy.deadline_s) == (3, 0.05, 1.0, 5.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.attempts = 10  # type: ignore[misc]
    for bad in ({"attempts": 0}, {"base_delay_s": -1.0}, {"max_delay_s": -0.1}, {"deadline_s": 0.0}):
        with pytest.raises(ValueError):
            RetryPolicy(**bad)  # type: ignore[arg-type]


def test_breaker_around_retry(fake_time: FakeTime) -> None:
    """One exhausted retry sequence is one breaker failure; an open breaker answers without retrying."""
    clock_now = [0.0]
    breaker = CircuitBreaker(
        "payment",
        failure_threshold=2,
        recovery_timeout_s=5.0,
        errors=(ConnectionError,),
        clock=lambda: clock_now[0],
    )
    policy = RetryPolicy(attempts=3, deadline_s=None)
    op = Flaky(*[Transient("down") for _ in range(6)])

    def guarded() -> str:
        return breaker.call(lambda: retry_call(op, policy, retry_on=(Transient,), sleep=fake_time.sleep))

    for expected_calls in (3, 6):
        with pytest.raises(Transient):
            guarded()
        assert op.calls == expected_calls
    assert breaker.state is BreakerState.OPEN

    with pytest.raises(CircuitOpenError):
        guarded()
    assert op.calls == 6  # short-circuited: no attempt, no retry, no sleep
    assert len(fake_time.sleeps) == 4

    clock_now[0] = 5.0
    assert guarded() == "ok"  # the half-open trial (with its own retries) succeeds
    assert breaker.state is BreakerState.CLOSED


def test_retry_absorbs_blips_so_the_breaker_sees_a_success(fake_time: FakeTime) -> None:
    breaker = CircuitBreaker("commerce", failure_threshold=1, errors=(ConnectionError,))
    op = Flaky(Transient("blip"), Transient("blip"))
    assert breaker.call(lambda: retry_call(op, RetryPolicy(), retry_on=(Transient,), sleep=fake_time.sleep)) == "ok"
    assert breaker.state is BreakerState.CLOSED
    assert breaker.snapshot()["total_failures"] == 0
