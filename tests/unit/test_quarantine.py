"""reports.quarantine: the file's parsing with errors naming the line and key, and the gate's use of it: a
quarantined failing or flaky scenario is listed and does not fail the gate; an expired entry does."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from reports.gate import EXIT_FAILED, EXIT_INVALID, EXIT_MISSING, EXIT_PASSED, main
from reports.gate_input import GateInputError
from reports.gate_rules import PROFILES, GateResult, Judging, judge_runs
from reports.quarantine import Quarantine, load_quarantine, parse_quarantine
from tests.data.sample import record, summary, write_json

TODAY = date(2026, 12, 8)
FILE = """\
# known flakes
[[quarantine]]
scenario = "7.1"
reason = "pool exhaustion flakes on 2-CPU runners, #431"
owner = "payments-sre@example.com"
expires = 2026-12-31

[[quarantine]]
scenario = "2.2"
driver = "docker"
reason = "docker's network partition is slow to heal"
owner = "platform@example.com"
expires = 2026-12-08
"""


def test_a_quarantine_file_parses_with_its_lines() -> None:
    first, second = parse_quarantine(FILE, "q.toml")
    assert first == Quarantine("7.1", "pool exhaustion flakes on 2-CPU runners, #431", "payments-sre@example.com",
                               date(2026, 12, 31), None, 2)
    assert (second.driver, second.line, second.expired(TODAY), second.expired(date(2026, 12, 9))) == \
        ("docker", 8, False, True)
    assert second.covers("2.2", "docker") and not second.covers("2.2", "local")


@pytest.mark.parametrize(("text", "message"), [
    ("[[quarantine]]\nscenario = \"7.1\"\nreason = \"x\"\nowner = \"o\"\nexpires = \"2026-12-31\"\n",
     "q.toml:5: `expires` must be a TOML date such as 2026-12-31 (no quotes), got '2026-12-31'"),
    ("[[quarantine]]\nscenario = \"7.1\"\nreason = \"x\"\nexpires = 2026-12-31\n",
     "q.toml:1: the entry has no `owner`"),
    ("[[quarantine]]\nscenario = \"7.1\"\nreason = \"x\"\nowner = \"o\"\nexpires = 2026-12-31\n\n"
     "[[quarantine]]\nscenario = 7.1\nreason = \"x\"\nowner = \"o\"\nexpires = 2026-12-31\n",
     "q.toml:8: `scenario` must be a non-empty string, got 7.1"),
    ("[[quarantine]]\nscenario = \"7.1\"\nreason = \"x\"\nowner = \"o\"\nexpires = 2026-12-31\nowners = \"p\"\n",
     "q.toml:6: `owners` is not a quarantine key"),
    ("[[quarantine]]\nscenario = \"7.1\nreason = \"x\"\n", "q.toml: not TOML: "),
    ("[quarantine]\nscenario = \"7.1\"\n", "`quarantine` must be an array of tables"),
    ("[[quarantines]]\nscenario = \"7.1\"\n", "unknown table or key `quarantines`"),
    ("[[quarantine]]\nscenario = \"7.1\"\nreason = \"x\"\nowner = \"o\"\nexpires = 2026-12-31T10:00:00\n",
     "q.toml:5: `expires` must be a TOML date"),
])
def test_a_bad_quarantine_file_names_its_line_and_key(text: str, message: str) -> None:
    with pytest.raises(GateInputError) as info:
        parse_quarantine(text, "q.toml")
    assert message in str(info.value)
    assert info.value.exit_code == EXIT_INVALID


def test_a_missing_file_is_no_quarantine_unless_given(tmp_path: Path) -> None:
    assert load_quarantine(tmp_path / "chaos-quarantine.toml") == []
    with pytest.raises(GateInputError) as info:
        load_quarantine(tmp_path / "q.toml", required=True)
    assert info.value.exit_code == EXIT_MISSING and "q.toml does not exist" in str(info.value)


def judged(*records: dict[str, object], gate: str = "pre-release", today: date = TODAY) -> GateResult:
    return judge_runs([summary(*records)], PROFILES[gate], Judging(quarantine=parse_quarantine(FILE), today=today))


def test_a_quarantined_failing_or_flaky_scenario_is_listed_and_does_not_fail_the_gate() -> None:
    result = judged(record("7.1", "fail", reason="missed 1 check(s): x"), record("1.1"),
                    record("7.1", "flaky", control="skip-recovery"))
    assert result.passed, result.problems
    waived = [w for w in result.warnings if w.startswith("QUARANTINED")]
    assert len(waived) == 2
    assert "7.1 Literal scenario on local: fail: missed 1 check(s): x" in waived[0]
    assert "owner payments-sre@example.com, until 2026-12-31" in waived[0]
    assert [r.status for r in result.rows] == ["quarantined", "ok", "quarantined"]


def test_a_quarantine_does_not_cover_another_scenario_or_driver() -> None:
    result = judged(record("2.2", "fail"), record("3.2", "fail"))
    assert len(result.problems) == 2  # 2.2 is quarantined on docker only


def test_an_expired_entry_fails_the_gate_with_its_owner_and_date() -> None:
    result = judged(record("1.1"), today=date(2026, 12, 9))
    assert result.problems == [
        "quarantine expired: 2.2 on docker expired on 2026-12-08 (owner platform@example.com, line 8): fix it, or "
        "renew the entry with a new date"]
    assert judged(record("1.1"), today=TODAY).passed  # the expiry day still holds
    # an expired entry no longer covers its scenario
    assert len(judged(record("7.1", "fail"), today=date(2027, 1, 1)).problems) == 3


def test_the_gate_reads_the_quarantine_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    quarantine = tmp_path / "q.toml"
    quarantine.write_text(FILE)
    path = write_json(tmp_path / "summary.json", summary(record("7.1", "fail")))
    assert main(["--summary", str(path), "--quarantine", str(quarantine)], today=TODAY) == EXIT_PASSED
    assert "QUARANTINED" in capsys.readouterr().out
    assert main(["--summary", str(path), "--quarantine", str(quarantine)], today=date(2027, 1, 1)) == EXIT_FAILED
    out = " ".join(capsys.readouterr().out.split())
    assert "quarantine expired: 7.1 expired on 2026-12-31 (owner payments-sre@example.com" in out
    quarantine.write_text(FILE.replace("expires = 2026-12-31", "expires = \"soon\""))
    assert main(["--summary", str(path), "--quarantine", str(quarantine)], today=TODAY) == EXIT_INVALID
    assert f"{quarantine}:6: `expires` must be a TOML date" in " ".join(capsys.readouterr().err.split())
