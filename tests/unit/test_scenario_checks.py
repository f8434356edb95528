"""The scenario files' own checks (scenarios/*.py) on literal histories and literal inputs: each one failing
on the regression it stands for, and holding where it may. Here: the fakes every area shares, the checks of
scenarios/common.py, and the engine's `recovery_procedure_completed`; the other areas are in
test_scenario_checks_<area>.py.

A `FakeRun` holds only what those checks read of a ScenarioRun: the history (records, paired into ops), the
timeline, the targets, the figures (`measured`), the notes and, where a check asks the driver, a stack.
Its default timeline: injected at 10 s, landed 10.5, recovery started 20, restored 25, healed 30; so the fault
window (scenarios.common.fault_window) is [10, 25).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fixtures.heal import HealRegistry
from fixtures.scenario import ScenarioFailed, ScenarioRun, Targets, Timeline
from load.history import Op, Outcome, Record
from scenarios.common import answers_stayed_fast, failures_were_defined
from stack.config import StackConfig
from stack.drivers.base import ComponentStatus
from stack.drivers.fake import FakeDriver
from tests.unit.test_checks_history import WALL0, Records, call, calls, every, history, hung, invoke

_seq = itertools.count(1)


def answer(f: str, t: float, outcome: Outcome = "ok", *, status: int | None = None, latency: float = 10.0,
           error: str | None = None, value: Mapping[str, Any] | None = None,
           asks: Mapping[str, Any] | None = None) -> list[Record]:
    """An op invoked at t that completes `latency` ms later with `outcome`, the HTTP `status`, `error` and
    `value` (test_checks_history.call, with what a status-reading check needs)."""
    op_id = f"answer-{next(_seq)}"
    end = t + latency / 1000
    return [invoke(op_id, f, t, asks), Record(outcome, f, WALL0 + end, end, id=op_id, process="w1",
                                              latency_ms=latency, status=status, error=error, value=value)]


def event(f: str, t: float, **value: Any) -> Record:
    """A timeline event of the scenario at t."""
    return Record("event", f, WALL0 + t, t, process="scenario", value=value or None)


def timeline(**moments: float | None) -> Timeline:
    base: dict[str, float | None] = {"steady": 9.0, "injected": 10.0, "landed": 10.5, "recovery_started": 20.0,
                                     "restored": 25.0, "healed": 30.0}
    return Timeline(**{**base, **moments})


@dataclass
class FakeRun:
    """What the scenario checks read of a ScenarioRun (see the module docstring)."""

    recorded: Records = ()
    timeline: Timeline = field(default_factory=timeline)
    targets: Targets = field(default_factory=Targets)
    measured: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stack: Any = None

    def records(self) -> list[Record]:
        return _flat(self.recorded)

    def ops(self) -> list[Op]:
        return history(self.recorded)

    def mono_of(self, wall: float) -> float:
        return wall  # the literal histories' times are both


def _flat(records: Records) -> list[Record]:
    if isinstance(records, Record):
        return [records]
    return [r for item in records for r in _flat(item)]


class FakeStack:
    """A driver as far as the checks ask one: its config, `status()` with the given pids (a component with a
    pid is running and ready), and whatever else a test gives it (`sql`, `grep_logs`, ...)."""

    def __init__(self, pids: Mapping[str, int | None] | None = None, **attributes: Any) -> None:
        self.config = StackConfig()
        self.pids = dict(pids or {})
        for name, value in attributes.items():
            setattr(self, name, value)

    def status(self, probe: bool = False) -> list[ComponentStatus]:
        return [ComponentStatus(name, pid is not None, pid, f"fake://{name}", ready=pid is not None)
                for name, pid in self.pids.items()]


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
