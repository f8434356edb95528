"""reports.gate_rules: flaky records, the named gates (nightly, pre-release), selection by marker and driver,
several summaries, and the runbook-section markers agreeing with fixtures.plugin's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reports.gate import EXIT_FAILED, EXIT_INVALID, EXIT_PASSED, main
from reports.gate_input import SECTION_MARKERS, is_flaky, markers_of
from reports.gate_rules import PROFILES, GateResult, Judging, judge_runs
from reports.history import baselines, literal_history
from tests.data.sample import record, summary, write_json

FAILED_ONCE = [{"verdict": "fail", "reason": "missed 1 check(s): restored_within_rto_target"}, {"verdict": "pass"}]


def local(*records: dict[str, Any]) -> dict[str, Any]:
    return summary(*(dict(r, driver="LocalDriver") for r in records))


def docker(*records: dict[str, Any]) -> dict[str, Any]:
    data = summary(*(dict(r, driver="DockerDriver") for r in records))
    data["run"]["driver"] = "docker"
    return data


def judged(*summaries: dict[str, Any], gate: str = "default", **judging: Any) -> GateResult:
    return judge_runs(list(summaries), PROFILES[gate], Judging(**judging))


def test_a_flaky_record_is_either_the_verdict_or_a_pass_after_a_failed_attempt() -> None:
    assert is_flaky(record("1.1", "flaky"))
    assert is_flaky(record("1.1", "pass", attempts=FAILED_ONCE))
    assert not is_flaky(record("1.1", "pass", attempts=[{"verdict": "pass"}]))
    assert not is_flaky(record("1.1", "fail", attempts=[{"verdict": "fail"}, {"verdict": "fail"}]))


def test_flaky_never_passes_silently() -> None:
    flaky = record("1.1", "pass", attempts=FAILED_ONCE)
    strict = judged(local(flaky))
    assert not strict.passed
    assert strict.problems == ["1.1 Literal scenario: flaky: 1 of 2 attempts did not pass (first: missed 1 check(s): "
                               "restored_within_rto_target); the default gate does not pass a flaky scenario "
                               "(quarantine it to ship)"]
    assert not judged(local(flaky), gate="pre-release").passed
    nightly = judged(local(flaky), docker(record("1.1")), gate="nightly")
    assert nightly.passed, nightly.problems
    assert nightly.flaky == 1
    assert any(w.startswith("FLAKY (counted on the trend): 1.1 Literal scenario on local") for w in nightly.warnings)
    assert [row.verdict for row in nightly.rows] == ["flaky", "pass"]


def test_nightly_needs_both_drivers_and_lists_skips() -> None:
    skipped = record("5.1", "skipped", reason="Skipped: needs root")
    only_local = judged(local(record("1.1"), skipped), gate="nightly")
    assert only_local.problems == ["the nightly gate needs records from driver docker: none in the summaries given"]
    both = judged(local(record("1.1"), skipped), docker(record("1.1")), gate="nightly")
    assert both.passed
    assert any(w.startswith("NOT VERIFIED (nightly): 5.1 Literal scenario on local") for w in both.warnings)


def test_pre_release_is_strict_and_needs_every_scenario_the_history_knows() -> None:
    runs = literal_history(*[local(record("1.1"), record("2.2")) for _ in range(3)])
    history = baselines(runs)
    partial = judged(local(record("1.1")), gate="pre-release", history=history, history_runs=3)
    assert partial.problems == ["2.2 on local: in the history but not in this run; the pre-release gate runs "
                                "everything"]
    nightly = judged(local(record("1.1")), docker(record("1.1")), gate="nightly", history=history, history_runs=3)
    assert nightly.passed and "2.2 on local: in the history but not in this run" in nightly.warnings
    assert not judged(local(record("1.1"), record("2.2", "skipped")), gate="pre-release").passed


def test_markers_and_drivers_select_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = write_json(tmp_path / "local.json", local(record("1.1"), record("3.2", "fail")))
    two = write_json(tmp_path / "docker.json", docker(record("1.1", "fail"), record("2.2")))
    assert main(["--summary", str(one), "--summary", str(two)]) == EXIT_FAILED
    assert main(["--summary", str(one), "--summary", str(two), "--marker", "database", "--driver", "local"]) \
        == EXIT_PASSED
    out = " ".join(capsys.readouterr().out.split())
    assert "3 record(s) not selected by the default gate's markers and drivers" in out
    assert main(["--summary", str(one), "--marker", "security"]) == EXIT_FAILED
    assert "selected none of the 2 records" in " ".join(capsys.readouterr().out.split())
    assert main(["--summary", str(one), "--driver", "docker"]) == EXIT_FAILED


def test_markers_of_a_record() -> None:
    assert markers_of(record("3.2")) == {"service"}
    assert markers_of(record("3.2", control="skip-recovery")) == {"service", "control"}
    assert markers_of(record("9.9")) == set()
    assert markers_of(record("9.9", markers=["cache", "slow"])) == {"cache", "slow"}


def test_the_section_markers_agree_with_the_plugins_runbook_areas() -> None:
    from fixtures.plugin import RUNBOOK_AREAS

    from_plugin = {text.split("runbook section ")[1].split(":")[0]: marker for marker, text in RUNBOOK_AREAS.items()}
    assert SECTION_MARKERS == from_plugin


def test_a_record_with_bad_attempts_is_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_json(tmp_path / "s.json", summary(record("1.1", attempts=[{"reason": "x"}])))
    assert main(["--summary", str(path)]) == EXIT_INVALID
    assert "`attempts` must be a list of objects with a `verdict`" in " ".join(capsys.readouterr().err.split())
    flaky = write_json(tmp_path / "f.json", local(record("1.1", "flaky")))
    assert main(["--summary", str(flaky), "--gate", "pre-release", "--history", str(tmp_path / "none")]) \
        == EXIT_FAILED
    assert "flaky" in capsys.readouterr().out


def test_the_record_the_reruns_merge_is_flaky_for_the_gate() -> None:
    from reports.attempts import merge_attempt

    first = record("1.1", "fail", reason="missed 1 check(s): restored_within_rto_target", attempt=1,
                   driver="LocalDriver")
    merged = merge_attempt(first, record("1.1", "pass", attempt=2, driver="LocalDriver",
                                         artifacts="/r/scenarios/test_1_1-attempt2"))
    assert is_flaky(merged)
    result = judged(summary(merged), gate="pre-release")
    assert not result.passed and "1 of 2 attempts did not pass" in result.problems[0]
    assert judged(summary(merged), docker(record("1.1")), gate="nightly").flaky == 1


def test_an_aborted_scenario_fails_every_gate_with_the_guardrails_reason() -> None:
    """A guardrail tripped (docs/guardrails.md): read, not rejected as an unknown verdict, and failed."""
    aborted = record("3.2", "aborted", reason="aborted: success floor 95% over 2 s tripped at +2.0 s after the "
                                              "injection: 6% of 103 load ops succeeded (6 ok)")
    for gate in ("default", "nightly", "pre-release"):
        result = judged(local(aborted), docker(record("3.2")), gate=gate)
        assert not result.passed
        assert any(p.endswith(": aborted: success floor 95% over 2 s tripped at +2.0 s after the injection: 6% of "
                              "103 load ops succeeded (6 ok)") for p in result.problems), result.problems
