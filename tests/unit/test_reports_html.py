"""reports.html and reports.plots on the sample run: a self-contained page, plots, trends across runs."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from load.history import ScenarioHistory, history_dir
from reports.gate import GateInputError
from reports.html import append_trend, collect_trend, read_trend, render_html, write_html_report
from reports.plots import timeline_png, trend_png
from tests.data.sample import (SAMPLE_RUN, SAMPLE_SUMMARY, WITH_HISTORY, install_sample, record, sample_record,
                               summary, write_json)

PNG = b"\x89PNG\r\n\x1a\n"
IMG = '<img class="plot"'


def images(page: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_the_report_is_one_self_contained_file(tmp_path: Path) -> None:
    summary_path = install_sample(tmp_path)
    out = write_html_report(summary_path, tmp_path / "out" / "report.html")
    assert out == tmp_path / "out" / "report.html"
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # nothing is fetched: no stylesheet or script, every src/href is inline data or an anchor
    assert "<link" not in page and "<script" not in page and "@import" not in page
    assert re.findall(r'(?:src|href)="(?!data:image/png;base64,|#)', page) == []
    assert not re.search(r"url\(\s*['\"]?(?!data:)", page)
    assert '<img class="plot" alt="timeline of 3.2' in page
    assert '<img class="plot" alt="MTTD and RTO per scenario across runs" src="data:image/png;base64,' in page
    for png in images(page):
        assert png.startswith(PNG)
    assert list(out.parent.iterdir()) == [out]  # no side files (and no leftover temporary file)


def test_every_scenario_is_in_the_table_with_its_verdict_and_figures(tmp_path: Path) -> None:
    page = write_html_report(install_sample(tmp_path), tmp_path / "report.html").read_text()
    for sid, name in (("1.1", "PostgreSQL primary crash"), ("2.2", "Redis connection failure"),
                      ("3.2", "Commerce service unavailable")):
        assert page.count(f'">{sid}</a></td><td>{name}</td>') == 2  # the scenario and its control
    assert page.count('<span class="badge v-pass">pass</span>') >= 6
    assert page.count('<span class="control">skip-recovery</span>') >= 3
    assert "Gate: PASSED — 3 scenario record(s) passed, 3 control(s) bit" in page
    assert '2.37 s</span> <span class="muted">/ 120 s</span>' in page  # 1.1 RTO against its target
    for check in ("checkout_works_after_recovery", "breaker_opened_during_the_outage", "restored_within_rto_target"):
        assert check in page
    assert "commerce (pid 21579) exited with status 137 (killed by SIGKILL)" in page  # evidence
    assert "simulated shoppers who saw an error: <strong>8 of 8</strong>" in page  # impact from the history


def test_scenarios_without_a_history_say_so(tmp_path: Path) -> None:
    page = write_html_report(install_sample(tmp_path, earlier=False), tmp_path / "report.html").read_text()
    assert page.count("No history to plot") == 5
    assert page.count(IMG) == 1  # the one scenario with a history; no trend plot from a single run
    assert "Trends appear from the second run on (runs known: 1" in page


def test_history_root_points_at_the_scenario_directories(tmp_path: Path) -> None:
    root = tmp_path / "copy"
    (root / WITH_HISTORY).mkdir(parents=True)
    for sub in ("history", "load"):
        (root / WITH_HISTORY / sub).symlink_to(SAMPLE_RUN / "scenarios" / WITH_HISTORY / sub)
    out = write_html_report(SAMPLE_SUMMARY, tmp_path / "r.html", root, runs_dir=tmp_path / "no-runs",
                            trend_path=tmp_path / "no-trend.jsonl")
    page = out.read_text()
    assert page.count('alt="timeline of') == 1
    empty = write_html_report(SAMPLE_SUMMARY, tmp_path / "r2.html", tmp_path / "empty",
                              runs_dir=tmp_path / "no-runs", trend_path=tmp_path / "no-trend.jsonl").read_text()
    assert 'alt="timeline of' not in empty


def test_trends_across_archived_runs(tmp_path: Path) -> None:
    summary_path = install_sample(tmp_path)
    page = write_html_report(summary_path, tmp_path / "report.html").read_text()
    assert "Verdicts of the last 3 runs" in page
    assert "<th>11-28 15:45 UTC</th><th>11-28 15:46 UTC</th><th>11-28 15:53 UTC</th>" in page
    assert '<span class="badge v-error">error</span>' in page  # 2.2 in the first run
    trend_images = [png for png in images(page)]
    assert len(trend_images) == 2 and all(png.startswith(PNG) for png in trend_images)


def test_the_trend_file_gets_each_run_once(tmp_path: Path) -> None:
    summary_path = install_sample(tmp_path)
    trend = tmp_path / "reports" / "history" / "trend.jsonl"
    assert append_trend(summary_path) == 6
    assert append_trend(summary_path) == 0
    rows = [json.loads(line) for line in trend.read_text().splitlines()]
    assert len(rows) == 6
    assert rows[0] == {"run": "2026-11-28T15:53:06+00:00", "test": "test_redis_connection_failure", "id": "2.2",
                       "name": "Redis connection failure", "control": None, "verdict": "pass",
                       "mttd_s": 0.05763837699987562, "rto_s": 5.169, "rpo_s": 0.0}
    other = write_json(tmp_path / "other" / "latest" / "summary.json",
                       summary(record("1.1", rto=3.0), started="2026-11-29T10:00:00+00:00"))
    assert append_trend(other, trend) == 1
    with trend.open("a") as handle:
        handle.write('{"run": "torn li')  # a writer killed mid-line
    assert len(read_trend(trend)) == 7
    assert read_trend(tmp_path / "missing.jsonl") == []


def test_trend_rows_are_merged_from_the_trend_file_the_archives_and_this_run(tmp_path: Path) -> None:
    summary_path = install_sample(tmp_path)
    trend = tmp_path / "reports" / "history" / "trend.jsonl"
    write_json(trend, {"run": "2026-11-20T08:00:00+00:00", "test": "test_postgres_crash", "id": "1.1",
                       "name": "PostgreSQL primary crash", "control": None, "verdict": "pass", "mttd_s": 0.1,
                       "rto_s": 1.5, "rpo_s": 0.0})
    append_trend(summary_path)  # this run is now both in the file and in latest/: counted once
    (tmp_path / "reports" / "runs" / "broken").mkdir()
    (tmp_path / "reports" / "runs" / "broken" / "summary.json").write_text("{oops")  # skipped, not fatal
    rows = collect_trend(summary_path)
    runs = sorted({r["run"] for r in rows})
    assert runs == ["2026-11-20T08:00:00+00:00", "2026-11-28T15:45:25+00:00", "2026-11-28T15:46:34+00:00",
                    "2026-11-28T15:53:06+00:00"]
    assert len(rows) == 1 + 1 + 6 + 6
    assert trend_png(rows) is not None


def test_a_trend_needs_two_runs() -> None:
    rows = [{"run": "2026-11-28T15:53:06+00:00", "id": "1.1", "control": None, "verdict": "pass", "rto_s": 1.0}]
    assert trend_png(rows) is None
    assert trend_png([*rows, {**rows[0], "run": "2026-11-29T15:53:06+00:00", "rto_s": None, "verdict": "fail"}])


def test_a_missing_or_corrupt_summary_raises_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GateInputError, match="does not exist"):
        write_html_report(tmp_path / "summary.json", tmp_path / "report.html")
    (tmp_path / "summary.json").write_text("[")
    with pytest.raises(GateInputError, match="is not JSON"):
        write_html_report(tmp_path / "summary.json", tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()


def test_sparse_records_and_hostile_text_render_safely(tmp_path: Path) -> None:
    bare = {"id": "7.1", "verdict": "error", "control": None, "reason": "E   boom <b>bold</b>\nmore"}
    hostile = record("6.1", "fail", name="<script>alert(1)</script>",
                     checks=[{"name": "x", "passed": False, "measured": "<img src=x>", "target": None}],
                     extra={"attack_source": "<i>10.0.0.9</i>", "sessions_lost": 0})
    path = write_json(tmp_path / "latest" / "summary.json", summary(bare, hostile))
    page = write_html_report(path, tmp_path / "report.html").read_text()
    assert "<script>" not in page and "<img src=x>" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<h3>The scenario's own figures</h3>" in page and "&lt;i&gt;10.0.0.9&lt;/i&gt;" in page
    assert "Gate: FAILED — 2 problem(s)" in page
    assert "boom" in page


def test_an_empty_run_still_renders() -> None:
    page = render_html(summary(), Path("summary.json"))
    assert "no scenario record in this summary" in page
    assert "nothing was verified" in page


def test_the_history_maps_the_records_timeline_onto_its_clock() -> None:
    rec = sample_record()
    history = ScenarioHistory.load(history_dir(rec, summary_dir=SAMPLE_RUN))
    assert history is not None
    marks = history.marks(rec)
    assert list(marks) == ["injected", "landed", "detected", "recovery_started", "restored"]
    inject = history.first_event("inject")
    assert inject is not None and abs(marks["injected"] - inject.mono) < 0.01
    assert round(marks["restored"] - marks["injected"], 2) == round(rec["measured"]["rto_s"], 2)
    png = timeline_png(rec, history)
    assert png.startswith(PNG) and len(png) > 10_000


def test_history_lookup_prefers_the_summarys_neighbourhood(tmp_path: Path) -> None:
    rec = sample_record()  # its artifacts point where the run wrote them, under /work/main/reports/latest
    assert history_dir(rec, summary_dir=SAMPLE_RUN) == SAMPLE_RUN / "scenarios" / WITH_HISTORY / "history"
    assert history_dir(rec, history_root=tmp_path) is None  # with a root, nothing else is tried
    assert history_dir({"artifacts": ""}) is None
    assert ScenarioHistory.load(None) is None and ScenarioHistory.load(tmp_path) is None
