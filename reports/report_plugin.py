"""pytest plugin: at the end of a session that ran scenarios, write the reports for people.

    <reports dir>/report.html                 the HTML report (reports.html), self-contained
    <reports dir>/incidents/<id>-<test>.md    one incident report per record (reports.incident)
    <reports dir>/metrics.om                  the run's figures as OpenMetrics (reports.openmetrics)
    <parent>/history/trend.jsonl              this run's trend lines, appended once (reports.html.append_trend)

and, in the JUnit XML (`--junitxml`), each scenario test's figures as <property> elements (`aarya.mttd_s`,
`aarya.rto_s`, `aarya.verdict`, `aarya.orders_judged`, `aarya.started`, `aarya.duration_s`, `aarya.scenario`,
`aarya.control`, `aarya.driver`, and `aarya.attempts` after a re-run; a figure not measured has none) so CI dashboards can chart them: the record
comes with `pytest_aarya_scenario_finished`, during the test's teardown, and goes to `item.user_properties`,
which pytest copies into the teardown report that the JUnit writer reads.

`<reports dir>` is `--reports-dir` (default reports/latest) and `<parent>` its parent (reports/), where the
plugin of fixtures/plugin.py also archives earlier runs (`runs/<time>/`).

It acts only when this session wrote the summary (summary.json modified since the session started), so a
unit-test-only session leaves the previous run's reports alone. A failure here never fails the session:
it is printed in the terminal summary.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from reports.attempts import merge_attempt
from reports.gate import GateInputError, load_summary
from reports.gate_input import FLAKY, driver_of, figure, is_flaky, orders_judged
from reports.html import append_trend, default_trend_path, write_html_report
from reports.incident import write_incident_report
from reports.openmetrics import write_metrics

started_key = pytest.StashKey[float]()
outcome_key = pytest.StashKey[list[str]]()
PROPERTY_PREFIX = "aarya."
record_key = pytest.StashKey[dict[str, Any]]()  # the item's last scenario record (merged over its attempts)
_running: list[pytest.Item] = []  # the test being run (its scenario record arrives during its teardown)


def reports_dir(config: pytest.Config) -> Path | None:
    try:
        value = config.getoption("--reports-dir")
    except ValueError:  # fixtures.plugin (which adds the option) is not loaded
        return None
    return Path(value).resolve() if value is not None else None


def write_reports(summary_path: Path, *, trend_path: Path | None = None) -> list[str]:
    """Write report.html, the incidents and the trend lines for `summary_path`; return what happened."""
    lines: list[str] = []
    out_dir = summary_path.parent
    summary = load_summary(summary_path)
    trend_path = trend_path or default_trend_path(summary_path)
    try:
        added = append_trend(summary_path, trend_path)
        lines.append(f"trend: {added} line(s) appended to {trend_path}")
    except OSError as exc:
        lines.append(f"trend: could not append to {trend_path}: {exc}")
    written = 0
    for record in summary.get("scenarios") or []:
        try:
            write_incident_report(record, out_dir / "incidents", summary_dir=out_dir)
            written += 1
        except Exception as exc:  # one bad record does not stop the others
            lines.append(f"incident {record.get('id')}: {type(exc).__name__}: {exc}")
    lines.append(f"incidents: {written} report(s) in {out_dir / 'incidents'}")
    try:
        lines.append(f"metrics: {write_metrics(summary, out_dir)}")
    except (OSError, ValueError) as exc:
        lines.append(f"metrics: not written: {exc}")
    html = write_html_report(summary_path, out_dir / "report.html", out_dir / "scenarios", trend_path=trend_path)
    lines.append(f"report: {html}")
    return lines


def junit_properties(record: Mapping[str, Any]) -> list[tuple[str, object]]:
    """The record's figures as (name, value) JUnit properties; a figure not measured is left out."""
    verdict = FLAKY if is_flaky(record) else record.get("verdict")
    values: list[tuple[str, object]] = [
        ("scenario", record.get("id")), ("control", record.get("control") or ""), ("driver", driver_of(record)),
        ("verdict", verdict), ("mttd_s", figure(record, "mttd_s")), ("rto_s", figure(record, "rto_s")),
        ("orders_judged", orders_judged(record)), ("started", record.get("started")),
        ("duration_s", record.get("duration_s")), ("attempts", len(record.get("attempts") or []) or None)]
    return [(PROPERTY_PREFIX + name, value) for name, value in values if value is not None]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _running[:] = [item]


def pytest_runtest_logfinish() -> None:
    _running.clear()


@pytest.hookimpl(optionalhook=True)
def pytest_aarya_scenario_finished(run: object, record: dict[str, Any]) -> None:
    """The record of the running test's scenario: its figures go to the test's JUnit properties. A re-run
    (`--chaos-reruns`: the same item again, `attempt` > 1) is merged with the earlier attempt's record as
    summary.json merges it, so a pass after a failure says `flaky`, and its properties replace the earlier
    attempt's (the item's user_properties outlive an attempt)."""
    if not _running:
        return
    item = _running[0]
    earlier = item.stash.get(record_key, None)
    if earlier is not None and int(record.get("attempt") or 1) > 1:
        record = merge_attempt(earlier, record)
    item.stash[record_key] = record
    kept = [(name, value) for name, value in item.user_properties if not str(name).startswith(PROPERTY_PREFIX)]
    item.user_properties[:] = kept + junit_properties(record)


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[started_key] = time.time()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    directory = reports_dir(config)
    if directory is None:
        return
    summary_path = directory / "summary.json"
    started = config.stash.get(started_key, 0.0)
    try:
        if summary_path.stat().st_mtime + 1.0 < started:
            return  # not written by this session
    except FileNotFoundError:
        return
    try:
        config.stash[outcome_key] = write_reports(summary_path)
    except (GateInputError, OSError) as exc:
        config.stash[outcome_key] = [f"reports not written: {exc}"]
    except Exception as exc:  # a report never fails the session
        config.stash[outcome_key] = [f"reports not written: {type(exc).__name__}: {exc}"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = terminalreporter.config.stash.get(outcome_key, [])
    if lines:
        terminalreporter.section("aarya-chaos reports")
        for line in lines:
            terminalreporter.write_line(line)
