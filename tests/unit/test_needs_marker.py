"""`@pytest.mark.needs(Capability.X)` (fixtures/plugin.py) in small inner pytest sessions on the fake driver
(issue 11): a scenario needing a power the driver does not give is skipped with the driver's reason before
it starts anything, and recorded as skipped; one refused during the test is skipped before the injection
and stays an error after it, with a note in its record.

The inner sessions run in-process, as tests/unit/test_plugins.py's do; their conftest replaces the session's
`stack` with a FakeDriver that refuses the gateway."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest_plugins = ["pytester"]

ENGINE = ("-p", "no:locust", "-p", "no:cacheprovider", "-p", "fixtures.plugin")
REASON = "the fake has no gateway of the reference's"
CONFTEST = f"""
import pytest

from stack.drivers.base import Capability
from stack.drivers.fake import FakeDriver


@pytest.fixture(scope="session")
def stack():
    yield FakeDriver(refused={{Capability.GATEWAY: {REASON!r}}})
"""


def run(pytester: pytest.Pytester, tests: str) -> tuple[pytest.RunResult, dict[str, dict[str, Any]]]:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_scenarios=tests)
    reports = pytester.path / "reports"
    result = pytester.runpytest_inprocess(*ENGINE, "--reports-dir", str(reports), "-rs")
    summary = reports / "summary.json"
    records = json.loads(summary.read_text())["scenarios"] if summary.exists() else []
    return result, {r["id"]: r for r in records}


def test_a_scenario_needing_a_refused_power_is_skipped_with_the_reason_before_it_starts(
        pytester: pytest.Pytester) -> None:
    result, records = run(pytester, """
        import pytest
        from stack.drivers.base import Capability

        @pytest.mark.needs(Capability.GATEWAY)
        def test_needs_the_gateway(chaos):
            raise AssertionError("a scenario needing a refused power must not start")

        @pytest.mark.needs(Capability.RELEASES, Capability.POSTGRES_FILES)
        def test_needs_what_the_fake_gives(chaos):
            assert chaos.refused is None and chaos.run is None

        @pytest.mark.needs(Capability.POSTGRES_FILES)
        @pytest.mark.needs(Capability.GATEWAY)
        @pytest.mark.control
        def test_control_with_two_markers(chaos):
            raise AssertionError("must not start either")
    """)
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines([f"SKIPPED*--stack local: no gateway: {REASON}"])
    assert set(records) == {"test_needs_the_gateway", "test_control_with_two_markers"}
    record = records["test_needs_the_gateway"]
    assert record["verdict"] == "skipped" and record["control"] is None
    assert record["reason"] == f"--stack local: no gateway: {REASON}"
    assert record["name"].endswith("test_scenarios.py::test_needs_the_gateway")
    assert records["test_control_with_two_markers"]["control"] == "control"
    # the markers a gate selects by (`aarya-chaos gate --marker`), without pytest's and the engine's own
    assert record["markers"] == ["scenario"]
    assert records["test_control_with_two_markers"]["markers"] == ["control", "scenario"]


def test_the_record_of_a_refused_scenario_is_read_by_the_gate(pytester: pytest.Pytester) -> None:
    from reports.gate import judge, load_summary

    run(pytester, """
        import pytest
        from stack.drivers.base import Capability

        @pytest.mark.needs(Capability.GATEWAY)
        def test_needs_the_gateway(chaos):
            pass
    """)
    summary = load_summary(pytester.path / "reports" / "summary.json")
    strict = judge(summary)
    assert not strict.passed and REASON in strict.problems[0]
    assert judge(summary, allow_skip=True).passed


def test_a_power_refused_before_the_injection_skips_the_scenario(pytester: pytest.Pytester) -> None:
    result, records = run(pytester, """
        def test_refused_before_the_injection(chaos):
            chaos.stack.gateway_files()

        def test_refused_outside_a_scenario(stack):
            stack.gateway_files()
    """)
    result.assert_outcomes(skipped=1, failed=1)
    result.stdout.fnmatch_lines(["*CapabilityUnsupported: " + REASON, f"SKIPPED*--stack local: {REASON}"])
    assert records["test_refused_before_the_injection"]["verdict"] == "skipped"
    assert records["test_refused_before_the_injection"]["reason"] == f"--stack local: {REASON}"


def test_a_power_refused_after_the_injection_stays_an_error_with_a_note(pytester: pytest.Pytester) -> None:
    result, records = run(pytester, """
        import time
        from fixtures.scenario import ScenarioRun, Targets

        def test_refused_after_the_injection(chaos, tmp_path):
            run = ScenarioRun("9.9", "refused after the injection", Targets(), chaos.stack, tmp_path / "out",
                              chaos.registry)
            run.prober.start()
            chaos.run = run
            run.timeline.injected = time.monotonic()
            chaos.stack.reload_gateway()
    """)
    result.assert_outcomes(failed=1)
    record = records["9.9"]
    assert record["verdict"] == "error" and REASON in record["reason"]
    assert any("refused a power after the injection" in note and REASON in note for note in record["notes"])


def test_a_needs_marker_without_a_capability_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result, _ = run(pytester, """
        import pytest

        @pytest.mark.needs("gateway")
        def test_misdeclared(chaos):
            pass
    """)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "takes Capability members" in result.stderr.str() + result.stdout.str()
