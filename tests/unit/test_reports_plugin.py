"""reports.report_plugin: at session end, report.html, one incident per record, and the trend lines."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from reports.report_plugin import write_reports
from tests.data.sample import SAMPLE_RUN, install_sample

REPO = Path(__file__).resolve().parents[2]
INCIDENTS = ["1.1-test_postgres_crash.md", "1.1-test_postgres_crash_control_without_restart.md",
             "2.2-test_redis_connection_failure.md", "2.2-test_redis_connection_failure_control_without_restart.md",
             "3.2-test_commerce_unavailable.md", "3.2-test_commerce_unavailable_control_without_restart.md"]


def test_write_reports_writes_the_page_the_incidents_and_the_trend_once(tmp_path: Path) -> None:
    summary_path = install_sample(tmp_path)
    lines = write_reports(summary_path)
    latest = summary_path.parent
    assert (latest / "report.html").is_file()
    assert sorted(p.name for p in (latest / "incidents").iterdir()) == INCIDENTS
    trend = tmp_path / "reports" / "history" / "trend.jsonl"
    assert len(trend.read_text().splitlines()) == 6
    assert lines[0] == f"trend: 6 line(s) appended to {trend}"
    assert lines[-1] == f"report: {latest / 'report.html'}"
    write_reports(summary_path)  # a second time: same files, no new trend lines
    assert len(trend.read_text().splitlines()) == 6
    assert json.loads((latest / "summary.json").read_text())["schema"] == 1  # the summary is left as it was


CONFTEST = '''
import shutil
from pathlib import Path
import pytest

pytest_plugins = ["reports.report_plugin"]


def pytest_addoption(parser):  # fixtures/plugin.py adds this option in the suite
    parser.addoption("--reports-dir", type=Path, default=Path("reports/latest"))


@pytest.fixture
def chaos_run(pytestconfig):
    """Stands for the scenarios: writes the run's summary.json and artifacts."""
    target = pytestconfig.getoption("--reports-dir")
    shutil.copytree({sample!r}, target, dirs_exist_ok=True)
    (target / "summary.json").touch()
'''

TEST = '''
def test_scenario(chaos_run):
    pass


def test_unit():
    pass
'''


def run_session(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(CONFTEST.format(sample=str(SAMPLE_RUN)))
    (tmp_path / "test_run.py").write_text(TEST)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:locust", *args],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=120)


def test_a_session_that_ran_scenarios_writes_the_reports(tmp_path: Path) -> None:
    done = run_session(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    latest = tmp_path / "reports" / "latest"
    assert "aarya-chaos reports" in done.stdout
    assert f"report: {latest / 'report.html'}" in done.stdout
    assert (latest / "report.html").read_text().count("data:image/png;base64,") == 1  # one history in the sample
    assert len(list((latest / "incidents").glob("*.md"))) == 6
    assert len((tmp_path / "reports" / "history" / "trend.jsonl").read_text().splitlines()) == 6


def test_a_session_that_did_not_write_the_summary_leaves_the_reports_alone(tmp_path: Path) -> None:
    latest = tmp_path / "reports" / "latest"
    shutil.copytree(SAMPLE_RUN, latest)
    os.utime(latest / "summary.json", (1_000_000_000, 1_000_000_000))  # an earlier run's
    done = run_session(tmp_path, "-k", "test_unit")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "aarya-chaos reports" not in done.stdout
    assert not (latest / "report.html").exists() and not (latest / "incidents").exists()
    assert not (tmp_path / "reports" / "history").exists()


def test_a_broken_summary_is_reported_not_raised(tmp_path: Path) -> None:
    latest = tmp_path / "reports" / "latest"
    latest.mkdir(parents=True)
    (latest / "summary.json").write_text("{not json")
    soon = time.time() + 60  # as if the session had written it
    os.utime(latest / "summary.json", (soon, soon))
    done = run_session(tmp_path, "-k", "test_unit")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reports not written: summary" in done.stdout and "is not JSON" in done.stdout
    assert (latest / "summary.json").read_text() == "{not json"
