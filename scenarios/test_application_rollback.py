"""Runbook 8.1: Application rollback (a defective release of commerce reaches production).

    Targets: none in the runbook; MTTD 30 s, RTO 60 s, no acknowledged order lost, none doubled by retries.
    Inject:  deploy commerce's release `v2-bad` under load: it fails 60 % of its API requests with HTTP 500
             `bad_release` while `/health` and `/health/ready` stay green.
    Detect:  the error-rate alert: more than 20 % of the load's requests failed over the last 5 s. The
             runbook's `curl -f .../health` is run during the fault and recorded as blind.
    Recover: roll back commerce alone to the previous release (`driver.deploy("commerce", "v1")`); the
             runbook's `docker-compose down` of the whole stack is not needed (recorded).
    Verify:  after the rollback: commerce runs v1, no `bad_release` answer, the success rate back above the
             threshold; the outage was really measured; RTO; the write ledger (each checkout the bad build
             answered 500 and its shopper sent again is one order, charged once).

Control: the rollback skipped (RTO, release rolled back, no bad answer, success rate back fail).

Analysis: docs/scenarios/8.1-application-rollback.md
"""

from __future__ import annotations

import time

import httpx
import pytest

from checks.verdict import Check, at_least, equals
from checks.windows import in_window
from fixtures.detect.release import error_rate_above
from fixtures.diagnose.release import BAD_RELEASE_ERROR, release_on_health
from fixtures.faults.release import BadRelease
from fixtures.plugin import expect_scenario_failure
from fixtures.scenario import SKIP_RECOVERY, ScenarioRun, Targets
from load.outcomes import JOURNEY_FS
from scenarios.common import CONTROL_WAIT_S
from stack.drivers.base import Capability

APPLICATION_ROLLBACK = Targets(mttd_s=30.0, rto_s=60.0, rpo_s=0.0, lost_acknowledged_writes=0)
SERVICE = "commerce"
BAD, GOOD = "v2-bad", "v1"
ALERT_ERROR_RATE = 0.20   # the error-rate alert fires above this share of failed requests...
ALERT_WINDOW_S = 5.0      # ...over this window


def runbook_verification(run: ScenarioRun) -> str:
    """The runbook's `curl -f https://api.yourdomain.com/health`: the gateway's /health."""
    url = f"{run.stack.config.gateway_url}/health"
    try:
        response = httpx.get(url, timeout=2.0)
    except httpx.HTTPError as exc:
        return f"curl -f {url}: {type(exc).__name__}"
    return f"curl -f {url}: HTTP {response.status_code} ({'passes' if response.status_code < 400 else 'fails'})"


def roll_back(run: ScenarioRun) -> None:
    run.notes.append(
        "runbook: `docker-compose down; docker-compose pull; docker-compose up -d` stops every service "
        "(gateway, databases, all six services) to roll one back: an avoidable full outage; rolled back "
        f"{SERVICE} alone (deploy {GOOD}, one service restart)")
    run.stack.deploy(SERVICE, GOOD)


def release_rolled_back(driver: str, reported: str | None) -> Check:
    """Judged on what ran at the end of the recovery (the fault's heal would deploy v1 anyway)."""
    return Check("release_rolled_back", driver == GOOD and reported == GOOD, f"driver {driver}, /health {reported}",
                 GOOD, f"{SERVICE} must run the previous release {GOOD} once the recovery is over")


def _rollback_done(run: ScenarioRun) -> float | None:
    done = [r.mono for r in run.records() if r.type == "event" and r.f == "recovery_applied"]
    return done[0] if done else None


def no_bad_answers_after_rollback(run: ScenarioRun) -> Check:
    """No load request invoked after the rollback finished got the bad build's answer."""
    done = _rollback_done(run)
    if done is None:
        return Check("no_bad_release_answer_after_rollback", False, None, 0, "the rollback was never applied")
    bad = [op for op in run.ops() if op.start >= done and op.error and BAD_RELEASE_ERROR in op.error]
    return equals("no_bad_release_answer_after_rollback", len(bad), 0)


def outage_was_measured(run: ScenarioRun) -> Check:
    """The bad release really hurt: the success rate from the landing to the restoration is below the
    steady-state threshold and some answers were the bad build's (the RTO measures a real outage)."""
    tl = run.timeline
    end = tl.restored or tl.recovery_started or time.monotonic()
    ops = [op for op in in_window(run.ops(), tl.landed or tl.injected or 0.0, end) if op.f in JOURNEY_FS]
    bad = sum(1 for op in ops if op.error and BAD_RELEASE_ERROR in op.error)
    rate = round(sum(op.outcome == "ok" for op in ops) / len(ops), 3) if ops else None
    threshold = run.targets.success_threshold
    return Check("outage_was_measured", rate is not None and rate < threshold and bad > 0, rate, f"< {threshold}",
                 f"{len(ops)} load ops from the landing to the restoration, {bad} answered {BAD_RELEASE_ERROR}")


def success_rate_back(run: ScenarioRun) -> Check:
    tl = run.timeline
    if tl.restored is None:
        return Check("success_rate_back_above_threshold", False, None, run.targets.success_threshold, "never restored")
    ops = [op for op in run.ops() if op.f in JOURNEY_FS and op.start >= tl.restored and op.end is not None]
    rate = (sum(op.outcome == "ok" for op in ops) / len(ops)) if ops else None
    return at_least("success_rate_back_above_threshold", None if rate is None else round(rate, 3),
                    run.targets.success_threshold)


def application_rollback(run: ScenarioRun) -> None:
    run.steady_state()
    run.notes.append(f"release before the deploy (`git describe --tags`): {run.stack.release_of(SERVICE)}")
    with run.inject(BadRelease(run.stack, SERVICE, BAD)):
        assert run.timeline.landed is not None
        alert = error_rate_above(run.ops, threshold=ALERT_ERROR_RATE, window_s=ALERT_WINDOW_S,
                                 since=run.timeline.landed, now=time.monotonic)
        run.detect(f"error rate above {ALERT_ERROR_RATE:.0%} over {ALERT_WINDOW_S:.0f} s", alert)
        seen = runbook_verification(run)
        run.notes.append(f"runbook: its verification `curl -f https://api.yourdomain.com/health` is blind to a bad "
                         f"release: during the fault ({SERVICE} on {run.stack.release_of(SERVICE)}) it gave {seen}; "
                         f"verify with the error rate instead")
        run.recover(f"roll back {SERVICE} to the previous release {GOOD} (git checkout previous_tag; deploy)",
                    lambda: roll_back(run))
        run.judge_recovery(release_rolled_back(run.stack.release_of(SERVICE), release_on_health(run.stack, SERVICE)),
                           no_bad_answers_after_rollback, success_rate_back)
    run.verify(outage_was_measured)


@pytest.mark.rollback
@pytest.mark.needs(Capability.RELEASES)
def test_application_rollback(chaos):
    application_rollback(chaos.start("8.1", "Application rollback", APPLICATION_ROLLBACK))


@pytest.mark.rollback
@pytest.mark.control
@pytest.mark.needs(Capability.RELEASES)
def test_application_rollback_control_without_rollback(chaos):
    run = chaos.start("8.1", "Application rollback", APPLICATION_ROLLBACK, control=SKIP_RECOVERY,
                      restore_timeout_s=CONTROL_WAIT_S)
    with expect_scenario_failure() as failure:
        application_rollback(run)
    failed = {c.name for c in failure.value.failed}
    assert {"restored_within_rto_target", "release_rolled_back", "no_bad_release_answer_after_rollback",
            "success_rate_back_above_threshold"} <= failed, failed
