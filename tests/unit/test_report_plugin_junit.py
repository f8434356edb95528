"""reports.report_plugin: the scenario's figures as JUnit <property> elements (in a small inner pytest session with
--junitxml), and metrics.om beside the other reports at session end."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from reports.report_plugin import junit_properties, write_reports
from tests.data.sample import install_sample, record

pytest_plugins = ["pytester"]


def test_junit_properties_of_a_record() -> None:
    flaky = record("7.1", "pass", mttd=0.5, rto=None, attempts=[{"verdict": "fail"}, {"verdict": "pass"}],
                   driver="AttachDriver", started="2026-12-08T02:08:07+00:00", duration_s=31.6)
    assert junit_properties(flaky) == [
        ("aarya.scenario", "7.1"), ("aarya.control", ""), ("aarya.driver", "attach"), ("aarya.verdict", "flaky"),
        ("aarya.mttd_s", 0.5), ("aarya.orders_judged", 5.0), ("aarya.started", "2026-12-08T02:08:07+00:00"),
        ("aarya.duration_s", 31.6), ("aarya.attempts", 2)]


def test_the_figures_reach_the_junit_xml_from_the_teardown(pytester: pytest.Pytester) -> None:
    # the chaos fixture of fixtures/plugin.py announces the record in its teardown, as this fixture does
    pytester.makepyfile('''
        import pytest

        @pytest.fixture
        def chaos(request):
            yield
            record = {"id": "1.1", "name": "PostgreSQL primary crash", "control": None, "verdict": "pass",
                      "driver": "LocalDriver", "measured": {"mttd_s": 0.41, "rto_s": 6.35, "acknowledged_orders": 176},
                      "started": "2026-12-07T23:05:44+00:00", "duration_s": 27.6}
            request.config.hook.pytest_aarya_scenario_finished(run=None, record=record)

        def test_postgres_crash(chaos):
            pass

        def test_unit():
            pass
    ''')
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_inprocess("-p", "no:locust", "-p", "no:cacheprovider", "-p", "fixtures.plugin",
                                          "-p", "reports.report_plugin", f"--junitxml={junit}")
    result.assert_outcomes(passed=2)
    cases = {case.get("name"): case for case in ET.parse(junit).getroot().iter("testcase")}
    properties = {p.get("name"): p.get("value") for p in cases["test_postgres_crash"].iter("property")}
    assert properties == {"aarya.scenario": "1.1", "aarya.control": "", "aarya.driver": "local",
                          "aarya.verdict": "pass", "aarya.mttd_s": "0.41", "aarya.rto_s": "6.35",
                          "aarya.orders_judged": "176.0", "aarya.started": "2026-12-07T23:05:44+00:00",
                          "aarya.duration_s": "27.6"}
    assert list(cases["test_unit"].iter("property")) == []


def test_write_reports_writes_metrics_om(tmp_path: Path) -> None:
    summary_path = install_sample(tmp_path, earlier=False)
    lines = write_reports(summary_path)
    metrics = summary_path.parent / "metrics.om"
    assert f"metrics: {metrics}" in lines
    names = {f.name for f in text_string_to_metric_families(metrics.read_text())}
    assert {"aarya_chaos_mttd_seconds", "aarya_chaos_rto_seconds", "aarya_chaos_verdict"} <= names


def test_a_rerun_says_flaky_once_in_the_junit_xml(pytester: pytest.Pytester) -> None:
    """pytest-rerunfailures runs the same item again: its properties are the merged record's, not two sets."""
    pytester.makepyfile('''
        import pytest

        ATTEMPTS = []

        @pytest.fixture
        def chaos(request):
            ATTEMPTS.append(1)
            attempt = len(ATTEMPTS)
            yield attempt
            verdict = "fail" if attempt == 1 else "pass"
            record = {"id": "2.2", "control": None, "verdict": verdict, "reason": "missed 1 check(s)" * (attempt == 1),
                      "attempt": attempt, "driver": "LocalDriver", "measured": {"mttd_s": 0.2, "rto_s": 5.0 + attempt}}
            request.config.hook.pytest_aarya_scenario_finished(run=None, record=record)

        def test_redis(chaos):
            assert chaos > 1
    ''')
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_inprocess("-p", "no:locust", "-p", "no:cacheprovider", "-p", "fixtures.plugin",
                                          "-p", "reports.report_plugin", "-p", "rerunfailures", "--reruns", "1",
                                          f"--junitxml={junit}")
    assert result.parseoutcomes() == {"passed": 1, "rerun": 1}
    cases = [case for case in ET.parse(junit).getroot().iter("testcase") if case.get("name") == "test_redis"]
    properties = [(p.get("name"), p.get("value")) for p in cases[-1].iter("property")]
    names = [name for name, _ in properties]
    assert len(names) == len(set(names)), properties
    assert ("aarya.verdict", "flaky") in properties and ("aarya.rto_s", "7.0") in properties
    assert ("aarya.attempts", "2") in properties
