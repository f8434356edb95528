"""Runbook 7.1: Slow database causes cascade ("database slowdown causes service timeouts, which cause more
load on the database").

    Targets: none in the runbook; MTTD 15 s, RTO 30 s, unlocked endpoints >= 95% successful during the fault,
             no answer slower than 4.9 s, at most one statement waiting on the lock per checkout sent.
    Inject:  under load, a transaction holding every row of `products` FOR UPDATE (a batch job stuck
             mid-transaction) and 100 ms of latency on commerce's link to PostgreSQL; checkout's foreign-key
             check waits on the lock until lock_timeout (0.5 s). Held at least 10 s.
    Detect:  the runbook's blocking-query check, corrected to `wait_event_type = 'Lock'`, with
             pg_blocking_pids(), and its grep of commerce's log, corrected to `grep -iE "timeout|timed out"`.
    Recover: pg_terminate_backend(<blocking pid>) and remove the latency toxic; no restart, no scaling.
    Verify:  checkouts failed during the fault; the blast radius stayed bounded (unlocked endpoints kept
             succeeding, nothing hung, retries did not multiply the statements queued on the lock); after the
             recovery: checkout works, commerce was not restarted, no blocker is left; the write ledger.
             Synthetic shoppers check out every second (`health:checkout`): "steady" includes checkout.

Control: the recovery skipped, the blocker stays (checkout after it, RTO and no blocker left fail).

Analysis: docs/scenarios/7.1-slow-database-cascade.md
"""

from __future__ import annotations

import pytest

from fixtures.detect.database import queries_wait_on_locks
from fixtures.detect.probes import all_of, new_log_lines
from fixtures.diagnose.database import admin_sql
from fixtures.faults.base import Together
from fixtures.faults.database import RowLockBlocker
from fixtures.faults.network import LinkToxic
from fixtures.recover.database import terminate_blockers
from fixtures.plugin import expect_scenario_failure
from fixtures.scenario import SKIP_RECOVERY, ScenarioRun, Targets
from load.outcomes import ANSWER_TIMEOUT_S
from scenarios.common import CONTROL_WAIT_S, answers_stayed_fast, failures_were_defined, make_canary
from scenarios.parts.lock_cascade import (CheckoutProbe, QueueSampler, commerce_not_restarted, commerce_pid,
                                          hold_fault, lock_bit_checkout, no_blocker_left, runbook_notes,
                                          statements_not_multiplied, try_checkout, unlocked_endpoints_stayed_up)

SLOW_DATABASE = Targets(mttd_s=15.0, rto_s=30.0, rpo_s=0.0, lost_acknowledged_writes=0)
EDGE = "commerce__postgres"
LATENCY_MS = 100
SHOPPER_TIMEOUT_MS = ANSWER_TIMEOUT_S * 1000  # locust's network_timeout
MAX_ANSWER_MS = SHOPPER_TIMEOUT_MS - 100.0
PROBE_SHOPPERS = 4          # an attempt lasts at most PROBE_SLO_S plus the cart call: 4 keep the cadence
DEFINED_ANSWERS = {503}
TIMEOUT_GREP = "timeout|timed out"


def slow_database(run: ScenarioRun) -> None:
    run.steady_state()
    shoppers = [make_canary(run, product_id=20 + i) for i in range(PROBE_SHOPPERS)]
    canary = make_canary(run, product_id=12)
    pid = commerce_pid(run)
    timeouts_logged = new_log_lines(run.stack, "commerce", TIMEOUT_GREP, lines=500)
    latency = LinkToxic(run.stack, EDGE, "latency", {"latency": LATENCY_MS})
    blockers: list[int] = []
    noisy_waits: list[int] = []
    with CheckoutProbe(run, shoppers):
        with run.inject(Together(RowLockBlocker(run.stack, "products"), latency)), QueueSampler(run) as sampler:
            run.detect("pg_stat_activity wait_event_type = 'Lock' (pg_blocking_pids); "
                       f"commerce log | grep -iE \"{TIMEOUT_GREP}\"",
                       all_of(queries_wait_on_locks(run.stack), timeouts_logged))
            noisy_waits.append(int(admin_sql(run.stack, "SELECT count(*) FROM pg_stat_activity "
                                                        "WHERE wait_event IS NOT NULL")[0][0]))
            hold_fault(run)

            def recover() -> None:
                blockers.extend(terminate_blockers(run.stack))
                with run.stack.toxiproxy() as toxiproxy:
                    toxiproxy.remove_toxic(EDGE, latency.toxic_name)

            run.recover("pg_terminate_backend(<blocking pid>) from pg_blocking_pids(); remove the latency toxic",
                        recover)
            run.judge_recovery(lambda r: try_checkout(r, canary), no_blocker_left,
                               lambda r: commerce_not_restarted(r, pid))
    run.notes.append("the latency toxic removed by the recovery is fault removal: the platform heals once it is "
                     "gone; terminating the blocker is the runbook's own step")
    runbook_notes(run, noisy_waits, blockers)
    run.verify(
        lock_bit_checkout,
        unlocked_endpoints_stayed_up,
        lambda r: answers_stayed_fast(r, MAX_ANSWER_MS),
        lambda r: failures_were_defined(r, DEFINED_ANSWERS),
        lambda r: statements_not_multiplied(r, sampler),
    )


@pytest.mark.cascade
def test_slow_database_cascade(chaos):
    slow_database(chaos.start("7.1", "Slow database causes cascade", SLOW_DATABASE))


@pytest.mark.cascade
@pytest.mark.control
def test_slow_database_cascade_control_blocker_stays(chaos):
    run = chaos.start("7.1", "Slow database causes cascade", SLOW_DATABASE, control=SKIP_RECOVERY,
                      restore_timeout_s=CONTROL_WAIT_S)
    with expect_scenario_failure() as failure:
        slow_database(run)
    failed = {c.name for c in failure.value.failed}
    assert {"checkout_works_after_recovery", "restored_within_rto_target", "no_blocker_left_after_recovery"} <= failed
