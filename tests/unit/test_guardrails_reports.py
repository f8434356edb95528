"""The verdict `aborted` in the reports: the HTML badge, and the incident report's summary, timeline and
follow-ups for a run a guardrail aborted (literal records)."""

from __future__ import annotations

from pathlib import Path

from reports.html import render_html
from reports.incident import render_incident
from tests.data.sample import record, summary

REASON = ("aborted: success floor 95% over 2 s tripped at +2.0 s after the injection: "
          "43% of 95 load ops succeeded (41 ok)")
TRIPPED = {"guardrail": "success floor 95% over 2 s", "at": "2026-11-28T10:00:02.000+00:00",
           "after_injection_s": 2.0, "measured": "43% of 95 load ops succeeded (41 ok)",
           "healed": "2026-11-28T10:00:03.500+00:00", "heal_s_after_trip": 1.5, "heal_error": None, "reason": REASON}


def aborted_record() -> dict[str, object]:
    return record("3.2", "aborted", rto=None, reason=REASON,
                  timeline={"injected": "2026-11-28T10:00:00.000+00:00", "landed": "2026-11-28T10:00:00.100+00:00",
                            "detected": "2026-11-28T10:00:00.200+00:00", "healed": TRIPPED["healed"]},
                  guardrails={"watched": ["success floor 95% over 2 s"], "tripped": TRIPPED},
                  evidence={"fault": "kill commerce", "summary": "commerce exited"})


def test_the_html_report_badges_an_aborted_run(tmp_path: Path) -> None:
    page = render_html(summary(aborted_record()), tmp_path / "summary.json")
    assert '<span class="badge v-aborted">aborted</span>' in page
    assert ".v-aborted {" in page


def test_the_incident_report_says_a_guardrail_aborted_the_run() -> None:
    text = render_incident(aborted_record(), None)
    assert "Verdict **aborted**: a guardrail tripped during the fault" in text
    timeline = text.split("## Timeline")[1].split("## Root Cause")[0]
    assert ("| 2026-11-28T10:00:02.000+00:00 | **Aborted**: guardrail `success floor 95% over 2 s` tripped "
            "(43% of 95 load ops succeeded (41 ok)) (+2.00 s) |") in timeline
    assert "The harness healed the fault at once (the guardrail) (+3.50 s)" in timeline
    assert "when the scenario ended" not in timeline
    follow = text.split("## Follow-up Actions")[1]
    assert f"- [ ] The run was aborted ({REASON}): the fault did more harm than the scenario allows" in follow


def test_a_guardrail_control_says_what_it_had_to_do() -> None:
    control = {**aborted_record(), "verdict": "pass", "control": "guardrail success floor 95% over 2 s"}
    text = render_incident(control, None)
    assert "a guardrail had to trip during the fault, heal it at once and abort the run" in text
    assert "had to miss its checks" not in text
