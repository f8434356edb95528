"""reports.gate: verdicts, controls, skips, regressions against a baseline, and unreadable input."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

from reports.gate import (EXIT_FAILED, EXIT_INVALID, EXIT_MISSING, EXIT_PASSED, EXIT_USAGE, GateInputError,
                          add_gate_command, cmd_gate, gate, judge, main)
from tests.data.sample import EARLIER_RUN, ERROR_RUN, SAMPLE_SUMMARY, record, summary, write_json


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---- verdicts --------------------------------------------------------------------------------------


def test_the_sample_run_passes_the_gate(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "--summary", str(SAMPLE_SUMMARY))
    assert code == EXIT_PASSED, out + err
    assert "GATE PASSED" in out
    for sid in ("1.1", "2.2", "3.2"):
        assert sid in out
    assert "control bit" in out


def test_a_failing_scenario_fails_the_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failing = record("1.1", "fail", rto=None, reason="scenario 1.1 missed 1 check(s):\n  restored_within_rto_target")
    path = write_json(tmp_path / "summary.json", summary(record("2.2"), failing))
    code, out, _ = run_main(capsys, "--summary", str(path))
    assert code == EXIT_FAILED
    assert "GATE FAILED" in out and "1.1" in out


def test_an_error_verdict_fails_with_the_telling_line_of_the_reason() -> None:
    error = record("2.2", "error", reason="Traceback ...\nE   aarya_chaos.errors.NotReady: locust was not ready\nmore")
    result = judge(summary(error))
    assert not result.passed and result.exit_code == EXIT_FAILED
    assert result.problems == ["2.2 Literal scenario: error: aarya_chaos.errors.NotReady: locust was not ready"]


def test_a_control_that_did_not_bite_fails_the_gate() -> None:
    bit = record("1.1", "pass", control="skip-recovery")
    did_not_bite = record("3.2", "fail", control="skip-recovery")
    could_not_judge = record("2.2", "error", control="skip-recovery", reason="E  boom")
    result = judge(summary(record("1.1"), bit, record("3.2"), did_not_bite, could_not_judge))
    assert not result.passed
    assert len(result.problems) == 2
    assert "3.2" in result.problems[0] and "did not bite" in result.problems[0]
    assert "checks do not bite" in result.problems[0]
    assert "2.2" in result.problems[1] and "could not be judged" in result.problems[1]
    assert [row.status for row in result.rows] == ["ok", "ok", "ok", "FAIL", "FAIL"]


def test_the_samples_error_run_fails_the_gate() -> None:
    result = gate(ERROR_RUN / "summary.json")
    assert not result.passed
    assert "NotReady" in result.problems[0]


def test_skipped_scenarios_fail_the_gate_unless_allowed(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    skipped = record("5.1", "skipped", reason="Skipped: the fault needs root")
    path = write_json(tmp_path / "summary.json", summary(record("1.1"), skipped))
    code, out, _ = run_main(capsys, "--summary", str(path))
    assert code == EXIT_FAILED
    assert "its claims were not verified" in out and "needs root" in out
    code, out, _ = run_main(capsys, "--summary", str(path), "--allow-skip")
    assert code == EXIT_PASSED
    assert "NOT VERIFIED" in out and "needs root" in out
    code, _, _ = run_main(capsys, "--summary", str(path), "--strict")  # the old flag: now the default
    assert code == EXIT_FAILED


def test_a_summary_without_records_fails() -> None:
    result = judge(summary())
    assert not result.passed
    assert "nothing was verified" in result.problems[0]


# ---- regressions -----------------------------------------------------------------------------------


def test_an_rto_regression_against_the_baseline_is_flagged(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    base = write_json(tmp_path / "base.json", summary(record("1.1", rto=10.0), record("2.2", rto=5.0)))
    now = write_json(tmp_path / "now.json", summary(record("1.1", rto=16.0), record("2.2", rto=5.5)))
    code, out, _ = run_main(capsys, "--summary", str(now), "--baseline", str(base))
    assert code == EXIT_FAILED
    assert "regression" in out and "RTO 16 s > limit 15 s" in out
    result = gate(now, base)
    assert [(r.id, r.metric, r.baseline, r.measured) for r in result.regressions] == [("1.1", "rto_s", 10.0, 16.0)]
    # the same growth passes with a looser tolerance
    assert gate(now, base, tolerance=0.7).passed


def test_growth_under_the_absolute_slack_is_not_a_regression() -> None:
    # +150% but only 0.3 s more: noise at this scale
    result = judge(summary(record("1.1", mttd=0.5, rto=0.5)), summary(record("1.1", mttd=0.2, rto=0.2)))
    assert result.passed and not result.regressions
    assert not judge(summary(record("1.1", rto=0.5)), summary(record("1.1", rto=0.2)), slack_s=0.1).passed


def test_mttd_regressions_and_unmeasured_figures_are_flagged() -> None:
    base = summary(record("1.1", mttd=2.0, rto=10.0))
    result = judge(summary(record("1.1", mttd=5.0, rto=None)), base)
    assert [(r.metric, r.measured) for r in result.regressions] == [("mttd_s", 5.0), ("rto_s", None)]
    assert "RTO not measured (baseline 10 s)" in result.problems[1]


def test_controls_and_unknown_scenarios_are_not_compared() -> None:
    base = summary(record("1.1", rto=1.0), record("4.4", rto=1.0))
    now = summary(record("1.1", rto=1.0), record("1.1", control="skip-recovery", rto=None), record("3.2", rto=99.0))
    result = judge(now, base)
    assert result.passed, result.problems
    assert any("3.2" in w and "not in the baseline" in w for w in result.warnings)
    assert any("4.4" in w and "not in this run" in w for w in result.warnings)


def test_the_real_sample_regressed_against_the_earlier_run(capsys: pytest.CaptureFixture[str]) -> None:
    # 1.1 recovered in 1.069 s in the earlier run and in 2.374 s in the sample: +122% and +1.3 s
    code, out, _ = run_main(capsys, "--summary", str(SAMPLE_SUMMARY), "--baseline", str(EARLIER_RUN))
    assert code == EXIT_FAILED
    assert "1.1 PostgreSQL primary crash: RTO 2.37 s > limit 2.07 s (baseline 1.07 s)" in out
    code, _, _ = run_main(capsys, "--summary", str(SAMPLE_SUMMARY), "--baseline", str(EARLIER_RUN),
                          "--max-regression", "1.5")
    assert code == EXIT_PASSED


# ---- bad input -------------------------------------------------------------------------------------


def test_a_missing_summary_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "--summary", str(tmp_path / "nope.json"))
    assert code == EXIT_MISSING
    assert "does not exist" in err and "nope.json" in err
    assert not (tmp_path / "nope.json").exists()
    code, _, err = run_main(capsys, "--summary", str(SAMPLE_SUMMARY), "--baseline", str(tmp_path / "base.json"))
    assert code == EXIT_MISSING
    assert "baseline" in err and "base.json" in err


@pytest.mark.parametrize(("content", "message"), [
    ("{\"schema\": 1, \"scenarios\": [", "is not JSON"),
    ("", "is not JSON (empty file)"),
    ("[1, 2]", "expected a JSON object"),
    ("{\"scenarios\": []}", "no `schema` field"),
    ("{\"schema\": 2, \"scenarios\": []}", "schema 2, this gate reads schema 1"),
    ("{\"schema\": 1, \"scenarios\": {}}", "`scenarios` must be a list"),
    ("{\"schema\": 1, \"scenarios\": [{\"verdict\": \"pass\"}]}", "scenario #1 has no `id`"),
    ("{\"schema\": 1, \"scenarios\": [{\"id\": \"1.1\", \"verdict\": \"passed\"}]}", "`verdict` must be one of"),
    ("{\"schema\": 1, \"scenarios\": [{\"id\": \"1.1\", \"verdict\": \"pass\", \"measured\": 3}]}",
     "`measured` must be an object"),
])
def test_a_corrupt_summary_is_a_clear_error_and_stays_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                content: str, message: str) -> None:
    path = tmp_path / "summary.json"
    path.write_text(content)
    os.utime(path, (1_000_000_000, 1_000_000_000))
    code, _, err = run_main(capsys, "--summary", str(path))
    assert code == EXIT_INVALID
    assert message in " ".join(err.split())
    assert str(path) in " ".join(err.split())
    assert path.read_text() == content and path.stat().st_mtime == 1_000_000_000


def test_a_corrupt_baseline_is_an_invalid_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "base.json"
    base.write_text("not json at all")
    code, _, err = run_main(capsys, "--summary", str(SAMPLE_SUMMARY), "--baseline", str(base))
    assert code == EXIT_INVALID
    assert "baseline" in err and "is not JSON" in err
    with pytest.raises(GateInputError) as info:
        gate(SAMPLE_SUMMARY, base)
    assert info.value.exit_code == EXIT_INVALID


def test_a_run_directory_can_be_the_baseline() -> None:
    assert gate(SAMPLE_SUMMARY, EARLIER_RUN, tolerance=2.0).passed


def test_a_bad_command_line_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "--max-regression", "-1")
    assert code == EXIT_USAGE
    assert "must be a finite number >= 0" in err
    assert run_main(capsys, "--max-regression", "lots")[0] == EXIT_USAGE


def test_the_subcommand_wiring_for_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="aarya-chaos")
    sub = parser.add_subparsers(dest="command", required=True)
    add_gate_command(sub)
    args = parser.parse_args(["gate", "--summary", str(SAMPLE_SUMMARY), "--max-regression", "0.25"])
    assert (args.command, args.max_regression, args.slack, args.allow_skip) == ("gate", 0.25, 1.0, False)
    assert cmd_gate(None, args) == EXIT_PASSED
    assert "GATE PASSED" in capsys.readouterr().out


def test_the_gate_never_writes(tmp_path: Path) -> None:
    path = write_json(tmp_path / "summary.json", summary(record("1.1", "fail")))
    before = sorted(p.name for p in tmp_path.iterdir()), path.read_bytes()
    gate(path, path)
    assert (sorted(p.name for p in tmp_path.iterdir()), path.read_bytes()) == before
    assert json.loads(path.read_text())["scenarios"][0]["verdict"] == "fail"
