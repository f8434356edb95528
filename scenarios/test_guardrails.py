"""The control of the guardrails (docs/guardrails.md): a guardrail must trip, heal the fault at once, and abort
the run without its recovery.

Runbook 3.2's fault (commerce killed under load) with the guardrail "success floor 95 % over 2 s": killing
commerce fails about half the shoppers' requests (checkout, cart), so the floor trips about 2 s after the
injection. The scenario waits for it instead of recovering at once (3.2's detection takes 0.1 s, and the
guardrails watch only until the recovery starts), then asks for the recovery, which must be skipped.

A control that bit records `pass`; the run itself gets `aborted`, asserted here as
`run.guard.verdict(call_passed=False)`: what an ordinary scenario's record says when its guardrail trips.
"""

from __future__ import annotations

import signal

import pytest

from checks.guardrails import SuccessFloor
from fixtures.detect.probes import http_health_fails
from fixtures.faults.process import ProcessKill
from fixtures.guardrails import ScenarioAborted
from fixtures.scenario import Targets
from stack.waits import wait_until

FLOOR = SuccessFloor(0.95, for_s=2.0)
TRIP_WAIT_S = 15.0
HEAL_WITHIN_S = 5.0  # the heal restarts commerce: it starts on the trip, and a restart takes a second or two


@pytest.mark.service
@pytest.mark.control
def test_a_guardrail_trips_heals_and_aborts(chaos):
    run = chaos.start("3.2", "Commerce service unavailable", Targets(mttd_s=15.0, rto_s=60.0),
                      control=f"guardrail {FLOOR.describe()}")
    run.guardrails = [FLOOR]
    run.steady_state()
    commerce = run.stack.config.url(run.stack.config.services["commerce"].port)
    with pytest.raises(ScenarioAborted) as aborted:
        with run.inject(ProcessKill(run.stack, "commerce", signal.SIGKILL)):
            run.detect(f"curl -f {commerce}/health fails", http_health_fails(f"{commerce}/health"))
            wait_until("the guardrail", FLOOR.describe(), lambda: run.guard.abort, timeout_s=TRIP_WAIT_S,
                       interval_s=0.1)
            run.recover("docker-compose restart commerce", lambda: run.stack.restart("commerce"))
    abort = run.guard.abort
    assert abort is not None and abort.trip.guardrail == FLOOR
    assert str(aborted.value) == abort.reason
    assert abort.reason.startswith(f"aborted: {FLOOR.describe()} tripped at +")
    assert run.guard.verdict(call_passed=False) == ("aborted", abort.reason)

    after_injection = abort.trip.when - abort.injected
    assert FLOOR.for_s <= after_injection < FLOOR.for_s + 3.0, after_injection
    assert abort.healed is not None and abort.heal_error is None
    assert 0 < abort.healed - abort.trip.when < HEAL_WITHIN_S
    assert run.timeline.healed == abort.healed

    events = [r.f for r in run.records() if r.type == "event"]
    assert "recovery_skipped" in events and "recovery_applied" not in events
    assert run.timeline.recovery_started is None
    tripped = run.record("aborted", abort.reason)["guardrails"]["tripped"]
    assert tripped["guardrail"] == FLOOR.describe() and tripped["heal_s_after_trip"] < HEAL_WITHIN_S
    run.notes.append(f"guardrail tripped at +{after_injection:.2f} s after the injection, fault healed "
                     f"{abort.healed - abort.trip.when:.2f} s after the trip")
