"""Summary and report generation for a run of 30 records, and the trend (and gate) over 1,000 runs.

    summary     SummaryWriter: a run's 30 records added one by one (the file is rewritten after each, as in a run)
    reports     the end of a run (reports.report_plugin.write_reports): the trend line, 30 incident reports and the
                HTML report, with a timeline plot per record from its history (6,000 ops each)
    gate        the CI gate over the run of 30 records, against a baseline run
    trend       the rows of 1,000 archived runs (runs/<time>/summary.json, 30 records each), or of their
                trend.jsonl (30,000 lines); and the HTML report of a run whose trend holds all of them
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from benchmarks.runs import SCENARIOS, write_archive, write_latest
from reports.gate import gate, load_summary
from reports.html import TREND_FIELDS, collect_trend, trend_rows, write_html_report
from reports.report_plugin import write_reports
from reports.summary import SummaryWriter

RUNS = 1_000
RECORDS = 2 * SCENARIOS


@dataclass(frozen=True)
class Reports:
    root: Path
    latest: Path   # reports/latest/summary.json, with histories
    archive: Path  # reports/runs/ of RUNS earlier runs
    trend: Path    # reports/history/trend.jsonl of those runs


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Reports:
    root = tmp_path_factory.mktemp("reports")
    archive = write_archive(root, RUNS)
    latest = write_latest(root, RUNS)
    trend = root / "history" / "trend.jsonl"
    trend.parent.mkdir(parents=True)
    with trend.open("w", encoding="utf-8") as handle:
        for path in sorted(archive.glob("*/summary.json")):
            for row in trend_rows(load_summary(path)):
                handle.write(json.dumps({k: row.get(k) for k in TREND_FIELDS}, separators=(",", ":")) + "\n")
    return Reports(root, latest, archive, trend)


def test_summary_of_30_records(benchmark: Any, reports: Reports, tmp_path: Path) -> None:
    records = load_summary(reports.latest)["scenarios"]
    benchmark.group = "reports"

    def write() -> SummaryWriter:
        writer = SummaryWriter(tmp_path / "summary.json", driver="local")
        for record in records:
            writer.add(record)
        return writer

    written = benchmark(write)
    assert len(load_summary(written.path)["scenarios"]) == RECORDS


def test_end_of_run_reports_of_30_records(benchmark: Any, reports: Reports, tmp_path: Path) -> None:
    benchmark.group = "reports"
    trend = tmp_path / "trend.jsonl"
    lines = benchmark.pedantic(lambda: write_reports(reports.latest, trend_path=trend), rounds=2, iterations=1)
    html = (reports.latest.parent / "report.html").read_text()
    assert html.count('<img class="plot" alt="timeline of') == RECORDS, lines
    assert len(list((reports.latest.parent / "incidents").glob("*.md"))) == RECORDS


def test_gate_of_30_records_against_a_baseline(benchmark: Any, reports: Reports) -> None:
    benchmark.group = "reports"
    baseline = sorted(reports.archive.iterdir())[-1]
    result = benchmark(lambda: gate(reports.latest, baseline))
    assert result.passed and len(result.rows) == RECORDS, result.problems


def test_trend_of_1000_archived_runs(benchmark: Any, reports: Reports, tmp_path: Path) -> None:
    benchmark.group = "trend of 1,000 runs"
    rows = benchmark.pedantic(lambda: collect_trend(reports.latest, runs_dir=reports.archive,
                                                    trend_path=tmp_path / "none.jsonl"), rounds=3, iterations=1)
    assert len(rows) == (RUNS + 1) * RECORDS


def test_trend_of_1000_runs_from_trend_jsonl(benchmark: Any, reports: Reports, tmp_path: Path) -> None:
    benchmark.group = "trend of 1,000 runs"
    rows = benchmark.pedantic(lambda: collect_trend(reports.latest, runs_dir=tmp_path / "none",
                                                    trend_path=reports.trend), rounds=3, iterations=1)
    assert len(rows) == (RUNS + 1) * RECORDS


def test_html_report_with_a_trend_of_1000_runs(benchmark: Any, reports: Reports, tmp_path: Path) -> None:
    """The report of the last archived run (no histories: what is timed is the trend), over all 1,000 runs."""
    benchmark.group = "trend of 1,000 runs"
    last = sorted(reports.archive.iterdir())[-1] / "summary.json"
    alone = tmp_path / "latest" / "summary.json"
    alone.parent.mkdir()
    shutil.copy(last, alone)
    out = tmp_path / "report.html"
    benchmark.pedantic(lambda: write_html_report(alone, out, runs_dir=reports.archive,
                                                 trend_path=tmp_path / "none.jsonl"), rounds=3, iterations=1)
    assert 'alt="MTTD and RTO per scenario across runs"' in out.read_text()
