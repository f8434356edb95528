"""reports.allure_plugin: the four steps of a scenario, reported after the fact into allure results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from allure_commons import model2
from allure_commons.reporter import AllureReporter

import reports.allure_plugin as plugin
from load.history import ScenarioHistory, history_dir, parse_iso
from reports.allure_plugin import plan_steps, report_steps
from tests.data.sample import SAMPLE_RUN, WITH_HISTORY, sample_record

REPO = Path(__file__).resolve().parents[2]
LOAD_DIR = SAMPLE_RUN / "scenarios" / WITH_HISTORY / "load"


def sample_steps(**kwargs: Any) -> list[plugin.StepPlan]:
    rec = sample_record()
    history = ScenarioHistory.load(history_dir(rec, summary_dir=SAMPLE_RUN))
    return plan_steps(rec, history, logs=lambda name: f"log of {name}\n", load_dir=LOAD_DIR, now=1_795_881_300.0,
                      **kwargs)


def test_four_steps_with_the_scenarios_times_and_statuses() -> None:
    steps = sample_steps()
    assert [s.name for s in steps] == ["inject: kill commerce with SIGKILL",
                                       "detect: curl -f http://127.0.0.1:8010/health fails",
                                       "recover: docker-compose restart commerce", "verify: 7 checks"]
    assert [s.status for s in steps] == ["passed"] * 4
    tl = sample_record()["timeline"]
    assert steps[0].start_ms == round(parse_iso(tl["injected"]) * 1000)  # type: ignore[operator]
    assert steps[0].stop_ms == round(parse_iso(tl["landed"]) * 1000)  # type: ignore[operator]
    assert steps[1].stop_ms == round(parse_iso(tl["detected"]) * 1000)  # type: ignore[operator]
    assert steps[2].stop_ms == round(parse_iso(tl["restored"]) * 1000)  # type: ignore[operator]
    assert steps[3].stop_ms == 1_795_881_300_000
    assert all(s.start_ms <= s.stop_ms for s in steps)
    assert steps[1].message == "MTTD 0.08 s (target 15 s)"
    assert steps[2].message == "RTO 0.64 s (target 60 s)"


def test_the_attachments_of_each_step() -> None:
    inject, detect, recover, verify = sample_steps()
    assert [a.name for a in inject.attachments] == ["evidence.json", "log: commerce (last 80 lines)"]
    assert json.loads(str(inject.attachments[0].body))["exit_status"] == 137
    assert inject.attachments[1].body == "log of commerce\n"
    assert [a.name for a in detect.attachments] == ["detection.txt", "history: scenario.jsonl (probes and events)"]
    assert [a.name for a in recover.attachments] == ["log: commerce (last 80 lines)"]
    names = [a.name for a in verify.attachments]
    assert names[:2] == ["checks.json", "timeline.png"]
    assert "history: load-22391.jsonl" in names
    assert {"load: locust_stats.csv", "load: locust_failures.csv"} <= set(names)
    png = next(a for a in verify.attachments if a.kind == "png")
    assert isinstance(png.body, bytes) and png.body.startswith(b"\x89PNG")
    assert all(a.path is None or a.path.is_file() for step in (detect, verify) for a in step.attachments)


def test_a_control_a_missing_log_and_a_scenario_that_never_started() -> None:
    control = sample_record("test_commerce_unavailable_control_without_restart")

    def logs(name: str) -> str:
        raise KeyError(name)

    steps = plan_steps(control, None, logs=logs, now=1_795_881_300.0)
    assert [s.name.split(":")[0] for s in steps] == ["inject", "detect", "recover", "verify"]
    assert steps[2].status == "failed" and steps[2].message == "steady state never came back"
    assert steps[3].status == "passed"
    assert steps[3].message == "control (skip-recovery): failed as it must: restored_within_rto_target"
    assert steps[0].attachments[1].body == "(no log: KeyError: 'commerce')"
    never = {"id": "2.2", "verdict": "error", "control": None, "timeline": {}, "reason": "E NotReady"}
    only = plan_steps(never, None, announced={"inject": (1_795_881_000.0, "inject: kill redis with SIGKILL")},
                      now=1_795_881_300.0)
    assert [(s.name, s.status, s.start_ms) for s in only] == [
        ("inject: kill redis with SIGKILL", "broken", 1_795_881_000_000)]


def test_steps_go_into_the_test_result_with_their_attachments() -> None:
    reporter = AllureReporter()
    test = model2.TestResult(name="test_commerce_unavailable", uuid="aarya-test-uuid", start=0, stop=0)
    reporter.schedule_test(test.uuid, test)
    try:
        assert report_steps(reporter, sample_steps(), test.uuid) == 4
    finally:
        reporter.drop_test(test.uuid)  # never reported anywhere
    assert [s.status for s in test.steps] == [model2.Status.PASSED] * 4
    assert test.steps[2].statusDetails.message == "RTO 0.64 s (target 60 s)"
    assert [p.name for p in test.steps[1].parameters] == ["MTTD", "target"]
    verify = test.steps[3]
    assert [a.name for a in verify.attachments][:2] == ["checks.json", "timeline.png"]
    assert verify.attachments[1].type == "image/png" and verify.attachments[1].source.endswith("-attachment.png")
    assert test.attachments == []


def test_the_hooks_do_nothing_without_allure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin, "_reporter", lambda: None)
    run = SimpleNamespace(out_dir=SAMPLE_RUN / "scenarios" / WITH_HISTORY, stack=None)
    plugin.pytest_aarya_before_step(run, "inject", "inject: x")  # type: ignore[arg-type]
    plugin.pytest_aarya_scenario_finished(run, sample_record())  # type: ignore[arg-type]
    assert plugin._announced == {}


CONFTEST = '''
import json
from pathlib import Path
from types import SimpleNamespace
import pytest

SAMPLE = Path({sample!r})
pytest_plugins = ["reports.allure_plugin"]


class Specs:  # what fixtures/plugin.py declares, under the names pytest delivers to plugins
    @pytest.hookspec
    def pytest_aarya_before_step(self, run, step, description): ...

    @pytest.hookspec
    def pytest_aarya_scenario_finished(self, run, record): ...


def pytest_addhooks(pluginmanager):
    pluginmanager.add_hookspecs(Specs)


class Stack:
    def logs(self, name, lines=100):
        return f"the last {{lines}} lines of {{name}}"


@pytest.fixture
def chaos(request):
    record = next(r for r in json.loads((SAMPLE / "summary.json").read_text())["scenarios"]
                  if r["artifacts"].endswith("/test_commerce_unavailable"))
    run = SimpleNamespace(out_dir=SAMPLE / "scenarios" / "test_commerce_unavailable", stack=Stack())
    yield run
    request.config.hook.pytest_aarya_scenario_finished(run=run, record=record)
'''

TEST = '''
def test_commerce_unavailable(chaos, pytestconfig):
    pytestconfig.hook.pytest_aarya_before_step(run=chaos, step="inject", description="inject: kill commerce")
'''


def run_pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(CONFTEST.format(sample=str(SAMPLE_RUN)))
    (tmp_path / "test_scenario.py").write_text(textwrap.dedent(TEST))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:locust", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_real_session_with_alluredir_gets_the_steps(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, "--alluredir", "results")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "aarya-chaos: allure steps on" in done.stdout
    results = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*-result.json")]
    assert len(results) == 1
    result = results[0]
    assert result["status"] == "passed"
    assert [s["name"].split(":")[0] for s in result["steps"]] == ["inject", "detect", "recover", "verify"]
    attached = {a["name"]: a["source"] for s in result["steps"] for a in s.get("attachments", [])}
    for name in ("timeline.png", "history: load-22391.jsonl", "load: locust_stats.csv",
                 "log: commerce (last 80 lines)"):
        assert (tmp_path / "results" / attached[name]).is_file(), name
    assert (tmp_path / "results" / attached["log: commerce (last 80 lines)"]).read_text() == \
        "the last 80 lines of commerce"
    labels = {(label["name"], label["value"]) for label in result["labels"]}
    assert ("feature", "3.2 Commerce service unavailable") in labels and ("story", "scenario") in labels
    assert [a["name"] for a in result["attachments"]] == ["incident report (markdown)"]


def test_allure_is_only_active_with_alluredir(pytestconfig: pytest.Config) -> None:
    if pytestconfig.option.allure_report_dir:
        pytest.skip("this session itself writes allure results")
    assert plugin._reporter() is None
    header = plugin.pytest_report_header(SimpleNamespace(option=SimpleNamespace(allure_report_dir="r"),  # type: ignore[arg-type]
                                                         hook=SimpleNamespace()))
    assert header == ["aarya-chaos: allure steps OFF: no `pytest_aarya_scenario_finished` hook is declared "
                      "(pytest ignores hook implementations whose names do not start with pytest_)"]
    assert plugin.pytest_report_header(pytestconfig) == []


def test_a_failing_report_never_fails_the_scenario(monkeypatch: pytest.MonkeyPatch) -> None:
    reporter = AllureReporter()
    test = model2.TestResult(name="test_x", uuid="aarya-broken-uuid", start=0, stop=0)
    reporter.schedule_test(test.uuid, test)

    def boom(*args: Any, **kwargs: Any) -> list[plugin.StepPlan]:
        raise RuntimeError("disk full")

    monkeypatch.setattr(plugin, "_reporter", lambda: reporter)
    monkeypatch.setattr(plugin, "plan_steps", boom)
    run = SimpleNamespace(out_dir=SAMPLE_RUN / "scenarios" / WITH_HISTORY, stack=None)
    try:
        plugin.pytest_aarya_scenario_finished(run, sample_record())  # type: ignore[arg-type]
    finally:
        reporter.drop_test(test.uuid)
    assert [a.name for a in test.attachments] == ["aarya-chaos: allure steps failed"]
    assert test.steps == []
