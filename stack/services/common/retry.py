"""Retry with capped exponential backoff and full jitter, on top of tenacity.

The runbook's version sleeps exactly ``base * 2**n`` with no jitter. When a dependency blips, every
client that failed in the same instant retries in the same instant, again and again: a thundering herd
that hits the dependency in synchronised waves just as it tries to recover. Here the n-th retry (n = 0
for the first) sleeps a uniformly random time in ``[0, min(max_delay_s, base_delay_s * 2**n)]`` ("full
jitter"), which spreads the retries out.

tenacity runs the loop; we only configure it:

* ``stop_after_attempt(attempts) | stop_after_delay(deadline_s)``: at most ``attempts`` calls, and no
  new attempt once ``deadline_s`` has passed since the first one started. (tenacity checks the deadline
  after an attempt fails, so the total can exceed it by at most one attempt plus one backoff sleep,
  itself capped by ``max_delay_s``.)
* ``wait_random_exponential(multiplier=base_delay_s, max=max_delay_s)``: full jitter.
* retry only on the exception types in ``retry_on``; anything else propagates at once.
* ``reraise=True``: the caller sees the last real exception, never ``tenacity.RetryError``.

Do not put ``CircuitOpenError`` in ``retry_on``: compose as ``breaker.call(lambda: retry_call(...))``
so one exhausted retry sequence counts as one breaker failure, and an open breaker answers at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)
from tenacity.stop import stop_base

__all__ = ["RetryCallback", "RetryPolicy", "retry_call"]

T = TypeVar("T")

log = logging.getLogger("aarya.retry")

RetryCallback = Callable[[int, BaseException, float], None]
"""``on_retry(attempt_number, exception, delay_s)``: attempt ``attempt_number`` (1-based) failed with
``exception``; the next attempt starts after sleeping ``delay_s`` seconds."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base_delay_s: float = 0.05
    max_delay_s: float = 1.0
    deadline_s: float | None = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")
        if self.base_delay_s < 0:
            raise ValueError(f"base_delay_s must be >= 0, got {self.base_delay_s}")
        if self.max_delay_s < 0:
            raise ValueError(f"max_delay_s must be >= 0, got {self.max_delay_s}")
        if self.deadline_s is not None and self.deadline_s <= 0:
            raise ValueError(f"deadline_s must be > 0 or None, got {self.deadline_s}")


def retry_call(
    operation: Callable[[], T],
    policy: RetryPolicy,
    *,
    retry_on: tuple[type[BaseException], ...],
    sleep: Callable[[float], None] = time.sleep,
    on_retry: RetryCallback | None = None,
) -> T:
    """Call ``operation`` until it returns, retrying only on ``retry_on``, per ``policy``.

    Raises the last exception the operation raised (its own type) once the attempts or the deadline
    are used up, or at once for an exception not in ``retry_on``.
    """
    stop: stop_base = stop_after_attempt(policy.attempts)
    if policy.deadline_s is not None:
        stop = stop | stop_after_delay(policy.deadline_s)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if exc is None:  # cannot happen: we only retry on exceptions
            return
        # next_action is set before before_sleep runs (tenacity 8.x and 9.x alike)
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        log.info(
            "retrying after %s: %s (attempt %d of %d, backoff %.3fs)",
            type(exc).__name__,
            exc,
            state.attempt_number,
            policy.attempts,
            delay,
        )
        if on_retry is not None:
            on_retry(state.attempt_number, exc, delay)

    retrying = Retrying(
        stop=stop,
        wait=wait_random_exponential(multiplier=policy.base_delay_s, max=policy.max_delay_s),
        retry=retry_if_exception_type(retry_on),
        reraise=True,
        sleep=sleep,
        before_sleep=before_sleep,
    )
    return retrying(operation)
