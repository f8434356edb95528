"""The background relay: every `interval_s` it retries payments of orders stuck in pending_payment and
publishes unpublished outbox rows. Every step is idempotent, so several replicas can run it at once.

It survives any exception (logged, then the next tick) and stops within one tick when asked.
"""

from __future__ import annotations

import logging
import threading

from ..common.app import Dependencies
from ..common.errors import DependencyUnavailable
from .orders import stale_pending_orders
from .outbox import publish_outbox
from .payments import pay_order

log = logging.getLogger("aarya.commerce")


class Reconciler:
    def __init__(self, d: Dependencies, interval_s: float = 2.0, pending_after_s: float = 5.0,
                 batch: int = 100) -> None:
        self._deps = d
        self.interval_s = interval_s
        self.pending_after_s = pending_after_s
        self.batch = batch
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="commerce-reconciler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        log.info("reconciler started", extra={"interval_s": self.interval_s})
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
            except DependencyUnavailable as exc:
                log.warning("reconciler tick skipped: %s", exc)
            except Exception:  # the relay must outlive any bug or outage; the next tick tries again
                log.exception("reconciler error")
        log.info("reconciler stopped")

    def tick(self) -> None:
        self.retry_payments()
        self.relay_outbox()

    def retry_payments(self) -> None:
        for order in stale_pending_orders(self._deps.require_db(), self.pending_after_s, limit=20):
            if self._stop.is_set():
                return
            outcome = pay_order(self._deps, order)
            if not outcome.payment_reachable:
                return  # payment is down: try again next tick rather than hammering it
            log.info("reconciler settled order", extra={"order_id": str(order.order_id),
                                                        "status": outcome.order.status})

    def relay_outbox(self) -> None:
        if self._deps.cache is None:
            return
        while not self._stop.is_set():
            if publish_outbox(self._deps.require_db(), self._deps.cache, batch=self.batch) < self.batch:
                return
