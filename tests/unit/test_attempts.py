"""A failed scenario run once more (`--chaos-reruns`): its attempts merged into one summary.json record
(reports/attempts.py, reports/summary.py), over literal records; and the plugin marking only scenarios for
pytest-rerunfailures, in small inner sessions on the fake driver."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reports.attempts import FLAKY, merge_attempt
from reports.summary import SummaryWriter

pytest_plugins = ["pytester"]


def record(attempt: int, verdict: str, reason: str = "", test: str = "s.py::test_crash") -> dict[str, Any]:
    return {"id": "1.1", "name": "crash", "control": None, "test": test, "attempt": attempt, "verdict": verdict,
            "reason": reason, "started": f"t{attempt}", "duration_s": 40.0 + attempt, "measured": {"rto_s": attempt},
            "checks": [{"name": f"check of attempt {attempt}"}]}


def test_a_pass_after_a_fail_is_flaky_and_keeps_both_attempts() -> None:
    merged = merge_attempt(record(1, "fail", "missed 1 check(s): restored_within_rto_target"), record(2, "pass"))
    assert merged["verdict"] == FLAKY
    assert merged["reason"] == "passed on attempt 2 after 1 failed: fail: missed 1 check(s): restored_within_rto_target"
    assert [(a["attempt"], a["verdict"]) for a in merged["attempts"]] == [(1, "fail"), (2, "pass")]
    assert merged["checks"] == [{"name": "check of attempt 2"}] and merged["measured"] == {"rto_s": 2}


def test_a_fail_after_a_fail_stays_a_fail_and_says_so() -> None:
    merged = merge_attempt(record(1, "error", "harness"), record(2, "fail", "missed 2 check(s)"))
    assert merged["verdict"] == "fail"
    assert merged["reason"] == "failed on all 2 attempts; last: missed 2 check(s)"


def test_three_attempts_keep_every_one_in_order() -> None:
    merged = merge_attempt(merge_attempt(record(1, "fail", "a"), record(2, "error", "b")), record(3, "pass"))
    assert [a["verdict"] for a in merged["attempts"]] == ["fail", "error", "pass"]
    assert merged["verdict"] == FLAKY and merged["reason"].startswith("passed on attempt 3 after 2 failed: fail: a")


def test_the_summary_merges_a_later_attempt_of_the_same_test_only(tmp_path: Path) -> None:
    writer = SummaryWriter(tmp_path / "summary.json", driver="local")
    writer.add(record(1, "fail", "x"))
    writer.add(record(1, "pass", test="s.py::test_other"))
    writer.add(record(2, "pass"))
    scenarios = json.loads((tmp_path / "summary.json").read_text())["scenarios"]
    assert [(r["test"], r["verdict"]) for r in scenarios] == [("s.py::test_crash", FLAKY), ("s.py::test_other", "pass")]
    writer.add(record(1, "pass", test="s.py::test_third"))  # a first attempt is never merged
    assert len(json.loads((tmp_path / "summary.json").read_text())["scenarios"]) == 3


ENGINE = ("-p", "no:locust", "-p", "no:cacheprovider", "-p", "fixtures.plugin")
CONFTEST = """
import pytest

from stack.drivers.fake import FakeDriver


@pytest.fixture(scope="session")
def stack():
    yield FakeDriver()
"""
TESTS = """
RUNS = []

def test_scenario_fails_once(chaos):
    RUNS.append(chaos.attempt)
    assert len(RUNS) > 1, "first attempt fails"

def test_not_a_scenario_is_never_rerun():
    raise AssertionError("fails for good")
"""


def test_chaos_reruns_marks_the_scenarios_only(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner=TESTS)
    result = pytester.runpytest_inprocess(*ENGINE, "-p", "rerunfailures", "--chaos-reruns", "1",
                                          "--reports-dir", str(pytester.path / "reports"))
    result.assert_outcomes(passed=1, failed=1)
    assert result.parseoutcomes().get("rerun") == 1


def test_no_reruns_by_default_and_a_negative_count_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner=TESTS)
    reports = str(pytester.path / "reports")
    pytester.runpytest_inprocess(*ENGINE, "-p", "rerunfailures", "--reports-dir", reports).assert_outcomes(failed=2)
    bad = pytester.runpytest_inprocess(*ENGINE, "--chaos-reruns", "-1", "--reports-dir", reports)
    assert bad.ret == pytest.ExitCode.USAGE_ERROR and "--chaos-reruns takes a number >= 0" in bad.stderr.str()


def test_a_pass_after_an_aborted_attempt_is_flaky() -> None:
    assert merge_attempt(record(1, "aborted", "aborted: success floor"), record(2, "pass"))["verdict"] == FLAKY
