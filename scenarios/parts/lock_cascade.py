"""Runbook 7.1's parts, shared by its Python scenario and its data file (scenarios/data/): the lock queue
sampled from pg_stat_activity, the synthetic checkout shoppers, and the claims about the cascade."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from checks.verdict import Check
from checks.windows import in_window, success_rate
from fixtures.diagnose.database import admin_sql
from fixtures.faults.database import BLOCKER_APP
from fixtures.scenario import ScenarioRun
from scenarios.common import Canary, fault_window, gateway
from scenarios.parts.request_probe import record_attempt

UNLOCKED_OPS = ("register", "login", "browse", "product", "search", "view_cart", "add_to_cart")
UNLOCKED_SUCCESS_MIN = 0.95
PROBE_INTERVAL_S = 1.0
PROBE_SLO_S = 2.5           # a synthetic checkout slower than this failed
FAULT_HOLD_S = 10.0         # the lock held at least this long from the landing: an operator's reaction


class QueueSampler:
    """Samples, every `interval_s` until stopped, the statements waiting on a lock (pg_stat_activity, from
    outside the service: each one is a backend pid and its query_start) and, to show beside, the requests
    commerce says wait in its pool (/health/ready `checks.postgres.pool.requests_waiting`)."""

    def __init__(self, run: ScenarioRun, interval_s: float = 0.5) -> None:
        self.run, self.interval_s = run, interval_s
        self.lock_waiters: list[int] = []
        self.waiting_statements: set[tuple[int, float]] = set()
        self.pool_waiting: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="aarya-queue-sampler", daemon=True)
        commerce = run.stack.config.services.get("commerce") if run.target is None else None
        # commerce's own view of its pool, shown beside (the reference's; a team's platform has none to read)
        self._ready = f"{run.stack.config.url(commerce.port)}/health/ready" if commerce else None

    def __enter__(self) -> QueueSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        with httpx.Client(timeout=3.0) as client:
            while not self._stop.is_set():
                try:
                    rows = admin_sql(self.run.stack, "SELECT pid, extract(epoch FROM query_start)::float8 "
                                                     "FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
                    self.lock_waiters.append(len(rows))
                    self.waiting_statements.update((int(pid), float(start)) for pid, start in rows)
                except Exception:  # a sample lost is not a queue: the other samples judge
                    pass
                if self._ready is None:
                    self._stop.wait(self.interval_s)
                    continue
                try:
                    pool = client.get(self._ready).json()["checks"]["postgres"]["pool"]
                    self.pool_waiting.append(int(pool.get("requests_waiting", 0)))
                except (httpx.HTTPError, KeyError, ValueError, TypeError):
                    pass
                self._stop.wait(self.interval_s)


class CheckoutProbe:
    """Synthetic shoppers: every `interval_s` one of them puts its product in its cart and checks out, each
    attempt recorded as the health probe `health:checkout`, ok on 201/202 within PROBE_SLO_S, at the time
    the attempt ended. Attempts overlap: each of the `canaries` (one per thread, never two attempts on one
    cart) takes its turn."""

    def __init__(self, run: ScenarioRun, canaries: list[Canary], interval_s: float = PROBE_INTERVAL_S) -> None:
        self.run, self.interval_s = run, interval_s
        self._free: queue.Queue[Canary] = queue.Queue()
        for canary in canaries:
            self._free.put(canary)
        self._pool = ThreadPoolExecutor(max_workers=len(canaries), thread_name_prefix="aarya-checkout-probe")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="aarya-checkout-probe", daemon=True)

    def __enter__(self) -> CheckoutProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                canary = self._free.get(timeout=self.interval_s)
            except queue.Empty:
                continue
            self._pool.submit(self._attempt, canary)
            self._stop.wait(self.interval_s)

    def _attempt(self, canary: Canary) -> None:
        """One checkout, recorded as an observation at its end: a checkout that waited out the lock and went
        through after the recovery shows as working after the recovery, not at the moment it was sent."""
        started = time.monotonic()
        status: int | None = None
        try:
            with gateway(self.run) as client:
                client.timeout = httpx.Timeout(PROBE_SLO_S)
                client.post("/cart/items", json={"product_id": canary.product_id, "quantity": 1},
                            headers=canary.auth).raise_for_status()
                response = client.post("/checkout", headers={**canary.auth, "Idempotency-Key": str(uuid.uuid4())})
            status = response.status_code
            error = None if status in (201, 202) else (response.text[:200] or f"HTTP {status}")  # an empty body is an error too
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
        finally:
            self._free.put(canary)
        record_attempt(self.run.history, "health:checkout", "checkout-probe", started, status, error)


def commerce_not_restarted(run: ScenarioRun, before: int | None) -> Check:
    """The cascade was contained by timeouts and the bounded pool, not by restarting commerce."""
    now = commerce_pid(run)
    return Check("commerce_not_restarted", now is not None and now == before, now, before)


def hold_fault(run: ScenarioRun) -> None:
    """Leave the lock in place FAULT_HOLD_S from the landing: a responder reads the detection, then acts. A
    cascade the timeouts do not stop needs a few of them to build."""
    until = (run.timeline.landed or time.monotonic()) + FAULT_HOLD_S
    while time.monotonic() < until:
        time.sleep(0.25)


def commerce_pid(run: ScenarioRun) -> int | None:
    return next(s.pid for s in run.stack.status() if s.name == "commerce")


def try_checkout(run: ScenarioRun, canary: Canary) -> Check:
    """Checkout right after the recovery (still inside the fault's context, before any heal)."""
    with gateway(run) as client:
        client.timeout = httpx.Timeout(10.0)
        response = client.post("/checkout", headers={**canary.auth, "Idempotency-Key": str(uuid.uuid4())})
    return Check("checkout_works_after_recovery", response.status_code in (201, 202), response.status_code,
                 "201 or 202", response.text[:200])


def lock_bit_checkout(run: ScenarioRun) -> Check:
    window = fault_window(run)
    checkouts = in_window(run.ops(), window.start, window.end, ("checkout", "health:checkout"))
    failed = [op for op in checkouts if op.outcome != "ok"]
    return Check("lock_bit_checkout", len(failed) > 0, len(failed), "> 0",
                 f"{len(failed)} of {len(checkouts)} checkouts (load and synthetic) failed in the fault window")


def unlocked_endpoints_stayed_up(run: ScenarioRun) -> Check:
    window = fault_window(run)
    ops = in_window(run.ops(), window.start, window.end, UNLOCKED_OPS)
    rate = success_rate(ops)
    return Check("unlocked_endpoints_stayed_up", rate is not None and rate >= UNLOCKED_SUCCESS_MIN,
                 None if rate is None else round(rate, 4), f">= {UNLOCKED_SUCCESS_MIN}",
                 f"{len(ops)} ops of {', '.join(UNLOCKED_OPS)} in the fault window")


def checkouts_sent(run: ScenarioRun, start: float, end: float, write: str = "checkout") -> int:
    """Writes named `write` sent in [start, end): the load's by their invocation, the synthetic probe's
    (`health:<write>`) by the start their record gives (`took_ms` before the record, which is written when
    the attempt ends)."""
    count = 0
    for op in run.ops():
        if op.f == write:
            count += start <= op.start < end
        elif op.f == f"health:{write}":
            began = op.start - float(op.value.get("took_ms") or 0.0) / 1000
            count += start <= began < end
    return count


def statements_not_multiplied(run: ScenarioRun, sampler: QueueSampler, write: str = "checkout") -> Check:
    """Retries did not multiply the queue: the distinct statements seen waiting on the lock while it was held
    number at most the checkouts the clients sent meanwhile (the load's and the synthetic shoppers')."""
    tl = run.timeline
    start, end = tl.landed or tl.injected or 0.0, tl.recovery_started or tl.injected or 0.0
    sent = checkouts_sent(run, start, end, write)
    waiting = len({s for s in sampler.waiting_statements if start <= run.mono_of(s[1]) < end})
    pool = max(sampler.pool_waiting, default=None)
    run.measured["commerce_pool_requests_waiting_max"] = {"value": pool, "source": "commerce's own /health/ready"}
    return Check("lock_waits_at_most_one_per_checkout_sent", sent > 0 and waiting <= sent, waiting,
                 f"<= {sent} (checkouts sent)", f"{len(sampler.lock_waiters)} samples of pg_stat_activity, at most "
                 f"{max(sampler.lock_waiters, default=0)} waiting at once, from the landing to the recovery; "
                 f"commerce itself reports up to {pool} requests waiting in its pool (shown, not judged)")


def no_blocker_left(run: ScenarioRun) -> Check:
    """After the recovery, before the fault's undo: the termination took the blocker."""
    blocker = int(admin_sql(run.stack, "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                            (BLOCKER_APP,))[0][0])
    return Check("no_blocker_left_after_recovery", blocker == 0, blocker, 0, f"backends named {BLOCKER_APP}")


def runbook_notes(run: ScenarioRun, noisy_waits: list[int], blockers: list[int]) -> None:
    run.notes.append(
        "runbook: `grep -i \"timeout|timed out\"` without -E looks for the literal text `timeout|timed out` "
        "and matches nothing; used grep -iE")
    if noisy_waits:
        run.notes.append(
            f"runbook: `WHERE wait_event IS NOT NULL` returned {noisy_waits[0]} rows at detection (idle backends "
            "wait on ClientRead, background processes on their own events), not only the blocked; used "
            "wait_event_type = 'Lock' and pg_blocking_pids()")
    run.notes.append(
        "runbook: its query-times check (`WHERE state = 'active'`) shows the blocked checkouts but never the "
        "blocker, which is `idle in transaction`; pg_blocking_pids() names it")
    if run.control is None:
        run.notes.append(f"recovery terminated blocking pids {blockers}" if blockers else
                         "recovery found no blocking pid (no lock waiter appeared)")
    run.notes.append("runbook: steps 3-5 (scale commerce down, restart core_platform and commerce, scale up) "
                     "were not done: the local stack runs one commerce, and the pools needed no restart")
