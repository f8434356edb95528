"""A thread-safe circuit breaker: closed -> open -> half-open -> closed.

The runbook's sketch is wrong in two ways, and this module fixes both:

* It compares ``time.time()`` with the constant ``30`` instead of with ``opened_at + timeout``. Since the
  epoch passed 30 seconds in 1970, the breaker "recovers" on the very next call and never stays open.
  Here the open period is measured from ``opened_at`` with an injectable *monotonic* clock (wall-clock
  jumps from NTP cannot shorten or stretch it).
* It has no half-open state, so after the timeout every waiting caller stampedes the sick dependency at
  once. Here, once ``recovery_timeout_s`` has elapsed, at most ``half_open_max_calls`` trial calls run;
  everybody else is still short-circuited. A trial success closes the breaker, a trial failure opens it
  again with a fresh timer.

States::

    CLOSED --(failure_threshold consecutive failures)--> OPEN
    OPEN --(recovery_timeout_s elapsed)--> HALF_OPEN          (observed lazily, on the next call/state read)
    HALF_OPEN --(a trial succeeds)--> CLOSED
    HALF_OPEN --(a trial fails)--> OPEN                       (fresh opened_at)

Only exceptions listed in ``errors`` count as failures; anything else propagates untouched and neither
counts nor resets. Results of calls admitted in an earlier state (a slow call that started while closed
and returns after the breaker opened) update the totals but never drive a transition.

Every transition is logged on the ``aarya.breaker`` logger at WARNING and passed to ``on_state_change``.
Both happen outside the breaker's lock, in transition order, so a callback may read the breaker.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from enum import Enum
from typing import TypeVar

__all__ = ["BreakerState", "CircuitBreaker", "CircuitOpenError", "StateChangeCallback"]

T = TypeVar("T")

log = logging.getLogger("aarya.breaker")

StateChangeCallback = Callable[[str, "BreakerState", "BreakerState"], None]


class BreakerState(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpenError(Exception):
    """Raised (or passed to the fallback) when the breaker short-circuits a call without running it."""

    def __init__(self, name: str, retry_after_s: float) -> None:
        super().__init__(f"circuit {name!r} is open; retry in {retry_after_s:.3f}s")
        self.name = name
        self.retry_after_s = retry_after_s


class CircuitBreaker:
    """Guards calls to one dependency. See the module docstring for the state machine."""

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        recovery_timeout_s: float = 5.0,
        half_open_max_calls: int = 1,
        errors: tuple[type[BaseException], ...] = (Exception,),
        clock: Callable[[], float] = time.monotonic,
        on_state_change: StateChangeCallback | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {failure_threshold}")
        if recovery_timeout_s < 0:
            raise ValueError(f"recovery_timeout_s must be >= 0, got {recovery_timeout_s}")
        if half_open_max_calls < 1:
            raise ValueError(f"half_open_max_calls must be >= 1, got {half_open_max_calls}")
        if not errors or not all(isinstance(e, type) and issubclass(e, BaseException) for e in errors):
            raise ValueError(f"errors must be a non-empty tuple of exception types, got {errors!r}")
        self.name = name
        self.failure_threshold = failure_threshold
        self.recovery_timeout_s = recovery_timeout_s
        self.half_open_max_calls = half_open_max_calls
        self.errors = errors
        self._clock = clock
        self._on_state_change = on_state_change

        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        # Bumped on every transition; a call's outcome only drives the state machine if the
        # generation it was admitted in is still current.
        self._generation = 0
        self._opened_at: float | None = None
        self._consecutive_failures = 0
        self._half_open_in_flight = 0
        self._total_short_circuits = 0
        self._total_failures = 0

        # Transitions are queued under _lock and delivered (log + callback) outside it, in order.
        self._pending: collections.deque[tuple[BreakerState, BreakerState, str]] = collections.deque()
        self._emit_lock = threading.Lock()

    # -- public API ----------------------------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        """The current state; HALF_OPEN as soon as recovery_timeout_s has elapsed since opening."""
        with self._lock:
            state = self._refresh()
        self._deliver()
        return state

    def call(self, operation: Callable[[], T], fallback: Callable[[BaseException], T] | None = None) -> T:
        """Run ``operation`` through the breaker.

        Open (or half-open with the trial budget used up): the operation is not run;
        ``fallback(CircuitOpenError)`` is returned if given, else CircuitOpenError is raised.
        A failure listed in ``errors``: counted, then ``fallback(exc)`` if given, else re-raised.
        Any other exception propagates unchanged and is not counted.
        """
        short_circuit: CircuitOpenError | None = None
        with self._lock:
            state = self._refresh()
            generation = self._generation
            if state is BreakerState.OPEN:
                short_circuit = CircuitOpenError(self.name, self._retry_after())
            elif state is BreakerState.HALF_OPEN:
                if self._half_open_in_flight >= self.half_open_max_calls:
                    # A trial is already probing the dependency; its outcome decides. Retry soon.
                    short_circuit = CircuitOpenError(self.name, 0.0)
                else:
                    self._half_open_in_flight += 1
            if short_circuit is not None:
                self._total_short_circuits += 1
        self._deliver()

        if short_circuit is not None:
            if fallback is not None:
                return fallback(short_circuit)
            raise short_circuit

        try:
            result = operation()
        except self.errors as exc:
            with self._lock:
                self._record_failure(generation, exc)
            self._deliver()
            if fallback is not None:
                return fallback(exc)
            raise
        except BaseException:
            # Not a dependency failure (a bug, a validation error, KeyboardInterrupt...): neither a
            # failure nor a success. A half-open trial gives its slot back so another trial can run.
            with self._lock:
                if generation == self._generation and self._state is BreakerState.HALF_OPEN:
                    self._half_open_in_flight -= 1
            raise
        with self._lock:
            self._record_success(generation)
        self._deliver()
        return result

    def snapshot(self) -> dict[str, object]:
        """A JSON-ready view for /health/ready and metrics.

        ``opened_for_s`` is the time since the breaker (last) opened, None while closed. The ``total_*``
        counters are cumulative over the breaker's life (``reset`` does not clear them).
        """
        with self._lock:
            state = self._refresh()
            opened_for_s = None if self._opened_at is None else max(0.0, self._clock() - self._opened_at)
            snap: dict[str, object] = {
                "name": self.name,
                "state": state.value,
                "consecutive_failures": self._consecutive_failures,
                "opened_for_s": opened_for_s,
                "total_short_circuits": self._total_short_circuits,
                "total_failures": self._total_failures,
            }
        self._deliver()
        return snap

    def reset(self) -> None:
        """Force the breaker closed and forget the consecutive failures (operator action, tests)."""
        with self._lock:
            self._consecutive_failures = 0
            if self._state is not BreakerState.CLOSED:
                self._transition(BreakerState.CLOSED, "manual reset")
            else:
                self._generation += 1  # in-flight outcomes from before the reset are ignored
        self._deliver()

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self.name!r}, state={self._state.value})"

    # -- internals (the _lock must be held by the caller unless stated otherwise) ----------------------

    def _refresh(self) -> BreakerState:
        """Apply the time-driven OPEN -> HALF_OPEN transition, then return the state."""
        if (
            self._state is BreakerState.OPEN
            and self._opened_at is not None
            and self._clock() - self._opened_at >= self.recovery_timeout_s
        ):
            self._transition(BreakerState.HALF_OPEN, f"recovery timeout of {self.recovery_timeout_s}s elapsed")
        return self._state

    def _retry_after(self) -> float:
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.recovery_timeout_s - self._clock())

    def _record_failure(self, generation: int, exc: BaseException) -> None:
        self._total_failures += 1
        if generation != self._generation:
            return  # admitted in an earlier state: the machine has already moved on
        self._consecutive_failures += 1
        if self._state is BreakerState.HALF_OPEN:
            self._half_open_in_flight -= 1
            self._transition(BreakerState.OPEN, f"trial call failed with error {type(exc).__name__}: {exc}")
        elif self._consecutive_failures >= self.failure_threshold:
            self._transition(
                BreakerState.OPEN,
                f"{self._consecutive_failures} consecutive failures, last error {type(exc).__name__}: {exc}",
            )

    def _record_success(self, generation: int) -> None:
        if generation != self._generation:
            return
        self._consecutive_failures = 0
        if self._state is BreakerState.HALF_OPEN:
            self._transition(BreakerState.CLOSED, "trial call succeeded")

    def _transition(self, new: BreakerState, reason: str) -> None:
        old = self._state
        self._state = new
        self._generation += 1
        self._half_open_in_flight = 0
        if new is BreakerState.OPEN:
            self._opened_at = self._clock()
        elif new is BreakerState.CLOSED:
            self._opened_at = None
            self._consecutive_failures = 0
        self._pending.append((old, new, reason))

    def _deliver(self) -> None:
        """Log and report queued transitions in order. Called WITHOUT _lock held.

        Whoever holds _emit_lock drains the queue; a thread that finds it taken (another thread, or a
        callback re-entering the breaker) leaves its transitions to the drainer, which loops until empty.
        """
        while self._pending:
            if not self._emit_lock.acquire(blocking=False):
                return
            try:
                while True:
                    try:
                        old, new, reason = self._pending.popleft()
                    except IndexError:
                        break
                    self._emit(old, new, reason)
            finally:
                self._emit_lock.release()

    def _emit(self, old: BreakerState, new: BreakerState, reason: str) -> None:
        log.warning(
            "circuit breaker %r: %s -> %s (%s)",
            self.name,
            old.value,
            new.value,
            reason,
            extra={"breaker": self.name, "old_state": old.value, "new_state": new.value},
        )
        if self._on_state_change is not None:
            try:
                self._on_state_change(self.name, old, new)
            except Exception:
                log.exception("circuit breaker %r: on_state_change callback raised an error", self.name)
