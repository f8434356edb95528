"""Allure steps for the chaos scenarios: inject, detect, recover and verify, each with its attachments.

A pytest plugin module. It does something only when allure-pytest writes results (`--alluredir DIR`);
without it every hook returns at once.

The steps are reported after the fact, when the scenario has finished (`pytest_aarya_scenario_finished`, called
from the `chaos` fixture's teardown): the scenario's own timeline gives each step its real start and stop
(injected -> landed, injected -> detected, recovery started -> restored, then the verification), which a
live `with allure.step(...)` could not (detection happens between two announcements, and a step left open by
a failing scenario would swallow later attachments). They go into the running test's allure result
through allure-commons' reporter (`AllureReporter.start_step/attach_file/attach_data/stop_step` with the
test's uuid as the parent), so they show in the test body, not in the fixture's tear-down.

    inject   evidence that the fault landed (JSON), the log of the faulted component (last 80 lines)
    detect   the detection signal and what it showed, the scenario's history (probes and events, JSONL)
    recover  the logs of the services involved (the fault target and each service whose probe went red)
    verify   every check (JSON), the timeline plot (PNG), locust's statistics (CSV/JSON) and the load
             history (JSONL)

The test also gets labels (epic, feature = runbook section, story = scenario or negative control) and its
incident report (markdown).

Hook names. pytest only delivers hooks whose names start with `pytest_` to plugins (its plugin manager
ignores any other name, even with `@pytest.hookimpl`), so the implementations are
`pytest_aarya_before_step` and `pytest_aarya_scenario_finished`, marked optional so that loading this module
never fails; they are called once fixtures/plugin.py declares and calls the hooks under those names.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from load.history import ScenarioHistory, history_dir, parse_iso
from reports.formatting import fmt_s
from reports.incident import assess_impact, render_incident
from reports.plots import timeline_png

if TYPE_CHECKING:
    from fixtures.scenario import ScenarioRun

LOG_LINES = 80
MAX_LOGGED_SERVICES = 5
LOAD_FILES = ("locust_stats.csv", "locust_failures.csv", "locust_exceptions.csv", "locust_summary.json",
              "locust.log")

# id(run) -> step -> (epoch seconds, description), from pytest_aarya_before_step
_announced: dict[int, dict[str, tuple[float, str]]] = {}


@dataclass(frozen=True)
class Attachment:
    name: str
    kind: str  # "text", "json", "csv", "png", "jsonl"
    body: bytes | str | None = None
    path: Path | None = None


@dataclass(frozen=True)
class StepPlan:
    """One allure step, decided before anything is reported."""

    name: str
    start_ms: int
    stop_ms: int
    status: str  # "passed", "failed", "broken", "skipped"
    message: str = ""
    parameters: Mapping[str, str] = field(default_factory=dict)
    attachments: Sequence[Attachment] = ()


def _ms(epoch_s: float | None, default: int) -> int:
    return default if epoch_s is None else int(round(epoch_s * 1000))


def _event_time(history: ScenarioHistory | None, f: str) -> float | None:
    event = history.first_event(f) if history is not None else None
    return None if event is None else event.time


def _check(record: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    return next((c for c in record.get("checks") or [] if c.get("name") == name), None)


def involved_services(record: Mapping[str, Any], history: ScenarioHistory | None) -> list[str]:
    """The fault target, then every service whose health probe went red during the incident."""
    impact = assess_impact(record, history)
    names = [impact.fault_target] if impact.fault_target else []
    names += [name for name in impact.red_services if name not in names]
    return names[:MAX_LOGGED_SERVICES]


def plan_steps(record: Mapping[str, Any], history: ScenarioHistory | None, *,
               announced: Mapping[str, tuple[float, str]] | None = None,
               logs: Callable[[str], str] | None = None, load_dir: Path | None = None,
               now: float | None = None) -> list[StepPlan]:
    """The four steps of a scenario (fewer if it stopped early), with their times, statuses and attachments.

    `logs(name)` returns the end of a component's log (the driver's `logs(name, 80)`); `load_dir` holds
    locust's outputs. Pure apart from calling `logs` and rendering the plot.
    """
    announced = announced or {}
    tl = record.get("timeline") or {}
    evidence, detection = record.get("evidence") or {}, record.get("detection") or {}
    measured, targets = record.get("measured") or {}, record.get("targets") or {}
    control, verdict = record.get("control"), str(record.get("verdict"))
    end_ms = _ms(now if now is not None else time.time(), 0)
    injected = parse_iso(tl.get("injected"))
    steps: list[StepPlan] = []

    def log_attachment(name: str) -> Attachment:
        try:
            text = logs(name) if logs is not None else ""
        except Exception as exc:  # an unknown component or a vanished log is reported, not raised
            text = f"(no log: {type(exc).__name__}: {exc})"
        return Attachment(f"log: {name} (last {LOG_LINES} lines)", "text", text or "(empty)")

    fault = str(evidence.get("fault") or announced.get("inject", (0.0, "inject"))[1].removeprefix("inject: "))
    if injected is None:
        announce = announced.get("inject")
        steps.append(StepPlan(f"inject: {fault or 'the fault'}", _ms(announce[0] if announce else None, end_ms),
                              end_ms, "broken" if verdict == "error" else "skipped",
                              f"the fault was never injected (verdict {verdict})"))
        return steps

    landed = parse_iso(tl.get("landed"))
    services = involved_services(record, history)
    target = services[0] if services and (assess_impact(record, history).fault_target == services[0]) else None
    inject_files = [Attachment("evidence.json", "json", json.dumps(evidence, indent=2, default=str))]
    if target:
        inject_files.append(log_attachment(target))
    steps.append(StepPlan(
        f"inject: {fault}", _ms(injected, end_ms), _ms(landed if landed is not None else injected, end_ms),
        "passed" if landed is not None else "broken",
        str(evidence.get("summary") or "the fault did not land"),
        {"fault": fault, "landed": str(tl.get("landed") or "no")}, inject_files))

    detected = parse_iso(tl.get("detected"))
    mttd_check = _check(record, "detected_within_mttd_target")
    detect_ok = detected is not None and (mttd_check is None or bool(mttd_check.get("passed")))
    detect_files: list[Attachment] = [Attachment(
        "detection.txt", "text", f"signal: {detection.get('signal')}\nseen: {detection.get('seen')}\n")]
    if history is not None and (history.directory / "scenario.jsonl").is_file():
        detect_files.append(Attachment("history: scenario.jsonl (probes and events)", "jsonl",
                                       path=history.directory / "scenario.jsonl"))
    detect_stop = detected if detected is not None else _event_time(history, "not_detected")
    steps.append(StepPlan(
        f"detect: {detection.get('signal') or 'the runbook signal'}", _ms(injected, end_ms),
        _ms(detect_stop if detect_stop is not None else injected, end_ms),
        "passed" if detect_ok else "failed",
        f"MTTD {fmt_s(measured.get('mttd_s'))} (target {fmt_s(targets.get('mttd_s'))})"
        + ("" if detected is not None else ": never detected"),
        {"MTTD": fmt_s(measured.get("mttd_s")), "target": fmt_s(targets.get("mttd_s"))}, detect_files))

    recovery = parse_iso(tl.get("recovery_started"))
    if recovery is not None:
        restored = parse_iso(tl.get("restored"))
        skipped = history is not None and history.first_event("recovery_skipped") is not None
        procedure = next((str(e.value.get("procedure")) for f in ("recovery_started", "recovery_skipped")
                          for e in (history.events(f) if history is not None else []) if e.value), None)
        procedure = procedure or announced.get("recover", (0.0, "recover"))[1].removeprefix("recover: ")
        rto_check = _check(record, "restored_within_rto_target")
        if skipped:
            status, message = "skipped", f"control run: the recovery was skipped; RTO {fmt_s(measured.get('rto_s'))}"
        elif restored is not None and (rto_check is None or rto_check.get("passed")):
            status, message = "passed", f"RTO {fmt_s(measured.get('rto_s'))} (target {fmt_s(targets.get('rto_s'))})"
        else:
            status = "failed"
            message = (f"RTO {fmt_s(measured.get('rto_s'))} over the target {fmt_s(targets.get('rto_s'))}"
                       if restored is not None else "steady state never came back")
        stop = restored if restored is not None else _event_time(history, "not_restored")
        steps.append(StepPlan(
            f"recover: {procedure}", _ms(recovery, end_ms), _ms(stop if stop is not None else recovery, end_ms),
            status, message, {"RTO": fmt_s(measured.get("rto_s")), "target": fmt_s(targets.get("rto_s"))},
            [log_attachment(name) for name in services]))

    checks = record.get("checks") or []
    failed = [str(c.get("name")) for c in checks if not c.get("passed")]
    if verdict == "error":
        status, message = "broken", str(record.get("reason") or "the harness could not judge the run")[-500:]
    elif control:
        status = "passed" if verdict == "pass" else "failed"
        message = (f"control ({control}): failed as it must: {', '.join(failed) or 'no check'}" if verdict == "pass"
                   else f"control ({control}) did not bite: every check held without the recovery")
    elif failed:
        status, message = "failed", "missed: " + ", ".join(failed)
    else:
        status, message = "passed", f"{len(checks)} checks held"
    verify_files: list[Attachment] = [Attachment("checks.json", "json", json.dumps(checks, indent=2, default=str))]
    if history is not None:
        try:
            verify_files.append(Attachment("timeline.png", "png", timeline_png(record, history)))
        except Exception as exc:  # a plot never stops the report
            verify_files.append(Attachment("timeline plot failed", "text", f"{type(exc).__name__}: {exc}"))
        verify_files += [Attachment(f"history: {path.name}", "jsonl", path=path)
                         for path in sorted(history.directory.glob("load-*.jsonl"))]
    if load_dir is not None and load_dir.is_dir():
        verify_files += [Attachment(f"load: {name}", Path(name).suffix.lstrip(".") or "text", path=load_dir / name)
                         for name in LOAD_FILES if (load_dir / name).is_file()]
    verify_start = parse_iso(tl.get("restored")) or _event_time(history, "not_restored") or recovery or injected
    steps.append(StepPlan(f"verify: {len(checks)} checks", _ms(verify_start, end_ms), max(end_ms, _ms(verify_start, 0)),
                          status, message, {"verdict": verdict}, verify_files))
    return steps


# -- reporting into allure -------------------------------------------------------------------------


def _reporter() -> Any | None:
    """allure-pytest's reporter when it is recording (`--alluredir`), else None."""
    try:
        import allure_commons
        from allure_commons.reporter import AllureReporter
    except ImportError:
        return None
    for plugin in allure_commons.plugin_manager.get_plugins():
        logger = getattr(plugin, "allure_logger", None)
        if isinstance(logger, AllureReporter):
            return logger
    return None


def _attachment_type(kind: str) -> Any:
    from allure_commons.types import AttachmentType

    return {"text": AttachmentType.TEXT, "json": AttachmentType.JSON, "csv": AttachmentType.CSV,
            "png": AttachmentType.PNG, "jsonl": AttachmentType.TEXT, "log": AttachmentType.TEXT,
            "html": AttachmentType.HTML}.get(kind, AttachmentType.TEXT)


def report_steps(reporter: Any, steps: Sequence[StepPlan], parent_uuid: str | None = None) -> int:
    """Add `steps` under the test `parent_uuid` (default: the running test) of an AllureReporter."""
    from allure_commons.model2 import Parameter, Status, StatusDetails, TestStepResult

    if parent_uuid is None:
        test = reporter.get_test(None)
        if test is None:
            return 0
        parent_uuid = test.uuid
    statuses = {"passed": Status.PASSED, "failed": Status.FAILED, "broken": Status.BROKEN, "skipped": Status.SKIPPED}
    for plan in steps:
        step_uuid = _uuid()
        reporter.start_step(parent_uuid, step_uuid, TestStepResult(
            name=plan.name, start=plan.start_ms,
            parameters=[Parameter(name=k, value=v) for k, v in plan.parameters.items()]))
        for item in plan.attachments:
            kind = _attachment_type(item.kind)
            if item.path is not None:
                reporter.attach_file(_uuid(), str(item.path), name=item.name, attachment_type=kind,
                                     parent_uuid=step_uuid)
            else:
                reporter.attach_data(_uuid(), item.body if item.body is not None else "", name=item.name,
                                     attachment_type=kind, parent_uuid=step_uuid)
        reporter.stop_step(step_uuid, stop=plan.stop_ms, status=statuses.get(plan.status, Status.BROKEN),
                           statusDetails=StatusDetails(message=plan.message) if plan.message else None)
    return len(steps)


def _labels(record: Mapping[str, Any]) -> None:
    """Epic, feature (the runbook section) and story of the running test (what allure.dynamic.* does)."""
    import allure_commons
    from allure_commons.types import LabelType

    story = f"negative control ({record['control']})" if record.get("control") else "scenario"
    for kind, value in ((LabelType.EPIC, "aarya-chaos runbook scenarios"),
                        (LabelType.FEATURE, f"{record.get('id')} {record.get('name')}"), (LabelType.STORY, story)):
        allure_commons.plugin_manager.hook.add_label(label_type=kind, labels=[value])


@pytest.hookimpl(optionalhook=True)
def pytest_aarya_before_step(run: ScenarioRun, step: str, description: str) -> None:
    """Note when each step was announced (the descriptions name the fault and the procedure)."""
    if _reporter() is None:
        return
    _announced.setdefault(id(run), {})[step] = (time.time(), description)


@pytest.hookimpl(optionalhook=True)
def pytest_aarya_scenario_finished(run: ScenarioRun, record: dict[str, Any]) -> None:
    """Report the scenario's steps into the running test's allure result."""
    announced = _announced.pop(id(run), {})
    reporter = _reporter()
    if reporter is None:
        return
    test = reporter.get_test(None)
    if test is None:
        return
    try:
        out_dir = Path(run.out_dir)
        directory = out_dir / "history" if (out_dir / "history").is_dir() else history_dir(record)
        history = ScenarioHistory.load(directory)
        steps = plan_steps(record, history, announced=announced,
                           logs=lambda name: run.stack.logs(name, LOG_LINES), load_dir=out_dir / "load")
        report_steps(reporter, steps, test.uuid)
        reporter.attach_data(_uuid(), render_incident(record, history), name="incident report (markdown)",
                             attachment_type=_attachment_type("text"), parent_uuid=test.uuid)
        _labels(record)
    except Exception as exc:  # a report never turns a scenario into an error; say what went wrong instead
        reporter.attach_data(_uuid(), f"{type(exc).__name__}: {exc}", name="aarya-chaos: allure steps failed",
                             attachment_type=_attachment_type("text"), parent_uuid=test.uuid)


def _uuid() -> str:
    return str(uuid.uuid4())  # what allure_commons.utils.uuid4 returns


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say so when allure is on but the scenario hooks cannot reach this plugin."""
    if not getattr(config.option, "allure_report_dir", None):
        return []
    caller = getattr(config.hook, "pytest_aarya_scenario_finished", None)
    if caller is not None and getattr(caller, "spec", None) is not None:
        return ["aarya-chaos: allure steps on (inject, detect, recover, verify)"]
    return ["aarya-chaos: allure steps OFF: no `pytest_aarya_scenario_finished` hook is declared "
            "(pytest ignores hook implementations whose names do not start with pytest_)"]
