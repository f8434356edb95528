"""Incident reports: one markdown file per scenario record, in the shape of the runbook's incident template
(section 9, "Incident Communication Template") followed by its post-incident checklist (section 10).

    path = write_incident_report(record, Path("reports/latest/incidents"))
    # reports/latest/incidents/3.2-test_commerce_unavailable.md

Everything comes from the record (summary.json) and the scenario's history:

- Incident ID `INC-<date of the injection>-<runbook id>` (`-control` appended for a negative control);
- severity by SEVERITY_RULE; status Resolved when steady state came back, else Monitoring (the fix was
  applied), Identified (detected, no fix), Investigating (not detected);
- impact from the incident window [injected, restored) of the history (or to its end when it never came
  back): health probes that went red, load operations that failed, distinct shoppers (load `process`
  labels) that saw at least one failure, checkouts and acknowledged orders;
- the timeline with the real times of the run; root cause from the fault's evidence and the detection
  signal; resolution from the recovery events of the history; follow-up actions from failed checks and
  notes;
- the checklist, with the items the suite verified ticked and the ones only people can do left open.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aarya_chaos.natural import natural_key
from checks.windows import is_probe
from load.history import ScenarioHistory, cancelled_at_shutdown, history_dir, parse_iso
from reports.formatting import fmt_s

SEVERITY_RULE = ("P1 when checkout was down (a checkout request failed or the commerce health probe went red) "
                 "or an acknowledged order was lost; P2 when shoppers saw errors or any service's health probe "
                 "went red; P3 otherwise")
# Components a fault can name (the stack's component names); health probes add the services they see.
COMPONENTS = ("postgres", "redis", "toxiproxy", "api_gateway", "core_platform", "commerce", "payment",
              "content_services", "search_recommendation", "event_compactor")
CHECKLIST = ("Timeline documented", "Root cause identified", "Impact assessed", "Fix verified",
             "Monitoring enhanced", "Documentation updated", "Runbooks updated", "Team trained on new procedures",
             "Preventative measures implemented", "Lessons learned shared")
MAX_LISTED = 12


@dataclass(frozen=True)
class Impact:
    """What the incident did, as the history saw it (all zero / empty without a history)."""

    assessed: bool  # a history was there and the fault was injected
    injected: bool = True
    window_s: float | None = None
    load_ops: int = 0
    failed_ops: int = 0
    failed_by_op: dict[str, int] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)  # "HTTP 502" / error kind -> count
    red_services: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (failed, probes)
    users: list[str] = field(default_factory=list)  # load processes with a failed op
    load_users: int = 0  # load processes with any op in the window
    checkouts: int = 0
    checkouts_failed: int = 0
    fault_target: str | None = None
    lost_orders: int | None = None
    acknowledged_orders: int | None = None
    cancelled: int = 0  # requests the load generator cancelled when it stopped (not counted above)


def _answer(status: int | None, error: str | None) -> str:
    if status is not None:
        return f"HTTP {status}"
    kind = (error or "no answer").split(":", 1)[0].strip()
    return kind[:60] or "no answer"


def fault_target(record: Mapping[str, Any], known: Iterable[str] = ()) -> str | None:
    """The component the fault names ("kill commerce with SIGKILL" -> commerce), if any."""
    evidence = record.get("evidence") or {}
    text = f"{evidence.get('fault', '')} {evidence.get('summary', '')}"
    names = sorted({*COMPONENTS, *known}, key=len, reverse=True)
    for name in names:
        if re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text):
            return name
    return None


def assess_impact(record: Mapping[str, Any], history: ScenarioHistory | None) -> Impact:
    measured = record.get("measured") or {}
    probes_known = [op.f.split(":", 1)[1] for op in history.ops if is_probe(op.f)] if history else []
    target = fault_target(record, probes_known)
    lost, acked = measured.get("lost_acknowledged_writes"), measured.get("acknowledged_orders")
    window = history.incident_window(record) if history is not None else None
    if history is None or window is None:
        return Impact(False, injected=bool((record.get("timeline") or {}).get("injected")), fault_target=target,
                      lost_orders=lost, acknowledged_orders=acked)
    ops = history.in_incident(record)
    everything = [op for op in ops if not is_probe(op.f)]
    load = [op for op in everything if not cancelled_at_shutdown(op)]
    failed = [op for op in load if op.outcome != "ok"]
    probes: dict[str, list[bool]] = {}
    for op in ops:
        if op.f.startswith("health:"):
            probes.setdefault(op.f.split(":", 1)[1], []).append(op.outcome == "ok")
    red = {name: (results.count(False), len(results)) for name, results in probes.items() if not all(results)}
    checkouts = [op for op in load if op.f == "checkout"]
    return Impact(
        assessed=True, window_s=window[1] - window[0], load_ops=len(load), failed_ops=len(failed),
        failed_by_op=dict(Counter(op.f for op in failed).most_common()),
        answers=dict(Counter(_answer(op.status, op.error) for op in failed).most_common()),
        red_services=dict(sorted(red.items())),
        users=sorted({op.process for op in failed if op.process}, key=natural_key),
        load_users=len({op.process for op in load if op.process}),
        checkouts=len(checkouts), checkouts_failed=sum(op.outcome != "ok" for op in checkouts),
        fault_target=target, lost_orders=lost, acknowledged_orders=acked, cancelled=len(everything) - len(load))


def severity(impact: Impact) -> tuple[str, str]:
    """(P1/P2/P3, why) by SEVERITY_RULE."""
    if impact.lost_orders:
        return "P1", f"{impact.lost_orders} acknowledged order(s) lost"
    if impact.checkouts_failed:
        return "P1", f"checkout was down: {impact.checkouts_failed} of {impact.checkouts} checkout(s) failed"
    if "commerce" in impact.red_services or impact.fault_target == "commerce":
        return "P1", "checkout was down: the commerce service (which serves checkout) was not healthy"
    if impact.failed_ops:
        return "P2", f"shoppers saw errors ({impact.failed_ops} failed request(s)); checkout stayed up"
    if impact.red_services:
        return "P2", f"health probes went red ({', '.join(impact.red_services)}); no shopper saw an error"
    if not impact.injected:
        return "P3", "no fault was injected"
    if not impact.assessed:
        return "P3", "impact not assessed: no history of the run was found"
    return "P3", "no shopper saw an error and every health probe stayed green"


def status(record: Mapping[str, Any], history: ScenarioHistory | None) -> str:
    timeline = record.get("timeline") or {}
    if not timeline.get("injected"):
        return "Not started (the fault was never injected)"
    if timeline.get("restored"):
        return "Resolved"
    applied = history is not None and history.first_event("recovery_applied") is not None
    if applied:
        return "Monitoring (the fix was applied; steady state did not come back)"
    if timeline.get("detected"):
        return "Identified (detected; no fix applied)"
    return "Investigating (never detected)"


def incident_id(record: Mapping[str, Any]) -> str:
    when = parse_iso((record.get("timeline") or {}).get("injected")) or parse_iso(record.get("started"))
    day = datetime.fromtimestamp(when, timezone.utc).strftime("%Y%m%d") if when is not None else "00000000"
    suffix = "-control" if record.get("control") else ""
    return f"INC-{day}-{record.get('id', 'unknown')}{suffix}"


def scenario_test_name(record: Mapping[str, Any]) -> str:
    artifacts = str(record.get("artifacts") or "")
    if artifacts:
        return Path(artifacts).name
    slug = re.sub(r"[^A-Za-z0-9]+", "_", str(record.get("name") or "scenario")).strip("_").lower()
    return slug + (f"_{record['control']}" if record.get("control") else "")


def incident_filename(record: Mapping[str, Any]) -> str:
    name = f"{record.get('id', 'unknown')}-{scenario_test_name(record)}.md"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


# -- markdown --------------------------------------------------------------------------------------


def cell(value: object) -> str:
    """Text safe inside a markdown table cell (one line, pipes escaped)."""
    text = " ".join(str(value).split())
    return text.replace("|", "\\|")


def value(v: object) -> str:
    """A measured value for people: floats to 4 significant digits, the rest as JSON-ish text."""
    if isinstance(v, float):
        return f"{v:.4g}"
    if v is None:
        return "—"
    return str(v)


def code(value: object) -> str:
    text = " ".join(str(value).split())
    return f"`{text}`" if "`" not in text else text


def _iso_of(history: ScenarioHistory | None, f: str) -> tuple[str | None, Mapping[str, Any]]:
    event = history.first_event(f) if history is not None else None
    if event is None:
        return None, {}
    iso = datetime.fromtimestamp(event.time, timezone.utc).isoformat(timespec="milliseconds")
    return iso, event.value or {}


def _offset(iso: str | None, injected: str | None) -> str:
    a, b = parse_iso(iso), parse_iso(injected)
    if a is None or b is None:
        return ""
    return f" (+{a - b:.2f} s)" if a >= b else f" ({a - b:.2f} s)"


def _procedure(record: Mapping[str, Any], history: ScenarioHistory | None) -> str | None:
    for f in ("recovery_started", "recovery_applied", "recovery_skipped"):
        _, value = _iso_of(history, f)
        if value.get("procedure"):
            return str(value["procedure"])
    return None


def _timeline_rows(record: Mapping[str, Any], history: ScenarioHistory | None) -> list[tuple[str, str]]:
    tl = record.get("timeline") or {}
    evidence = record.get("evidence") or {}
    detection = record.get("detection") or {}
    measured, targets = record.get("measured") or {}, record.get("targets") or {}
    injected = tl.get("injected")
    procedure = _procedure(record, history) or "the runbook procedure"
    applied_at, _ = _iso_of(history, "recovery_applied")
    skipped_at, skipped = _iso_of(history, "recovery_skipped")
    confirmed_at, _ = _iso_of(history, "restored")
    not_restored_at, not_restored = _iso_of(history, "not_restored")
    healed_at, _ = _iso_of(history, "healed")
    if not injected:
        return [("—", f"No fault was injected: the scenario ended with verdict {record.get('verdict')} first")]
    rows: list[tuple[str | None, str]] = [
        (injected, f"**Incident started**: fault injected ({code(evidence.get('fault') or 'unknown fault')})"),
        (tl.get("landed"), f"Fault landed: {evidence.get('summary')}" if tl.get("landed")
         else "Fault landed: not confirmed (no evidence)"),
        (tl.get("detected"), f"**Incident detected** by {code(detection.get('signal') or '?')}: "
                             f"{detection.get('seen') or ''} (MTTD {fmt_s(measured.get('mttd_s'))}, target "
                             f"{fmt_s(targets.get('mttd_s'))})" if tl.get("detected")
         else f"**Incident detected**: never (signal {code(detection.get('signal') or '?')})"),
    ]
    human_at, human = _iso_of(history, "human_detected")
    if human_at:
        rows.append((human_at, f"**Detected by the room** (the game day's `d` key): MTTD "
                               f"{fmt_s(human.get('human_mttd_s'))}"))
    known = [t for t in (tl.get("landed"), tl.get("detected")) if t]
    if evidence.get("summary") and known:
        rows.append((max(known, key=lambda t: parse_iso(t) or 0.0),
                     f"**Root cause identified**: {evidence.get('summary')}"))
    rows.append((tl.get("recovery_started"), f"**Investigation started**, runbook recovery begun: {code(procedure)}"
                 if tl.get("recovery_started") else "**Investigation started**: never (no recovery was begun)"))
    if applied_at:
        rows.append((applied_at, f"**Fix deployed**: {code(procedure)} applied"))
        rows.append((applied_at, "**Monitoring**: waiting for steady state (every health probe green and the "
                                 "load succeeding for the hold time)"))
    elif skipped_at:
        rows.append((skipped_at, f"Fix NOT deployed: recovery skipped ({skipped.get('reason') or 'control run'})"))
    if tl.get("restored"):
        rows.append((tl["restored"], f"**Resolved**: steady state is back (RTO {fmt_s(measured.get('rto_s'))}, "
                                     f"target {fmt_s(targets.get('rto_s'))})"))
        if confirmed_at:
            rows.append((confirmed_at, "Resolution confirmed after the steady-state hold"))
    elif injected:
        waited = not_restored.get("waited_s")
        rows.append((not_restored_at, "**Not resolved**: no steady state" + (f" within {waited} s" if waited else "")))
    tripped = (record.get("guardrails") or {}).get("tripped")
    if tripped:
        rows.append((tripped.get("at"), f"**Aborted**: guardrail {code(tripped.get('guardrail'))} tripped "
                                        f"({tripped.get('measured')})"))
        if tripped.get("healed"):
            rows.append((tripped["healed"], "The harness healed the fault at once (the guardrail)"))
    elif healed_at and not tl.get("restored"):
        rows.append((healed_at, "The harness healed the fault when the scenario ended"))
    rows.sort(key=lambda row: parse_iso(row[0]) or float("inf"))
    return [(time or "—", action + (_offset(time, injected) if time and injected else "")) for time, action in rows]


def _impact_lines(record: Mapping[str, Any], impact: Impact) -> list[str]:
    windows = record.get("windows") or {}
    fault = windows.get("fault") or {}
    measured = record.get("measured") or {}
    lines: list[str] = []
    if impact.fault_target:
        lines.append(f"- Fault target: **{impact.fault_target}**")
    if not impact.injected:
        lines.append("- No impact: the fault was never injected")
    elif not impact.assessed:
        lines.append("- Impact could not be assessed: no history of the run was found")
    if impact.assessed:
        if impact.red_services:
            red = ", ".join(f"{name} ({bad}/{total} probes failed)" for name, (bad, total) in impact.red_services.items())
            lines.append(f"- Affected services (health probe went red): {red}")
        else:
            lines.append("- Affected services: no health probe went red during the incident")
        if impact.failed_by_op:
            journeys = ", ".join(f"{f} ×{n}" for f, n in impact.failed_by_op.items())
            answers = ", ".join(f"{a} ×{n}" for a, n in impact.answers.items())
            lines.append(f"- Shopper requests that failed: {journeys} (answers: {answers})")
        shown = ", ".join(impact.users[:MAX_LISTED]) + (" …" if len(impact.users) > MAX_LISTED else "")
        lines.append(f"- Estimated affected users: **{len(impact.users)} of {impact.load_users}** simulated shoppers "
                     f"saw at least one error" + (f" ({shown})" if impact.users else ""))
        lines.append(f"- Incident window: {fmt_s(impact.window_s)}, {impact.load_ops} shopper requests, "
                     f"{impact.failed_ops} failed or unknown"
                     + (f" ({impact.cancelled} more cancelled when the load stopped, not counted)"
                        if impact.cancelled else ""))
    failed = measured.get("failed_requests")
    if fault:
        rate = fault.get("success_rate")
        lines.append(f"- Failed requests (fault window): **{failed if failed is not None else '—'}** of "
                     f"{fault.get('total', '—')}; success rate "
                     f"{'—' if rate is None else f'{100 * rate:.1f}%'}, p95 {fmt_s(fault.get('p95_ms'), ' ms')}")
    elif failed is not None:
        lines.append(f"- Failed requests (fault window): **{failed}**")
    business = []
    if impact.checkouts:
        business.append(f"{impact.checkouts_failed} of {impact.checkouts} checkouts failed")
    elif impact.assessed:
        business.append("no checkout was attempted during the incident")
    if impact.lost_orders is not None:
        business.append(f"{impact.lost_orders} acknowledged order(s) lost of {impact.acknowledged_orders or 0} "
                        f"acknowledged (RPO {fmt_s(measured.get('rpo_s'))})")
    else:
        business.append("lost orders not measured")
    lines.append("- Business impact: " + "; ".join(business))
    extra = record.get("extra") or {}
    if extra:
        lines.append("- The scenario's own figures: " + ", ".join(f"{k} = {code(value(v))}" for k, v in extra.items()))
    return lines


def reason_line(record: Mapping[str, Any], limit: int = 300) -> str:
    """The telling line of a verdict's reason: the first `E ...` line of a pytest report, else its end."""
    text = str(record.get("reason") or "")
    errors = [line.strip()[1:].strip() for line in text.splitlines() if line.strip().startswith("E ")]
    line = errors[0] if errors else " ".join(text.split())[-limit:]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _summary_text(record: Mapping[str, Any], history: ScenarioHistory | None) -> str:
    tl = record.get("timeline") or {}
    evidence, detection = record.get("evidence") or {}, record.get("detection") or {}
    measured, targets = record.get("measured") or {}, record.get("targets") or {}
    verdict, control = record.get("verdict"), record.get("control")
    name = f"{record.get('id', '?')} {record.get('name', '')}".strip()
    if not tl.get("injected"):
        reason = reason_line(record)
        return (f"Chaos scenario {name} ended with verdict **{verdict}** before any fault was injected, so there "
                f"was no incident. Reason: {reason or 'none recorded'}")
    parts = [f"Chaos scenario {name}: the suite injected {code(evidence.get('fault') or 'a fault')} into the "
             f"running platform under simulated shopper load at {tl['injected']}."]
    if tl.get("detected"):
        parts.append(f"It was detected after {fmt_s(measured.get('mttd_s'))} (target {fmt_s(targets.get('mttd_s'))}) "
                     f"by the runbook signal {code(detection.get('signal') or '?')}.")
    else:
        parts.append("The runbook's detection signal never showed it.")
    room = _room_detection(record)
    if room:
        parts.append(room)
    procedure = _procedure(record, history)
    if control and (record.get("guardrails") or {}).get("tripped"):
        parts.append(f"This is a **negative control** ({control}): a guardrail had to trip during the fault, heal "
                     f"it at once and abort the run before its recovery ({code(procedure or '?')}).")
    elif control:
        parts.append(f"This is a **negative control** ({control}): the recovery ({code(procedure or '?')}) was "
                     "deliberately skipped, and the scenario had to miss its checks.")
    elif procedure:
        parts.append(f"Recovery: {code(procedure)}.")
    if tl.get("restored"):
        parts.append(f"Steady state came back after {fmt_s(measured.get('rto_s'))} (RTO target "
                     f"{fmt_s(targets.get('rto_s'))}).")
    else:
        parts.append("Steady state did not come back while the scenario waited.")
    verdict_text = {"pass": "every check held" if not control else "the checks failed as they must (the control bit)",
                    "fail": "at least one check missed its target" if not control
                    else "the scenario passed its checks without the recovery: the control did NOT bite",
                    "error": "the harness could not judge the run", "skipped": "the scenario was skipped",
                    "flaky": "it failed, then passed when run again: not a pass (see its attempts)",
                    "aborted": ("a guardrail tripped during the fault, so the suite healed the fault at once, "
                                "skipped the recovery and did not judge the run" if _guardrail_tripped(record)
                                else "the run was stopped before it was judged, every fault healed")
                               + " (" + reason_line(record) + ")"}
    parts.append(f"Verdict **{verdict}**: {verdict_text.get(str(verdict), str(verdict))}.")
    return " ".join(parts)


def _root_cause(record: Mapping[str, Any]) -> list[str]:
    evidence, detection = record.get("evidence") or {}, record.get("detection") or {}
    if not evidence:
        return ["No fault evidence was recorded: the fault was not injected, or it did not land."]
    lines = [f"Fault injected by the chaos suite: **{evidence.get('fault', '?')}**.", "",
             f"Evidence that it landed: {evidence.get('summary', '—')}."]
    facts = {k: v for k, v in evidence.items() if k not in ("fault", "summary")}
    if facts:
        lines += ["", "Facts: " + ", ".join(f"{k} = {code(v)}" for k, v in facts.items())]
    if detection:
        lines += ["", f"Detection signal: {code(detection.get('signal') or '?')}; it showed: "
                      f"{code(detection.get('seen')) if detection.get('seen') else 'nothing (never detected)'}."]
    return lines


def _resolution(record: Mapping[str, Any], history: ScenarioHistory | None) -> list[str]:
    tl = record.get("timeline") or {}
    procedure = _procedure(record, history)
    applied_at, _ = _iso_of(history, "recovery_applied")
    skipped_at, skipped = _iso_of(history, "recovery_skipped")
    lines: list[str] = []
    if procedure:
        lines.append(f"- Runbook procedure: {code(procedure)}, started at {tl.get('recovery_started') or '—'}")
    if applied_at:
        lines.append(f"- Applied at {applied_at}")
    elif skipped_at:
        lines.append(f"- **Not applied**: skipped at {skipped_at} ({skipped.get('reason') or 'control run'})")
    if tl.get("restored"):
        lines.append(f"- Steady state returned at {tl['restored']} "
                     f"(RTO {fmt_s((record.get('measured') or {}).get('rto_s'))})")
    elif tl.get("injected"):
        lines.append("- Steady state did not return while the scenario waited")
    if not lines:
        lines.append("No recovery was attempted.")
    checks = record.get("checks") or []
    if checks:
        passed = sum(1 for c in checks if c.get("passed"))
        lines += ["", f"Verification by the suite: {passed} of {len(checks)} checks passed.", "",
                  "| Check | Result | Measured | Target | Detail |", "|---|---|---|---|---|"]
        for c in checks:
            lines.append(f"| {cell(c.get('name'))} | {'✓ passed' if c.get('passed') else '✗ failed'} | "
                         f"{cell(value(c.get('measured')))} | {cell(value(c.get('target')))} | {cell(c.get('detail') or '')} |")
    return lines


def _follow_ups(record: Mapping[str, Any]) -> list[str]:
    control, verdict = record.get("control"), record.get("verdict")
    failed = [c for c in record.get("checks") or [] if not c.get("passed")]
    items: list[str] = []
    if control:
        names = ", ".join(code(c.get("name")) for c in failed) or "none"
        if verdict == "pass":
            items.append(f"Control run ({control}): the checks that failed ({names}) failed by design; nothing to fix, "
                         "keep the control in the suite")
        else:
            items.append(f"The control ({control}) did not bite (verdict {verdict}): make the scenario's checks "
                         f"sensitive to a missing recovery (failed: {names})")
    else:
        for c in failed:
            detail = f" ({c.get('detail')})" if c.get("detail") else ""
            items.append(f"Fix {code(c.get('name'))}: measured {code(value(c.get('measured')))}, target "
                         f"{code(value(c.get('target')))}{detail}")
    if verdict == "error":
        items.append(f"The harness could not judge the scenario: {reason_line(record) or 'see the reason'}; "
                     "fix the cause and run it again")
    elif verdict == "skipped":
        items.append(f"The scenario was skipped ({reason_line(record)}); "
                     "run it where it can run")
    elif verdict == "aborted" and _guardrail_tripped(record):
        items.append(f"The run was aborted ({reason_line(record)}): the fault did more harm than the scenario "
                     "allows; find why before running it again, or widen the guardrail with a written reason")
    elif verdict == "aborted":
        items.append(f"The run was stopped before it was judged ({reason_line(record)}); run it to the end to "
                     "judge the recovery")
    elif verdict == "flaky":
        items.append(f"The scenario is flaky ({reason_line(record)}): find what the failed attempt depended "
                     "on; its artifacts are kept beside the passing one's")
    for note in record.get("notes") or []:
        items.append(f"Harness note: {' '.join(str(note).split())}")
    if not items:
        items.append("No check failed: review the timeline and decide on preventive measures")
    return [f"- [ ] {item}" for item in items]


def _checklist(record: Mapping[str, Any], impact: Impact) -> list[str]:
    tl = record.get("timeline") or {}
    missing = [k for k in ("injected", "detected", "recovery_started", "restored") if not tl.get(k)]
    evidence = record.get("evidence") or {}
    control, verdict = record.get("control"), record.get("verdict")
    verified: dict[str, tuple[bool, str]] = {
        "Timeline documented": (not missing, "injection, detection, recovery start and restoration times recorded"
                                if not missing else f"incomplete: no {', '.join(missing)} time"),
        "Root cause identified": (bool(evidence.get("summary")), f"fault evidence: {evidence.get('summary')}"
                                  if evidence.get("summary") else "no fault evidence recorded"),
        "Impact assessed": (impact.assessed, "from the run's history (probes, shopper requests, orders)"
                            if impact.assessed else "no history to assess it from"),
        "Fix verified": (verdict == "pass" and not control and bool(tl.get("restored")),
                         "verdict pass: steady state returned and every check held" if verdict == "pass" and not control
                         else ("control run: the fix was deliberately not applied" if control
                               else f"verdict {verdict}: not verified")),
    }
    lines = []
    for item in CHECKLIST:
        if item in verified:
            ok, why = verified[item]
            lines.append(f"- [{'x' if ok else ' '}] {item}{' ✓' if ok else ''} — {why}")
        else:
            lines.append(f"- [ ] {item} — for the team")
    return lines


def render_incident(record: Mapping[str, Any], history: ScenarioHistory | None) -> str:
    impact = assess_impact(record, history)
    level, why = severity(impact)
    tl = record.get("timeline") or {}
    control = record.get("control")
    lines = [
        "# Incident Report", "",
        f"**Incident ID:** {incident_id(record)}  ",
        f"**Severity:** {level} ({why})  ",
        f"**Status:** {status(record, history)}  ",
        f"**Start Time:** {tl.get('injected') or record.get('started') or '—'}  ",
        f"**Scenario:** runbook {record.get('id', '?')} {record.get('name', '')}, test {code(scenario_test_name(record))}"
        + (f", negative control {code(control)}" if control else "") + f", verdict **{record.get('verdict')}**  ",
        "**Type:** chaos experiment (fault injected by aarya-chaos, simulated shoppers)", "",
        "## Summary", "", _summary_text(record, history), "",
        "## Impact", "", *_impact_lines(record, impact), "",
        f"Severity rule: {SEVERITY_RULE}.", "",
        "## Timeline", "", "| Time | Action |", "|------|--------|",
        *[f"| {cell(time)} | {cell(action)} |" for time, action in _timeline_rows(record, history)], "",
        "## Root Cause", "", *_root_cause(record), "",
        "## Resolution", "", *_resolution(record, history), "",
        "## Follow-up Actions", "", *_follow_ups(record), "",
        "## Post-Incident Review", "", "### Checklist", "", *_checklist(record, impact), "",
    ]
    artifacts = record.get("artifacts")
    if artifacts:
        lines += [f"_Artifacts of the run: {code(artifacts)} (history/*.jsonl, load/)._", ""]
    return "\n".join(lines)


def write_incident_report(record: dict[str, Any], out_dir: Path, *, history: Path | None = None,
                          summary_dir: Path | None = None) -> Path:
    """Write `<out_dir>/<id>-<test>.md` for one summary record and return its path.

    The history is read from `history` (a `history/` directory) if given, else found from the record's
    `artifacts` (next to `summary_dir`'s summary first, see `load.history.history_dir`); without one the
    report says the impact could not be assessed.
    """
    directory = history if history is not None else history_dir(record, summary_dir=summary_dir)
    text = render_incident(record, ScenarioHistory.load(directory))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / incident_filename(record)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def _room_detection(record: Mapping[str, Any]) -> str:
    """A game day's own detection (the `d` key), beside the runbook signal's; empty outside game days."""
    human = (record.get("extra") or {}).get("human_mttd_s")
    if human is None:
        return ""
    return f"The room said it had detected it after {fmt_s(human)} (the game day's `d` key)."


def _guardrail_tripped(record: Mapping[str, Any]) -> bool:
    """An aborted record is a guardrail's, or a game day stopped by the room (`n`, Ctrl-C)."""
    return bool((record.get("guardrails") or {}).get("tripped"))
