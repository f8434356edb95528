"""The fakes the scenario-check tests share (tests/unit/test_scenario_checks*.py): a `FakeRun` with what the
scenario checks read of a ScenarioRun, a `FakeStack` driver, and the builders of its records and timeline.

A `FakeRun` holds the history (records, paired into ops), the timeline, the targets, the figures (`measured`),
the notes and, where a check asks the driver, a stack. Its default timeline: injected at 10 s, landed 10.5,
recovery started 20, restored 25, healed 30; so the fault window (scenarios.common.fault_window) is [10, 25).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from checks.standard import Timeline
from fixtures.scenario import Targets
from load.history import Op, Outcome, Record
from stack.config import StackConfig
from stack.drivers.base import ComponentStatus
from tests.helpers.histories import WALL0, Records, flatten, history, invoke

_seq = itertools.count(1)


def answer(f: str, t: float, outcome: Outcome = "ok", *, status: int | None = None, latency: float = 10.0,
           error: str | None = None, value: Mapping[str, Any] | None = None,
           asks: Mapping[str, Any] | None = None) -> list[Record]:
    """An op invoked at t that completes `latency` ms later with `outcome`, the HTTP `status`, `error` and
    `value` (tests.helpers.histories.call, with what a status-reading check needs)."""
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
        return flatten(self.recorded)

    def ops(self) -> list[Op]:
        return history(self.recorded)

    def mono_of(self, wall: float) -> float:
        return wall  # the literal histories' times are both


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
