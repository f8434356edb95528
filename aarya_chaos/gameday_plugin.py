"""pytest plugin for game days (`aarya-chaos gameday`, or `pytest -p aarya_chaos.gameday_plugin scenarios -k ...`).

It implements the scenario hooks of fixtures/plugin.py (optional hooks: the plugin loads without them):

    pytest_aarya_scenario_started   start a live view (rich Live, refreshed twice a second in its own
                                    thread): the load's success rate and p95 latency over the last 10 s,
                                    requests in flight for more than 2 s, each component's process
                                    (running, pid) from `run.stack.status()` and its health from the probes,
                                    the phase and timeline from the run's events, the elapsed time, and
                                    MTTD/RTO against their targets
    pytest_aarya_before_step        ask before `inject` and before `recover`: on a terminal inside the
                                    running view, one key (read_yes_no), else rich Confirm.ask; no = heal
                                    every fault and stop the session (pytest.exit); `--gameday-auto` asks
                                    nothing
    pytest_aarya_scenario_finished  stop the view, write the incident report to <reports dir>/gameday/
                                    (reports.incident, or a minimal one if that module is missing), print
                                    the verdict, the checks and the report's path

Ctrl-C: the heal registry's SIGINT handler heals every pending fault first; this plugin then stops the
view at once (pytest_keyboard_interrupt), the scenario's teardown still records the run, and the report
says "aborted". `STATE` keeps what happened for `aarya_chaos.gameday` (exit status, closing message).

The view reads the history files incrementally (only the bytes appended since the last refresh) rather
than calling `run.ops()`, which re-reads and re-pairs the whole history each time: twice a second over a
long game day that would compete with the stack for the CPU.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.prompt import Confirm
from rich.table import Table

from aarya_chaos.gameday_view import DetectedKey, LiveView, read_yes_no


@dataclass
class GameDayState:
    """What the game day did, for `aarya_chaos.gameday` to report after pytest.main returns."""

    records: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[Path] = field(default_factory=list)
    aborted: str | None = None  # "declined" | "interrupted"
    aborted_at: str = ""
    heal_errors: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def closing_lines(self) -> list[str]:
        lines: list[str] = []
        if self.aborted is not None:
            if self.heal_errors:
                lines.append(f"[bold red]aborted ({escape(self.aborted_at)}): could not heal "
                             f"{escape('; '.join(self.heal_errors))}; run `aarya-chaos heal`[/bold red]")
            else:
                lines.append(f"[bold yellow]aborted: every fault healed[/bold yellow] ({escape(self.aborted_at)})")
        elif self.records:
            verdicts = ", ".join(f"{r.get('id')} {r.get('verdict')}" for r in self.records)
            lines.append(f"game day over: {escape(verdicts)}")
        lines += [f"incident report: {escape(str(p))}" for p in self.incidents]
        for error in self.errors:
            lines.append(f"[red]{escape(error)}[/red]")
        return lines


STATE = GameDayState()


# ---------------------------------------------------------------------------------------------------
# the plugin
# ---------------------------------------------------------------------------------------------------


class _HealErrors(logging.Handler):
    """Collects the heal registry's "could not heal" errors (its SIGINT handler only logs them)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.errors.append(record.getMessage())


class GameDay:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.auto = bool(config.getoption("--gameday-auto"))
        self.console = Console()
        self.view: LiveView | None = None
        self.run: Any = None
        self.detected_key: DetectedKey | None = None
        self._on_detected: Callable[[], None] | None = None  # records the room's detection, while the fault is on
        self._heal_log = _HealErrors()
        logging.getLogger("aarya.heal").addHandler(self._heal_log)

    def close(self) -> None:
        self._stop_listening()
        if self.view is not None:
            self.view.stop()
        logging.getLogger("aarya.heal").removeHandler(self._heal_log)
        STATE.heal_errors = list(self._heal_log.errors)

    # -- the stack starting ------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
                             ) -> Generator[None, Any, Any]:
        if fixturedef.argname != "stack":
            return (yield)
        started = time.monotonic()
        with self.console.status("starting the stack: PostgreSQL, Redis, Toxiproxy, the services, the gateway..."):
            result = yield
        self.console.print(f"stack ready in {time.monotonic() - started:.0f}s; the load starts and the scenario "
                           "waits for steady state")
        return result

    # -- the scenario --------------------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_aarya_scenario_started(self, run: Any) -> None:
        self.run = run
        targets = run.targets
        judged = [f"MTTD <= {targets.mttd_s:.0f}s" if targets.mttd_s is not None else "",
                  f"RTO <= {targets.rto_s:.0f}s" if targets.rto_s is not None else "",
                  f"lost orders <= {targets.lost_acknowledged_writes}" if targets.lost_acknowledged_writes is not None
                  else ""]
        mode = "automatic: no questions" if self.auto else "you will be asked before the fault and before the recovery"
        self.console.print(Panel(f"[bold]{escape(run.id)} {escape(run.name)}[/bold]\n"
                                 f"targets: {', '.join(j for j in judged if j)}\n{mode}; Ctrl-C heals everything",
                                 title="game day", title_align="left"))
        self.view = LiveView(run, self.console)
        self.view.start()

    @pytest.hookimpl(optionalhook=True)
    def pytest_aarya_before_step(self, run: Any, step: str, description: str) -> None:
        view = self.view
        if self.auto:
            if view is not None:
                view.note(f"auto: {description}")
            return
        question = {"inject": "Inject the fault now?", "recover": "Apply the recovery now?"}.get(step, f"{step} now?")
        on_detected = self._on_detected
        self._stop_listening()  # the question reads the terminal now; `d` still counts while it waits
        if view is not None and self.console.is_terminal and sys.stdin.isatty():
            view.prompt = (question, description)  # the view keeps running: the room watches while deciding
            view.listening = on_detected is not None
            try:
                go = read_yes_no(sys.stdin.fileno(), on_other_key=None if on_detected is None else
                                 lambda key: on_detected() if key in (b"d", b"D") else None)
            except EOFError:
                go = False
            finally:
                view.prompt = None
                view.listening = False
            self._answered(run, step, description, go)
            return
        if view is not None:
            view.stop()
        context = ""
        if step == "recover" and run.timeline.injected is not None:
            active = time.monotonic() - run.timeline.injected
            seen = f"detected after {run.timeline.detected - run.timeline.injected:.1f}s" \
                if run.timeline.detected is not None else "not detected"
            context = f"\nthe fault has been active for {active:.1f}s ({seen}); the RTO clock is running"
        self.console.print(Panel(f"next: [bold]{escape(description)}[/bold]{context}", title=f"step: {step}",
                                 title_align="left", border_style="yellow"))
        try:
            go = Confirm.ask(question, default=True, console=self.console)
        except EOFError:
            go = False
        self._answered(run, step, description, go)

    def _answered(self, run: Any, step: str, description: str, go: bool) -> None:
        view = self.view
        if not go:
            if view is not None:
                view.stop()
            STATE.aborted, STATE.aborted_at = "declined", f"answered no before {step}"
            healed = run.registry.heal_all()
            names = ", ".join(h.name for h in healed) or "nothing was injected"
            self.console.print(f"[yellow]stopping: healed {escape(names)}[/yellow]")
            pytest.exit(f"game day stopped before {step}: every fault healed", returncode=3)
        if view is not None:
            view.note(f"go: {description}")
            view.start()  # a no-op when it kept running
            if step == "inject" and self.console.is_terminal and sys.stdin.isatty():
                self._listen_for_detection(run, view)

    def _listen_for_detection(self, run: Any, view: LiveView) -> None:
        """From the injection to the recovery question, `d` records when the room detected the incident:
        the human MTTD, beside the runbook signal's (and, once Prometheus runs, the alert's)."""
        def detected() -> None:
            injected = run.timeline.injected
            if injected is None or "human_mttd_s" in run.measured:
                return
            took = round(time.monotonic() - injected, 3)
            run.measured["human_mttd_s"] = took
            run.event("human_detected", human_mttd_s=took)

        self._on_detected = detected
        self.detected_key = DetectedKey(sys.stdin.fileno(), detected)
        self.detected_key.start()
        view.listening = True

    def _stop_listening(self) -> None:
        self._on_detected = None
        if self.detected_key is not None:
            self.detected_key.stop()
            self.detected_key = None
        if self.view is not None:
            self.view.listening = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and self.view is not None:
            self.view.stop()  # the scenario is over: pytest's own line must not land inside the view

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        self._stop_listening()
        if self.view is not None:
            self.view.stop()
        if STATE.aborted is None:
            STATE.aborted, STATE.aborted_at = "interrupted", "Ctrl-C"
            self.console.print("[yellow]Ctrl-C: faults healed; stopping the load, recording the run...[/yellow]")

    @pytest.hookimpl(optionalhook=True)
    def pytest_aarya_scenario_finished(self, run: Any, record: dict[str, Any]) -> None:
        self._stop_listening()
        if self.view is not None:
            self.view.stop()
        report = dict(record)
        if STATE.aborted is not None:
            # verify() never ran: what the timeline did measure still goes into the report
            measured = dict(record.get("measured") or {})
            timeline = run.timeline
            if measured.get("mttd_s") is None and timeline.injected is not None and timeline.detected is not None:
                measured["mttd_s"] = round(timeline.detected - timeline.injected, 3)
            if measured.get("rto_s") is None and timeline.injected is not None and timeline.restored is not None:
                measured["rto_s"] = round(timeline.restored - timeline.injected, 3)
            report["measured"] = measured
            report["verdict"] = "aborted"
            report["reason"] = f"game day aborted ({STATE.aborted_at}); every pending fault was healed. " + \
                str(record.get("reason") or "")
        STATE.records.append(report)
        self._print_result(report)
        path = self._write_incident(report, run)
        if path is not None:
            STATE.incidents.append(path)
            self.console.print(f"incident report: [bold]{escape(str(path))}[/bold]", soft_wrap=True)

    def _print_result(self, record: dict[str, Any]) -> None:
        verdict = str(record.get("verdict"))
        style = {"pass": "bold green", "fail": "bold red", "error": "bold red"}.get(verdict, "bold yellow")
        measured, targets = record.get("measured") or {}, record.get("targets") or {}
        table = Table("check", "passed", "measured", "target", title=f"{record.get('id')} {record.get('name')}: "
                      f"[{style}]{verdict}[/{style}]", title_justify="left")
        if not record.get("checks"):  # not verified (aborted, or an error): what was measured so far
            for key in ("mttd_s", "rto_s", "lost_acknowledged_writes"):
                if measured.get(key) is not None or targets.get(key) is not None:
                    table.add_row(key, "-", _fmt(measured.get(key)), _fmt(targets.get(key)))
        for check in record.get("checks") or []:
            table.add_row(escape(str(check.get("name"))), "[green]yes[/green]" if check.get("passed") else "[red]no[/red]",
                          escape(_fmt(check.get("measured"))), escape(_fmt(check.get("target"))))
        self.console.line()
        self.console.print(table)
        self.console.print(detection_line(record), highlight=False)

    def _write_incident(self, record: dict[str, Any], run: Any) -> Path | None:
        # Not <reports dir>/incidents: the session's report plugin rewrites that one from summary.json at the
        # end, which does not know the game day was aborted.
        reports_dir = Path(self.config.getoption("--reports-dir")).resolve()
        out_dir = reports_dir / "gameday"
        try:
            module = importlib.import_module("reports.incident")
        except ImportError:
            module = None
        if module is not None:
            try:
                path = module.write_incident_report(record, out_dir)
                return Path(path)
            except Exception as exc:  # the fallback below still leaves a report behind
                STATE.errors.append(f"reports.incident failed ({type(exc).__name__}: {exc}); wrote a minimal report")
        try:
            return write_minimal_incident(record, out_dir)
        except OSError as exc:
            STATE.errors.append(f"could not write the incident report: {exc}")
            return None

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.close()


def detection_line(record: dict[str, Any]) -> str:
    """The detection times side by side: the runbook's signal, the room's `d` key (and the alert's, once
    Prometheus runs in the scenarios)."""
    signal = (record.get("measured") or {}).get("mttd_s")
    human = (record.get("extra") or {}).get("human_mttd_s")
    alert = (record.get("extra") or {}).get("alert_mttd_s")
    parts = [f"runbook signal {_fmt(signal)} s", f"the room (d) {'not pressed' if human is None else f'{human} s'}"]
    if alert is not None:
        parts.append(f"alert {alert} s")
    return "MTTD: " + "; ".join(parts)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)[:60]
    return str(value)[:60]


def write_minimal_incident(record: dict[str, Any], out_dir: Path) -> Path:
    """A short incident report in the runbook's template (section 9), when reports.incident is missing."""
    timeline = record.get("timeline") or {}
    evidence = record.get("evidence") or {}
    detection = record.get("detection") or {}
    started = str(timeline.get("injected") or record.get("started") or "")
    day = started[:10].replace("-", "") or time.strftime("%Y%m%d")
    status = "Resolved" if timeline.get("restored") else "Monitoring" if timeline.get("recovery_started") else \
        "Identified" if timeline.get("detected") else "Investigating"
    lines = [
        "# Incident Report", "",
        f"**Incident ID:** INC-{day}-{record.get('id')}",
        f"**Severity:** {'P1' if record.get('verdict') != 'pass' else 'P2'}",
        f"**Status:** {status}",
        f"**Start Time:** {started or '-'}",
        f"**Verdict:** {record.get('verdict')}", "",
        "## Summary", f"{record.get('id')} {record.get('name')} (game day).", "",
        "## Timeline", "| Time | Action |", "|------|--------|",
    ]
    for key, text in (("injected", "Fault injected"), ("landed", "Fault landed"), ("detected", "Incident detected"),
                      ("recovery_started", "Recovery started"), ("restored", "Resolved")):
        if timeline.get(key):
            lines.append(f"| {timeline[key]} | {text} |")
    lines += ["", "## Root Cause", f"{evidence.get('fault', '-')}: {evidence.get('summary', '-')}", "",
              "## Detection", f"{detection.get('signal', '-')}: {detection.get('seen') or 'not seen'}", "",
              "## Checks"]
    for check in record.get("checks") or []:
        lines.append(f"- [{'x' if check.get('passed') else ' '}] {check.get('name')}: measured "
                     f"{check.get('measured')}, target {check.get('target')}")
    if record.get("reason"):
        lines += ["", "## Notes", str(record["reason"])[:2000]]
    out_dir.mkdir(parents=True, exist_ok=True)
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in f"{record.get('id')}-{record.get('name')}")
    path = out_dir / f"{name}.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- module-level hooks: the options and the plugin's registration -----------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aarya-gameday")
    group.addoption("--gameday-auto", action="store_true", default=False,
                    help="game day without questions: inject and recover on their own")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    global STATE
    STATE = GameDayState()
    config.pluginmanager.register(GameDay(config), "aarya-gameday")
