"""A background thread that deletes expired failed-login counters (they have no TTL: see sessions.py),
every `interval_s`; a Redis outage skips a pass. It stops within one interval when asked."""

from __future__ import annotations

import logging
import threading

from ..common.app import Dependencies
from .sessions import sweep_failure_counters

log = logging.getLogger("aarya.core_platform")
SWEEP_INTERVAL_S = 60.0


class CounterSweeper:
    def __init__(self, d: Dependencies, interval_s: float = SWEEP_INTERVAL_S) -> None:
        self._deps = d
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="core-platform-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def sweep(self) -> int:
        cache = self._deps.cache
        if cache is None:
            return 0
        window = self._deps.settings.login_failure_window_s
        removed: int = cache.run_or(lambda client: sweep_failure_counters(client, window), 0)
        if removed:
            log.info("expired failed-login counters removed", extra={"removed": removed})
        return removed

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.sweep()
            except Exception:  # the sweeper must outlive any bug; the next pass tries again
                log.exception("sweeper error")


def start_sweeper(d: Dependencies) -> None:
    sweeper = CounterSweeper(d)
    d.background.append(sweeper.stop)
    sweeper.start()
