"""A compiled scenario file played on the engine, in the runbook's order: steady state, prepare, inject
(and prove it landed), detect, expect, recover, judge the recovery (before the fault's own undo), verify.
The same ScenarioRun, faults and checkers as a Python scenario; only the order of the calls comes from
the file."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from checks.verdict import Check
from fixtures.detect.probes import Signal, all_of
from fixtures.faults.base import Fault, Together
from fixtures.scenario import ScenarioRun
from scenarios.as_data.blocks import Ref, Refs
from scenarios.as_data.spec import Call, ScenarioSpec, block_parameters


def _params(call: Call, refs: Refs) -> dict[str, Any]:
    """The call's parameters, each `$name` of a Ref parameter replaced by the value `as: name` made."""
    kinds = block_parameters(call.block)
    return {key: refs[value[1:]] if kinds[key][0] == Ref else value for key, value in call.params.items()}


def _make(call: Call, run: ScenarioRun, refs: Refs) -> Any:
    value = call.block.make(run, refs, **_params(call, refs))
    if call.ref:
        refs[call.ref] = value
    return value


def _claim(call: Call, refs: Refs) -> Callable[[ScenarioRun], Check]:
    def claim(run: ScenarioRun) -> Check:
        return call.block.make(run, refs, **_params(call, refs))  # type: ignore[no-any-return]

    claim.__name__ = call.block.name
    return claim


def _steps(calls: list[Call], run: ScenarioRun, refs: Refs) -> None:
    for call in calls:
        _make(call, run, refs)


def _fault(spec: ScenarioSpec, run: ScenarioRun, refs: Refs) -> Fault:
    faults = [_make(call, run, refs) for call in spec.inject]
    return faults[0] if len(faults) == 1 else Together(*faults)


def _signal(spec: ScenarioSpec, run: ScenarioRun, refs: Refs) -> Signal:
    signals = [_make(call, run, refs) for call in spec.detect]
    return signals[0] if len(signals) == 1 else all_of(*signals)


def play(spec: ScenarioSpec, run: ScenarioRun) -> None:
    refs: Refs = {}
    run.steady_state()
    _steps(spec.prepare, run, refs)
    signal = _signal(spec, run, refs)  # made before the injection: a log signal counts only new lines
    fault = _fault(spec, run, refs)
    with ExitStack() as around:
        for call in spec.around:
            refs[call.ref or call.block.name] = around.enter_context(_make(call, run, refs))
        with run.inject(fault), ExitStack() as during:
            for call in spec.during:
                refs[call.ref or call.block.name] = during.enter_context(_make(call, run, refs))
            run.detect(spec.detect_name, signal, timeout_s=spec.detect_timeout_s)
            _steps(spec.after_detect, run, refs)
            expected = [run.expect(e.name, _make(e.condition, run, refs), timeout_s=e.within_s, target=e.target)
                        for e in spec.expect]
            run.recover(spec.recover_procedure, lambda: _steps(spec.recover, run, refs),
                        removes_fault=spec.removes_fault)
            run.judge_recovery(*(_claim(call, refs) for call in spec.judge_recovery))
    run.notes.extend(spec.notes)
    run.verify(*expected, *(_claim(call, refs) for call in spec.verify))
