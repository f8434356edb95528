"""Polled waits with deadlines. Never a fixed sleep: poll a probe until it passes, or fail saying why.

Example:
    wait_until("redis", "127.0.0.1:16379", lambda: client.ping(), timeout_s=10,
               log_tail=lambda: tail(log_path))
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from aarya_chaos.errors import NotReady

T = TypeVar("T")


def wait_until(
    component: str,
    endpoint: str,
    probe: Callable[[], T | None],
    *,
    timeout_s: float,
    interval_s: float = 0.05,
    max_interval_s: float = 0.5,
    log_tail: Callable[[], str] | None = None,
    still_alive: Callable[[], str | None] | None = None,
) -> T:
    """Call `probe` until it returns without raising (and not False/None); return its value.

    `still_alive` returns a reason string when the component died, which ends the wait at once instead of
    waiting out the deadline. On failure raises NotReady naming the component, endpoint, the last error and
    the tail of its log.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    last_error = "no attempt made"
    interval = interval_s
    while True:
        try:
            value = probe()
            if value is not None and value is not False:
                return value
            last_error = f"probe returned {value!r}"
        except Exception as exc:  # any probe failure is the reason we keep waiting
            last_error = f"{type(exc).__name__}: {exc}"
        death = still_alive() if still_alive else None
        now = time.monotonic()
        if death is not None or now >= deadline:
            reason = f"{death}; {last_error}" if death else last_error
            raise NotReady(component, endpoint, now - started, reason, log_tail() if log_tail else "")
        time.sleep(min(interval, max(0.0, deadline - now)))
        interval = min(interval * 1.5, max_interval_s)
