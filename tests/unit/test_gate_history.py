"""reports.history and reports.regressions: the history store, the baseline (median, MAD) and the regression rule
against it; the gate's --history, --record-history and --trend; an end-to-end run over real summaries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from reports.gate import EXIT_FAILED, EXIT_PASSED, main
from reports.gate_rules import PROFILES, Judging, judge_runs
from reports.history import MARKER, Baseline, baselines, literal_history, read_history, record_run
from reports.regressions import Comparison
from tests.data.sample import record, summary, write_json

RTOS = (10.0, 10.4, 9.8, 10.2, 10.1)  # median 10.1, MAD 0.1 -> spread 0.148, bound 10.1 + max(0.445, 1) = 11.1


def history_of(rtos: tuple[float, ...], sid: str = "1.1") -> list[Any]:
    return [summary(record(sid, mttd=1.0, rto=rto, driver="LocalDriver"), started=f"2026-12-0{n}T00:00:00+00:00")
            for n, rto in enumerate(rtos, 1)]


def judged(now_rto: float, rtos: tuple[float, ...] = RTOS, **judging: Any) -> Any:
    history = baselines(literal_history(*history_of(rtos)))
    now = summary(record("1.1", mttd=1.0, rto=now_rto, driver="LocalDriver"))
    return judge_runs([now], PROFILES["default"], Judging(history=history, history_runs=len(rtos), **judging))


def test_median_and_mad_spread_of_a_literal_history() -> None:
    base = Baseline("1.1", "local", "rto_s", RTOS)
    assert base.median == 10.1
    assert base.spread == pytest.approx(1.4826 * 0.1)
    comparison = Comparison("1.1", "x", "local", "rto_s", 11.0, base)
    assert comparison.bound == pytest.approx(11.1)  # the margin (1 s) is wider than 3 spreads (0.445 s)


def test_a_scenario_made_slower_on_purpose_is_a_regression_printed_with_its_baseline() -> None:
    result = judged(14.0)
    assert not result.passed
    [problem] = result.problems
    assert problem.startswith("regression: 1.1 Literal scenario on local: RTO 14 s > bound 11.1 s")
    assert "median 10.1 s, spread 0.148 s over the last 5 passing runs" in problem


def test_a_figure_inside_the_spread_is_not_a_regression() -> None:
    result = judged(11.0)
    assert result.passed, result.problems
    assert [c.status for c in result.comparisons] == ["ok", "ok"]


def test_a_wide_history_widens_the_bound_and_one_outlier_does_not() -> None:
    assert judged(14.0, (8.0, 12.0, 10.0, 9.0, 11.0)).passed  # spread 1.48: bound 14.4
    # one very slow run in the history: the MAD ignores it (the IQR or a standard deviation would not)
    assert not judged(14.0, (10.0, 10.4, 9.8, 10.2, 60.0)).passed


def test_fewer_runs_than_the_minimum_is_no_baseline_yet_and_never_fails() -> None:
    result = judged(99.0, (10.0, 10.1))
    assert result.passed
    assert {c.status for c in result.comparisons} == {"no baseline yet (2 of 3 passing runs)"}
    assert not judged(99.0, (10.0, 10.1), min_runs=2).passed


def test_only_passing_scenario_records_on_the_same_driver_make_the_baseline() -> None:
    runs = history_of(RTOS)
    runs.append(summary(record("1.1", "fail", rto=99.0, driver="LocalDriver"),
                        record("1.1", control="skip-recovery", rto=99.0, driver="LocalDriver"),
                        record("1.1", "flaky", rto=99.0, driver="LocalDriver"),
                        record("1.1", rto=99.0, driver="DockerDriver")))
    table = baselines(literal_history(*runs))
    assert table[("1.1", "local", "rto_s")].values == RTOS
    assert table[("1.1", "docker", "rto_s")].values == (99.0,)
    assert baselines(literal_history(*runs), last=2)[("1.1", "local", "rto_s")].values == (10.2, 10.1)


def test_a_figure_not_measured_against_a_baseline_is_a_regression() -> None:
    history = baselines(literal_history(*history_of(RTOS)))
    now = summary(record("1.1", mttd=1.0, rto=None, driver="LocalDriver"))
    result = judge_runs([now], PROFILES["default"], Judging(history=history))
    assert any("RTO not measured > bound" in p for p in result.problems)


# -- the store -------------------------------------------------------------------------------------


def test_record_history_copies_never_overwrites_and_prunes_only_its_own(tmp_path: Path) -> None:
    history = tmp_path / "history"
    history.mkdir()
    (history / "trend.jsonl").write_text("{}\n")
    (history / "20200101T000000Z-local-deadbeef").mkdir()  # the right shape, not the store's: kept
    paths = [write_json(tmp_path / f"run{n}" / "summary.json", s) for n, s in enumerate(history_of(RTOS))]
    made = [record_run(p, history, keep=3)[0] for p in paths]
    assert made[0].name == "20261201T000000Z-local-" + made[0].name[-8:]
    assert (made[-1] / MARKER).is_file()
    assert json.loads((made[-1] / "summary.json").read_text()) == json.loads(paths[-1].read_text())
    left = sorted(p.name for p in history.iterdir())
    assert left == sorted(["trend.jsonl", "20200101T000000Z-local-deadbeef", *(m.name for m in made[-3:])])
    again, new, pruned = record_run(paths[-1], history, keep=3)
    assert (again, new, pruned) == (made[-1], False, [])


def test_read_history_names_a_torn_run(tmp_path: Path) -> None:
    history = tmp_path / "history"
    record_run(write_json(tmp_path / "a.json", history_of(RTOS)[0]), history)
    (history / "20261209T000000Z-local-0123abcd").mkdir()
    (history / "20261209T000000Z-local-0123abcd" / "summary.json").write_text("{")
    with pytest.raises(Exception, match="history run .*0123abcd.*is not JSON"):
        read_history(history)


def test_the_gate_records_judges_against_and_trends_its_history(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    history = tmp_path / "history"
    for n, s in enumerate(history_of(RTOS)):
        path = write_json(tmp_path / f"run{n}.json", s)
        assert main(["--summary", str(path), "--history", str(history), "--record-history"]) == EXIT_PASSED
    slow = write_json(tmp_path / "slow.json", summary(record("1.1", rto=14.0, driver="LocalDriver"),
                                                      started="2026-12-09T00:00:00+00:00"))
    capsys.readouterr()
    assert main(["--summary", str(slow), "--history", str(history), "--trend"]) == EXIT_FAILED
    out = " ".join(capsys.readouterr().out.split())
    assert "RTO 14 s > bound 11.1 s" in out and "history: 5 recorded run(s)" in out
    assert "P P P P P P" in out  # the trend: five recorded runs and this one
    assert len(list(history.iterdir())) == 5  # judging does not record


# -- the real summaries ----------------------------------------------------------------------------

REAL = [Path("/tmp") / name / "summary.json" for name in ("r2p", "r2p2", "r2p3", "r2p4")]


@pytest.mark.skipif(not all(p.is_file() for p in REAL), reason="the real pretix summaries of 2026-12-07 are not here")
def test_end_to_end_over_real_summaries_with_one_scenario_slowed(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    copies = []
    for path in REAL:
        copy = tmp_path / path.parent.name / "summary.json"
        copy.parent.mkdir()
        shutil.copy(path, copy)
        copies.append(copy)
    history = tmp_path / "history"
    for copy in copies[:3]:
        main(["--summary", str(copy), "--history", str(history), "--record-history"])
    slowed = json.loads(copies[3].read_text())
    one = next(r for r in slowed["scenarios"] if r["id"] == "1.1" and r["control"] is None)
    one["measured"]["rto_s"] = 12.0  # measured 0.652 s; the history's 6.35, 1.73, 6.00 s: bound 7.59 s
    copies[3].write_text(json.dumps(slowed))
    capsys.readouterr()
    code = main(["--summary", str(copies[3]), "--history", str(history), "--allow-skip"])
    out = " ".join(capsys.readouterr().out.split())
    assert code == EXIT_FAILED
    assert ("regression: 1.1 PostgreSQL crash under pretix (scenario file) on attach: RTO 12 s > bound 7.59 s"
            in out)
    assert "3.2 pretix unavailable (scenario file) on attach: RTO 14.8 s: no baseline yet (2 of 3" in out
    assert "7.1 Slow database under pretix (scenario file) on attach: RTO 12.9 s <= bound 13.4 s" in out
    assert all(p.read_bytes() == (tmp_path / p.parent.name / "summary.json").read_bytes() for p in REAL[:3])
    assert len(read_history(history)) == 3


def test_a_history_that_cannot_be_written_is_a_one_line_error(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "history"
    blocker.write_text("a file where the history directory should be")
    path = write_json(tmp_path / "run.json", history_of(RTOS)[0])
    assert main(["--summary", str(path), "--history", str(blocker / "sub"), "--record-history"]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith(f"gate error: history {blocker / 'sub'}:")
