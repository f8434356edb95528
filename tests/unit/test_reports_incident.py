"""reports.incident: the runbook's incident template (section 9) and checklist (section 10), filled from a run."""

from __future__ import annotations

import json
import re
from pathlib import Path

from load.history import ScenarioHistory, history_dir
from reports.incident import (Impact, assess_impact, cell, incident_filename, incident_id, render_incident, severity,
                              write_incident_report)
from tests.data.sample import ERROR_RUN, SAMPLE_RUN, record, sample_record

TEMPLATE_HEADINGS = ["# Incident Report", "## Summary", "## Impact", "## Timeline", "## Root Cause", "## Resolution",
                     "## Follow-up Actions", "## Post-Incident Review", "### Checklist"]
FIELDS = ["**Incident ID:**", "**Severity:**", "**Status:**", "**Start Time:**"]
HUMAN_ITEMS = ["Monitoring enhanced", "Documentation updated", "Runbooks updated", "Team trained on new procedures",
               "Preventative measures implemented", "Lessons learned shared"]


def headings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("#")]


def sample_report(tmp_path: Path) -> str:
    path = write_incident_report(sample_record(), tmp_path, summary_dir=SAMPLE_RUN)
    assert path == tmp_path / "3.2-test_commerce_unavailable.md"
    return path.read_text()


def test_the_report_has_the_templates_shape(tmp_path: Path) -> None:
    text = sample_report(tmp_path)
    assert headings(text) == TEMPLATE_HEADINGS
    positions = [text.index(field) for field in FIELDS]
    assert positions == sorted(positions)
    assert "**Incident ID:** INC-20261128-3.2  " in text
    assert "**Status:** Resolved" in text
    assert "**Start Time:** 2026-11-28T15:54:42.179+00:00" in text
    assert "| Time | Action |\n|------|--------|\n" in text


def test_the_checklist_ticks_what_the_suite_verified(tmp_path: Path) -> None:
    text = sample_report(tmp_path)
    for item in ("Timeline documented", "Root cause identified", "Impact assessed", "Fix verified"):
        assert f"- [x] {item} ✓" in text
    for item in HUMAN_ITEMS:
        assert f"- [ ] {item} — for the team" in text
    assert len(re.findall(r"^- \[[ x]\] ", text.split("### Checklist")[1], re.M)) == 10


def test_the_timeline_holds_the_real_times_in_order(tmp_path: Path) -> None:
    text = sample_report(tmp_path)
    rows = [line for line in text.split("## Timeline")[1].split("## Root Cause")[0].splitlines()
            if line.startswith("| 2026")]
    times = [row.split(" | ")[0].lstrip("| ") for row in rows]
    assert times == sorted(times)
    actions = " ".join(rows)
    for label, at in (("Incident started", "15:54:42.179"), ("Incident detected", "15:54:42.255"),
                      ("Investigation started", "15:54:42.256"), ("Fix deployed", "15:54:42.804"),
                      ("Monitoring", "15:54:42.804"), ("Resolved", "15:54:42.818")):
        assert any(f"T{at}+00:00 | **{label}**" in row for row in rows), (label, rows)
    assert "docker-compose restart commerce" in actions
    assert "(+0.64 s)" in actions


def test_impact_comes_from_the_history(tmp_path: Path) -> None:
    text = sample_report(tmp_path)
    assert "- Fault target: **commerce**" in text
    assert "- Affected services (health probe went red): commerce (1/1 probes failed)" in text
    assert "- Estimated affected users: **8 of 8** simulated shoppers saw at least one error" in text
    assert "answers: HTTP 502 ×10" in text
    assert "**Severity:** P1 (checkout was down: the commerce service" in text
    rec = sample_record()
    impact = assess_impact(rec, ScenarioHistory.load(history_dir(rec, summary_dir=SAMPLE_RUN)))
    assert impact.assessed and impact.failed_ops == 10 and impact.load_users == 8
    assert impact.failed_by_op == {"product": 4, "browse": 4, "view_cart": 2}
    assert list(impact.red_services) == ["commerce"]


def test_root_cause_resolution_and_follow_ups_come_from_the_scenario(tmp_path: Path) -> None:
    text = sample_report(tmp_path)
    root_cause = text.split("## Root Cause")[1].split("## Resolution")[0]
    assert "**kill commerce with SIGKILL**" in root_cause
    assert "exit_status = `137`" in root_cause
    assert "`curl -f http://127.0.0.1:8010/health fails`" in root_cause
    resolution = text.split("## Resolution")[1].split("## Follow-up Actions")[0]
    assert "- Runbook procedure: `docker-compose restart commerce`" in resolution
    assert "Verification by the suite: 7 of 7 checks passed." in resolution
    assert "| checkout_works_after_recovery | ✓ passed | 201 | 201 |" in resolution
    assert "- [ ] No check failed" in text.split("## Follow-up Actions")[1]


def test_a_control_without_its_history(tmp_path: Path) -> None:
    control = sample_record("test_commerce_unavailable_control_without_restart")
    path = write_incident_report(control, tmp_path, history=tmp_path / "no-history")
    text = path.read_text()
    assert path.name == "3.2-test_commerce_unavailable_control_without_restart.md"
    assert "**Incident ID:** INC-20261128-3.2-control" in text
    assert "**Status:** Identified" in text
    assert "negative control `skip-recovery`" in text
    assert "- [ ] Timeline documented — incomplete: no restored time" in text
    assert "- [x] Root cause identified ✓" in text
    assert "- [ ] Impact assessed — no history to assess it from" in text
    assert "- [ ] Fix verified — control run: the fix was deliberately not applied" in text
    assert "failed by design; nothing to fix" in text
    assert "Impact could not be assessed" in text


def test_a_failed_scenario_gets_follow_ups_from_its_failed_checks_and_notes() -> None:
    rec = record("1.1", "fail", rto=None, timeline={"injected": "2026-11-28T10:00:00+00:00",
                                                    "detected": "2026-11-28T10:00:01+00:00"},
                 checks=[{"name": "restored_within_rto_target", "passed": False, "measured": None, "target": 120.0,
                          "detail": "not measured"},
                         {"name": "detected_within_mttd_target", "passed": True, "measured": 1.0, "target": 30.0}],
                 notes=["could not count lost orders: OperationalError: connection refused"],
                 extra={"lost_ids": ["a1", "b2"], "sessions_lost": 0},
                 evidence={"fault": "kill postgres with SIGKILL", "summary": "postgres exited with 137"})
    text = render_incident(rec, None)
    follow = text.split("## Follow-up Actions")[1].split("## Post-Incident Review")[0]
    assert "- [ ] Fix `restored_within_rto_target`: measured `—`, target `120` (not measured)" in follow
    assert "- [ ] Harness note: could not count lost orders: OperationalError: connection refused" in follow
    assert "**Status:** Identified" in text
    assert "- [ ] Fix verified — verdict fail: not verified" in text
    assert "**Not resolved**" in text
    assert "- The scenario's own figures: lost_ids = `['a1', 'b2']`, sessions_lost = `0`" in text


def test_a_scenario_that_never_injected(tmp_path: Path) -> None:
    errored = next(iter(summary_records(ERROR_RUN / "summary.json")))
    text = write_incident_report(errored, tmp_path, summary_dir=ERROR_RUN).read_text()
    assert headings(text) == TEMPLATE_HEADINGS
    assert "**Status:** Not started (the fault was never injected)" in text
    assert "**Severity:** P3 (no fault was injected)" in text
    assert "| — | No fault was injected: the scenario ended with verdict error first |" in text
    assert "The harness could not judge the scenario: aarya_chaos.errors.NotReady" in text
    assert "- [x]" not in text


def summary_records(path: Path) -> list[dict[str, object]]:
    data: dict[str, list[dict[str, object]]] = json.loads(path.read_text())
    return data["scenarios"]


def test_the_severity_rule() -> None:
    assert severity(Impact(True, lost_orders=1))[0] == "P1"
    assert severity(Impact(True, checkouts=4, checkouts_failed=1, failed_ops=1))[0] == "P1"
    assert severity(Impact(True, red_services={"commerce": (1, 2)}))[0] == "P1"
    assert severity(Impact(True, failed_ops=3, red_services={"payment": (1, 1)}))[0] == "P2"
    assert severity(Impact(True, red_services={"core_platform": (2, 4)}))[0] == "P2"
    assert severity(Impact(True)) == ("P3", "no shopper saw an error and every health probe stayed green")


def test_ids_file_names_and_cells() -> None:
    rec = record("2.2", timeline={"injected": "2026-12-01T23:59:59.999+00:00"})
    assert incident_id(rec) == "INC-20261201-2.2"
    assert incident_id({**rec, "control": "skip-recovery"}) == "INC-20261201-2.2-control"
    assert incident_filename(rec) == "2.2-test_2_2.md"
    assert incident_filename({"id": "1.1", "name": "Pool / exhaustion", "artifacts": ""}) == "1.1-pool_exhaustion.md"
    assert cell("a | b\nc") == "a \\| b c"


def test_a_game_days_room_detection_stands_beside_the_runbook_signals(tmp_path: Path) -> None:
    """The `d` key's human MTTD (record extra) is in the summary; without it nothing is said."""
    plain = write_incident_report(sample_record(), tmp_path / "plain", summary_dir=SAMPLE_RUN).read_text()
    assert "the room" not in plain
    with_room = sample_record()
    with_room["extra"] = {**(with_room.get("extra") or {}), "human_mttd_s": 4.2}
    text = write_incident_report(with_room, tmp_path / "room", summary_dir=SAMPLE_RUN).read_text()
    assert "The room said it had detected it after 4.20 s (the game day's `d` key)." in text \
        or "The room said it had detected it after 4.2 s (the game day's `d` key)." in text, text


def test_a_game_day_stopped_by_the_room_is_not_called_a_guardrails_abort(tmp_path: Path) -> None:
    stopped = sample_record()
    stopped.update(verdict="aborted", reason="game day aborted (answered no before recover); every pending fault was healed.")
    text = write_incident_report(stopped, tmp_path, summary_dir=SAMPLE_RUN).read_text()
    assert "guardrail" not in text and "the run was stopped before it was judged, every fault healed" in text
