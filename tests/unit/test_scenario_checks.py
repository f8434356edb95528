"""The scenario files' own checks (scenarios/*.py) on literal histories and literal inputs: each one failing
on the regression it stands for, and holding where it may. Here: the checks of scenarios/common.py
and the engine's `recovery_procedure_completed`; the other areas are in test_scenario_checks_<area>.py. The
fakes every area shares (`FakeRun`, `FakeStack`, ...) are in tests/helpers/runs.py; a `FakeRun`'s default
timeline: injected at 10 s, landed 10.5, recovery started 20, restored 25, healed 30; so the fault window
(scenarios.common.fault_window) is [10, 25).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from fixtures.heal import HealRegistry
from fixtures import scenario as scenario_module
from fixtures.scenario import ScenarioFailed, ScenarioRun, Targets
from scenarios.common import answers_stayed_fast, failures_were_defined
from stack.drivers.fake import FakeDriver
from tests.helpers.histories import call, calls, every, hung
from tests.helpers.runs import FakeRun, answer


# -- scenarios/common.py ---------------------------------------------------------------------------------------

def test_no_request_hung_during_the_fault_fails() -> None:
    """A request that never completed, or answered past the bound, during the fault (a pool that waits)."""
    fast = calls("browse", every(10.0, 25.0, 1.0), latency=50.0)
    assert answers_stayed_fast(FakeRun([fast, call("browse", 5.0, latency=9000.0)]), 2000.0).passed  # before it
    never = answers_stayed_fast(FakeRun([fast, hung("browse", 12.0)]), 2000.0)
    assert not never.passed and never.measured == 1 and "browse: never completed" in never.detail
    slow = answers_stayed_fast(FakeRun([fast, call("checkout", 13.0, latency=2500.0)]), 2000.0)
    assert not slow.passed and "checkout: 2500.0 ms" in slow.detail


def test_no_request_hung_during_the_fault_fails_past_its_checkout_bound() -> None:
    """With a checkout bound: a checkout slower than it (payment waited on too long) fails, one within it
    holds, and every other request keeps the tighter bound."""
    assert answers_stayed_fast(FakeRun(call("checkout", 12.0, latency=3500.0)), 3000.0, 4250.0).passed
    assert not answers_stayed_fast(FakeRun(call("checkout", 12.0, latency=4500.0)), 3000.0, 4250.0).passed
    browse = answers_stayed_fast(FakeRun(call("browse", 12.0, latency=3500.0)), 3000.0, 4250.0)
    assert not browse.passed and "(checkout 4250 ms)" in browse.detail


def test_failures_were_defined_answers_fails() -> None:
    """A failure during the fault that was no defined answer: a 500, a dropped connection."""
    defined = [answer("browse", 12.0, "fail", status=503), answer("browse", 13.0, status=200),
               answer("browse", 26.0, "fail", status=500)]  # after the restoration: not judged here
    assert failures_were_defined(FakeRun(defined), {503}).passed
    undefined = failures_were_defined(FakeRun([defined, answer("browse", 14.0, "fail", status=500),
                                               answer("checkout", 15.0, "info", error="ReadTimeout")]), {503})
    assert not undefined.passed and undefined.measured == 2
    assert "browse -> 500" in undefined.detail and "checkout -> ReadTimeout" in undefined.detail


def test_failures_were_defined_with_no_answer_allowed_still_fails_on_an_undefined_status() -> None:
    """A platform with no gateway answers nothing while it is down: a refused connection is allowed, a 500
    still is not, and without the allowance the refused connection is a miss."""
    refused = [answer("order", 12.0, "info", error="ConnectError")]
    assert failures_were_defined(FakeRun(refused), {503}, no_answer_allowed=True).passed
    assert not failures_were_defined(FakeRun(refused), {503}).passed
    mixed = failures_were_defined(FakeRun([refused, answer("order", 13.0, "fail", status=500)]), {503},
                                  no_answer_allowed=True)
    assert (mixed.passed, mixed.measured) == (False, 1) and "order -> 500" in mixed.detail


# -- the engine: fixtures/scenario.py ----------------------------------------------------------------------------

def recovered(tmp_path: Path, action: Any) -> ScenarioRun:
    """A ScenarioRun on the fake driver that ran `action` as its recovery, then was verified."""
    run = ScenarioRun("9.9", "literal", Targets(mttd_s=15.0, rto_s=60.0), FakeDriver(), tmp_path, HealRegistry())
    try:
        run.timeline.injected = time.monotonic() - 1.0
        run.recover("the runbook's procedure", action, timeout_s=0.01)  # restoration: not waited for
        with pytest.raises(ScenarioFailed):  # nothing was detected or restored: the standard checks fail
            run.verify()
    finally:
        run.history.close()
    return run


def test_recovery_procedure_completed_fails(tmp_path: Path) -> None:
    """A runbook procedure that raised (a restart command that fails) is a failed check, not a harness error."""
    def broken() -> None:
        raise RuntimeError("pg_ctl: could not start server")

    failed = {c.name: c for c in recovered(tmp_path / "broken", broken).checks}["recovery_procedure_completed"]
    assert not failed.passed and failed.measured == "RuntimeError" and "could not start server" in failed.detail
    assert (tmp_path / "broken" / "recovery-error.txt").is_file()
    fine = recovered(tmp_path / "fine", lambda: None)
    assert "recovery_procedure_completed" not in {c.name for c in fine.checks}
    assert "recovery_applied" in {r.f for r in fine.records()}


def held_run(tmp_path: Path, counts: list[int], monkeypatch: pytest.MonkeyPatch) -> ScenarioRun:
    """A ScenarioRun whose load has acknowledged `counts[i]` writes at its i-th look (the last one repeats)."""
    monkeypatch.setattr(scenario_module, "POLL_S", 0.001)
    monkeypatch.setattr(scenario_module, "WRITES_STALL_S", 0.05)
    run = ScenarioRun("9.9", "literal", Targets(min_writes_judged=150), FakeDriver(), tmp_path, HealRegistry())
    looks = iter(counts)
    last = [0]

    def acknowledged() -> int:
        last[0] = next(looks, last[0])
        return last[0]

    monkeypatch.setattr(run, "acknowledged_writes", acknowledged)
    return run


def test_a_short_run_holds_the_load_until_the_ledger_has_its_writes(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    run = held_run(tmp_path, [120, 130, 140, 151], monkeypatch)
    run.hold_for_acknowledged_writes()
    assert run.notes and "acknowledged writes: 151 (the ledger judges at least 150)" in run.notes[-1]
    run.history.close()


def test_the_hold_ends_when_acknowledgements_stop_and_the_bound_still_fails(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    run = held_run(tmp_path, [120, 125], monkeypatch)
    started = time.monotonic()
    run.hold_for_acknowledged_writes()
    assert time.monotonic() - started < 1.0 and "acknowledged writes: 125" in run.notes[-1]
    run.history.close()
    enough = held_run(tmp_path / "enough", [150], monkeypatch)
    enough.hold_for_acknowledged_writes()  # the bound already met: no hold, and no note saying there was one
    assert enough.notes == []
    enough.history.close()
    nothing = held_run(tmp_path / "none", [0], monkeypatch)
    nothing.hold_for_acknowledged_writes()  # a load that never wrote is not waited for
    assert nothing.notes == []
    nothing.history.close()
