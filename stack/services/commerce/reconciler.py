"""The background relay: every `interval_s` it retries payments of orders stuck in pending_payment and
publishes unpublished outbox rows. Every step is idempotent, so several replicas can run it at once.

Payments are retried `concurrency` at a time, batch after batch until none is stale: after a partition
cut commerce off from payment, every checkout of the outage is pending (5.2: about 200 after 10 s at 20
checkouts a second, over a thousand after a minute), and one at a time, through a card network that takes
a quarter of a second, they would take minutes to settle (16 at a time: about 60 a second).

It survives any exception (logged, then the next tick) and stops within one tick when asked.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from ..common.app import Dependencies
from ..common.errors import DependencyUnavailable
from .orders import stale_pending_orders
from .outbox import publish_outbox
from .payments import pay_order

log = logging.getLogger("aarya.commerce")
MAX_BATCHES_PER_TICK = 20  # bounded: the next tick goes on where this one stopped


class Reconciler:
    def __init__(self, d: Dependencies, interval_s: float = 2.0, pending_after_s: float = 5.0,
                 batch: int = 100, concurrency: int = 16) -> None:
        self._deps = d
        self.interval_s = interval_s
        self.pending_after_s = pending_after_s
        self.batch = batch
        self.concurrency = concurrency
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
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="commerce-reconciler-pay") as pool:
            for _ in range(MAX_BATCHES_PER_TICK):
                if self._stop.is_set():
                    return
                stale = stale_pending_orders(self._deps.require_db(), self.pending_after_s, limit=self.batch)
                if not stale:
                    return
                first = pay_order(self._deps, stale[0])  # alone: is payment there at all?
                if not first.payment_reachable:
                    return  # payment is down: try again next tick rather than hammering it
                outcomes = [first, *pool.map(lambda order: pay_order(self._deps, order), stale[1:])]
                for outcome in outcomes:
                    if outcome.payment_reachable:
                        log.info("reconciler settled order", extra={"order_id": str(outcome.order.order_id),
                                                                    "status": outcome.order.status})
                if len(stale) < self.batch or not all(o.payment_reachable for o in outcomes):
                    return  # all settled, or payment went away meanwhile

    def relay_outbox(self) -> None:
        if self._deps.cache is None:
            return
        while not self._stop.is_set():
            if publish_outbox(self._deps.require_db(), self._deps.cache, batch=self.batch) < self.batch:
                return
