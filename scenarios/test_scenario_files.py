"""The scenario files (scenarios/data/*.yaml), each compiled onto the engine and run with its controls.

A file that names a `twin` (the Python scenario it re-expresses) must give a record with the same checks
as the twin's record of this session (scenarios/conftest.py runs the files after the Python scenarios).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.plugin import expect_scenario_failure
from fixtures.sabotage import deployed
from scenarios.as_data.play import play
from scenarios.as_data.spec import Control, ScenarioSpec, check_against_stack, compile_scenario, held_for

DATA = Path(__file__).parent / "data"


def _cases(directory: Path) -> list[pytest.param]:  # type: ignore[valid-type]
    cases = []
    for path in sorted(directory.glob("*.yaml")):
        spec = compile_scenario(path)  # a bad file fails the collection with its line
        marks = [pytest.mark.scenario_file, pytest.mark.needs(*spec.needs)] + (
            [getattr(pytest.mark, spec.marker)] if spec.marker else [])
        cases.append(pytest.param(spec, None, id=spec.slug, marks=marks))
        cases += [pytest.param(spec, control, id=f"{spec.slug}-control-{control.name}",
                               marks=[*marks, pytest.mark.control, pytest.mark.needs(*control.needs)])
                  for control in spec.controls]
    return cases


def twin_checks(chaos, spec: ScenarioSpec, control: str | None) -> set[str] | None:
    """The check names of the twin's record in this session's summary, if it ran."""
    for record in chaos.summary.scenarios:
        if record["name"] == spec.twin and record["control"] == control and record["verdict"] in ("pass", "fail", "flaky"):
            return {check["name"] for check in record["checks"]}
    return None


def same_checks_as_twin(chaos, spec: ScenarioSpec, control: str | None) -> None:
    if spec.twin is None:
        return
    run = chaos.run
    twin = twin_checks(chaos, spec, control)
    if twin is None:
        run.notes.append(f"twin {spec.twin!r} did not run in this session: its checks were not compared")
        return
    mine = {check.name for check in run.checks}
    assert mine == twin, (f"{spec.path.name}: checks differ from the twin {spec.twin!r}: only here "
                          f"{sorted(mine - twin)}, only in the twin {sorted(twin - mine)}")
    run.notes.append(f"same {len(mine)} checks as the Python scenario {spec.twin!r}")


def run_control(chaos, spec: ScenarioSpec, control: Control) -> None:
    run = chaos.start(spec.id, spec.name, spec.targets, control=control.label,
                      restore_timeout_s=control.restore_timeout_s)
    with expect_scenario_failure() as failure:
        play(held_for(spec, control), run)
    failed = {check.name for check in failure.value.failed}
    assert set(control.must_fail) <= failed, f"control {control.name}: must fail {control.must_fail}, failed {failed}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The files of --scenario-dir (default scenarios/data), each with its controls."""
    if {"spec", "control"} <= set(metafunc.fixturenames):
        directory = metafunc.config.getoption("--scenario-dir") or DATA
        metafunc.parametrize(("spec", "control"), _cases(Path(directory)))


def test_scenario_file(chaos, spec: ScenarioSpec, control: Control | None) -> None:
    if chaos.target is not None:
        check_against_stack(spec, list(chaos.target.components), list(chaos.target.edges))
    else:
        check_against_stack(spec, chaos.stack.component_names(), [e.name for e in chaos.stack.config.edges()])
    if control is None:
        try:
            play(spec, chaos.start(spec.id, spec.name, spec.targets))
        finally:
            if chaos.run is not None and chaos.run.checks:
                same_checks_as_twin(chaos, spec, None)
        return
    if control.deploy is None:
        run_control(chaos, spec, control)
    else:
        component, release = control.deploy
        with deployed(chaos.stack, chaos.registry, component, release):
            run_control(chaos, spec, control)
    same_checks_as_twin(chaos, spec, control.label)
