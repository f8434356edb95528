"""Faults on a fake driver: they prove they landed, and they always heal."""

from __future__ import annotations

import signal

import pytest

from aarya_chaos.errors import FaultError
from fixtures.detect.probes import pg_isready_fails
from fixtures.faults.base import applied
from fixtures.faults.process import ProcessKill
from fixtures.heal import HealRegistry
from stack.drivers.fake import FakeDriver


def test_a_kill_lands_with_the_exit_status_and_heals_by_restarting() -> None:
    stack, registry = FakeDriver(), HealRegistry()
    with applied(ProcessKill(stack, "postgres"), registry=registry) as evidence:
        assert evidence.facts["exit_status"] == 137
        assert "137" in evidence.summary
        assert pg_isready_fails(stack)() is not None
        assert registry.pending() == ["kill postgres with SIGKILL"]
    assert stack.running["postgres"]
    assert stack.calls == [("kill", "postgres"), ("restart", "postgres")]
    assert registry.pending() == []


def test_a_fault_heals_when_the_body_raises() -> None:
    stack, registry = FakeDriver(), HealRegistry()
    with pytest.raises(RuntimeError, match="boom"):
        with applied(ProcessKill(stack, "redis"), registry=registry):
            raise RuntimeError("boom")
    assert stack.running["redis"] and registry.pending() == []


def test_a_fault_that_does_not_land_is_an_error_and_still_heals() -> None:
    stack = FakeDriver(dies_on_kill=False)
    with pytest.raises(FaultError, match="did not land"):
        with applied(ProcessKill(stack, "commerce"), registry=HealRegistry(), landed_timeout_s=0.3):
            pytest.fail("the body must not run when the fault did not land")
    assert stack.calls[0] == ("kill", "commerce")


def test_heal_is_idempotent_after_the_recovery_already_restarted() -> None:
    stack = FakeDriver()
    with applied(ProcessKill(stack, "postgres", signal.SIGKILL), registry=HealRegistry()):
        stack.restart("postgres")  # the runbook's recovery
    assert stack.calls.count(("restart", "postgres")) == 1


def test_heal_all_runs_newest_first_and_survives_a_failing_undo() -> None:
    registry, order = HealRegistry(), []
    registry.push("first", lambda: order.append("first"))
    registry.push("broken", lambda: 1 / 0)
    registry.push("last", lambda: order.append("last"))
    handles = registry.heal_all()
    assert order == ["last", "first"]
    assert [h.error is not None for h in handles] == [False, True, False]
    assert registry.heal_all() == []


def test_discharge_runs_once() -> None:
    registry, calls = HealRegistry(), []
    handle = registry.push("x", lambda: calls.append(1))
    registry.discharge(handle)
    registry.discharge(handle)
    registry.heal_all()
    assert calls == [1]
