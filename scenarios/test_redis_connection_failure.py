"""Runbook 2.2: Redis connection failure.

    Inject:  kill Redis (SIGKILL) under load.
    Detect:  `redis-cli ping` fails.
    During:  the services' Redis circuit breaker opens, and requests get fast, defined answers
             (a 503, a 429 or a degraded 200), never a hang. A 401 is not one: a shopper told "logged
             out" because the session store was down lost the session the outage was supposed to spare.
    Recover: restart Redis (`docker restart aarya_redis`).
    After:   judged after the restart, before the fault's own undo: the breaker closes; sessions and carts
             that had been persisted (AOF) come back.

Controls: the restart skipped (RTO, breaker closed and canary back fail), and commerce on a release whose
breaker never opens (`v1-breaker-off`): `breaker_opened_during_the_outage` must fail, as a failed check.
"""

from __future__ import annotations

import signal

import pytest

from fixtures.faults.process import ProcessKill
from fixtures.plugin import expect_scenario_failure
from fixtures.detect.probes import redis_ping_fails
from fixtures.sabotage import deployed
from fixtures.scenario import SKIP_RECOVERY, ScenarioRun, Targets
from scenarios.common import CONTROL_WAIT_S, answers_stayed_fast, failures_were_defined, make_canary
from scenarios.parts.redis_breaker import breaker_closed, breaker_state, canary_came_back, persist_redis
from stack.drivers.base import Capability

REDIS_OUTAGE = Targets(mttd_s=15.0, rto_s=60.0, rpo_s=0.0, lost_acknowledged_writes=0)
MAX_ANSWER_MS = 2500.0  # the slowest defined answer: a pool/socket timeout plus the gateway hop
DEFINED_ANSWERS = {429, 503}
BREAKER_OPEN_WITHIN_S = 20.0


def redis_outage(run: ScenarioRun) -> None:
    run.steady_state()
    canary = make_canary(run)
    persist_redis(run)
    with run.inject(ProcessKill(run.stack, "redis", signal.SIGKILL)):
        run.detect("redis-cli ping fails", redis_ping_fails(run.stack))
        opened = run.expect("breaker_opened_during_the_outage", lambda: breaker_state(run) == "open",
                            timeout_s=BREAKER_OPEN_WITHIN_S, target="open (commerce /health/ready)")
        run.recover("docker restart aarya_redis (restart redis-server)", lambda: run.stack.restart("redis"))
        run.judge_recovery(breaker_closed, lambda r: canary_came_back(canary, r))
    run.verify(
        opened,
        lambda r: answers_stayed_fast(r, MAX_ANSWER_MS),
        lambda r: failures_were_defined(r, DEFINED_ANSWERS),
    )


@pytest.mark.cache
def test_redis_connection_failure(chaos):
    redis_outage(chaos.start("2.2", "Redis connection failure", REDIS_OUTAGE))


@pytest.mark.cache
@pytest.mark.control
def test_redis_connection_failure_control_without_restart(chaos):
    run = chaos.start("2.2", "Redis connection failure", REDIS_OUTAGE, control=SKIP_RECOVERY,
                      restore_timeout_s=CONTROL_WAIT_S)
    with expect_scenario_failure() as failure:
        redis_outage(run)
    failed = {c.name for c in failure.value.failed}
    assert {"restored_within_rto_target", "breaker_closed_after_recovery",
            "persisted_session_and_cart_came_back"} <= failed, failed


@pytest.mark.cache
@pytest.mark.control
@pytest.mark.needs(Capability.RELEASES)
def test_redis_connection_failure_control_breaker_never_opens(chaos):
    """The mitigation broken: commerce's Redis breaker never opens (failure threshold 1,000,000)."""
    with deployed(chaos.stack, chaos.registry, "commerce", "v1-breaker-off"):
        run = chaos.start("2.2", "Redis connection failure", REDIS_OUTAGE, control="commerce breaker never opens")
        with expect_scenario_failure() as failure:
            redis_outage(run)
    assert "breaker_opened_during_the_outage" in {c.name for c in failure.value.failed}
