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
import math
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.prompt import Confirm
from rich.table import Table
from rich.text import Text

from load.history import Record

WINDOW_S = 10.0
HUNG_S = 2.0
REFRESH_PER_S = 2
PHASES = {  # last timeline event -> what the room is looking at
    None: ("warming up: load starting, waiting for steady state", "cyan"),
    "steady_state": ("steady state: load and health green", "green"),
    "inject": ("injecting the fault", "yellow"),
    "landed": ("FAULT ACTIVE: waiting for the runbook's detection signal", "bold red"),
    "detected": ("FAULT ACTIVE: detected; waiting for the recovery", "bold red"),
    "not_detected": ("FAULT ACTIVE: NOT detected within the deadline", "bold red"),
    "recovery_started": ("recovering: applying the runbook's procedure", "yellow"),
    "recovery_applied": ("recovery applied: waiting for steady state to come back", "yellow"),
    "recovery_skipped": ("recovery skipped (negative control): waiting", "yellow"),
    "restored": ("restored: steady state is back", "green"),
    "not_restored": ("NOT restored within the deadline", "bold red"),
    "healed": ("fault healed: verifying", "cyan"),
}


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
# the history, read incrementally
# ---------------------------------------------------------------------------------------------------


class HistoryTail:
    """Follows the run's history files: load ops (load-*.jsonl), probes and timeline events."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._offsets: dict[Path, int] = {}
        self._pending: dict[tuple[str, str], Record] = {}
        self.done: deque[tuple[float, str, float | None]] = deque()  # (end mono, outcome, latency ms)
        self.probes: dict[str, tuple[str, int | None]] = {}  # health:<name> -> (outcome, status)
        self.events: list[Record] = []

    def poll(self) -> None:
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.jsonl")):
            offset = self._offsets.get(path, 0)
            try:
                with path.open("rb") as handle:
                    handle.seek(offset)
                    data = handle.read()
            except OSError:
                continue
            end = data.rfind(b"\n")
            if end < 0:
                continue
            self._offsets[path] = offset + end + 1
            is_load = path.name.startswith("load-")
            for raw in data[:end].splitlines():
                try:
                    record = Record.from_json(raw.decode("utf-8"))
                except (ValueError, TypeError):
                    continue
                self._add(path.name, record, is_load)
        horizon = time.monotonic() - 60
        while self.done and self.done[0][0] < horizon:
            self.done.popleft()

    def _add(self, source: str, record: Record, is_load: bool) -> None:
        if record.type == "event":
            self.events.append(record)
        elif record.type == "invoke":
            if record.id is not None:
                self._pending[(source, record.id)] = record
        else:
            self._pending.pop((source, record.id or ""), None)
            if is_load:
                self.done.append((record.mono, record.type, record.latency_ms))
            elif record.f.startswith("health:"):
                self.probes[record.f.removeprefix("health:")] = (record.type, record.status)

    def load_window(self, now: float, seconds: float = WINDOW_S) -> tuple[int, int, float | None]:
        """(completed, ok, p95 latency ms) of load ops that completed in the last `seconds`."""
        recent = [d for d in self.done if d[0] >= now - seconds]
        ok = sum(1 for d in recent if d[1] == "ok")
        latencies = sorted(d[2] for d in recent if d[2] is not None)
        p95 = latencies[max(0, math.ceil(0.95 * len(latencies)) - 1)] if latencies else None
        return len(recent), ok, p95

    def in_flight(self, now: float, older_than_s: float = HUNG_S) -> int:
        return sum(1 for (source, _), r in list(self._pending.items())
                   if source.startswith("load-") and now - r.mono > older_than_s)

    def last_event(self) -> Record | None:
        return self.events[-1] if self.events else None

    def first(self, f: str) -> Record | None:
        return next((e for e in self.events if e.f == f), None)


# ---------------------------------------------------------------------------------------------------
# the live view
# ---------------------------------------------------------------------------------------------------


class LiveView:
    """The screen the room watches; pause() around questions, stop() at the end (idempotent)."""

    def __init__(self, run: Any, console: Console) -> None:
        self.run = run
        self.console = console
        self.tail = HistoryTail(run.history_dir)
        self.started = time.monotonic()
        self.notes: list[tuple[float, str]] = []  # (mono, text): the game day's own lines in the timeline
        self.prompt: tuple[str, str] | None = None  # (question, what comes next) shown while waiting for a key
        self._live: Live | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._live is None:
                self._live = Live(get_renderable=self.render, console=self.console,
                                  refresh_per_second=REFRESH_PER_S, transient=False, redirect_stdout=True,
                                  redirect_stderr=True)
                self._live.start()

    def stop(self) -> None:
        with self._lock:
            live, self._live = self._live, None
        if live is not None:
            try:
                live.stop()
                if not self.console.is_terminal:
                    self.console.line()
            except Exception:  # the view must never take the scenario down
                pass

    def note(self, text: str) -> None:
        self.notes.append((time.monotonic(), text))

    def render(self) -> RenderableType:
        try:
            return self._render()
        except Exception as exc:  # a refresh thread must not die
            return Text(f"(live view error: {type(exc).__name__}: {exc})", style="red")

    def _render(self) -> RenderableType:
        run = self.run
        self.tail.poll()
        now = time.monotonic()
        elapsed = now - self.started
        last = self.tail.last_event()
        phase, style = PHASES.get(last.f if last else None, (last.f if last else "", "cyan"))
        completed, ok, p95 = self.tail.load_window(now)
        rate = f"{100.0 * ok / completed:5.1f}%" if completed else "  -  "
        rate_style = "green" if completed and ok / completed >= run.targets.success_threshold else \
            "red" if completed else "dim"
        hung = self.tail.in_flight(now)
        head = Table.grid(padding=(0, 2))
        head.add_column(style="bold")
        head.add_column()
        head.add_row("phase", Text(phase, style=style))
        head.add_row("elapsed", f"{_mmss(elapsed)}" + self._fault_clock(now))
        head.add_row(f"load, last {WINDOW_S:.0f}s",
                     Text.assemble((rate, rate_style), f" ok of {completed} requests   p95 ",
                                   (f"{p95:.0f} ms" if p95 is not None else "-", "bold"),
                                   f"   {completed / WINDOW_S:.1f} req/s",
                                   (f"   {hung} in flight > {HUNG_S:.0f}s" if hung else "", "bold red")))
        head.add_row("targets", self._targets(now))

        components = Table("component", "process", "pid", "health", box=None, padding=(0, 2), header_style="bold")
        for status in run.stack.status():
            probe = self.tail.probes.get(status.name)
            health = "-" if probe is None else \
                ("[green]ready[/green]" if probe[0] == "ok" else f"[red]down ({probe[1] or 'no answer'})[/red]")
            components.add_row(status.name, "[green]running[/green]" if status.running else "[bold red]DOWN[/bold red]",
                               str(status.pid or "-"), health)

        steady = self.tail.first("steady_state")
        t0 = steady.mono if steady is not None else self.started
        lines = sorted([(e.mono, e.f + _event_detail(e)) for e in self.tail.events] + self.notes)[-7:]
        timeline = Text("\n".join(f"{m - t0:+6.1f}s  {text}" for m, text in lines) or "(no events yet)", style="dim")
        title = f"game day: {escape(run.id)} {escape(run.name)}" + (f" (control: {escape(run.control)})" if run.control else "")
        parts: list[RenderableType] = [head, Text(""), components, Text(""), timeline]
        if self.prompt is not None:
            question, step = self.prompt
            parts += [Text(""), Text(f"next: {step}", style="bold"),
                      Text(f" {question}  y / Enter = yes, n = no (heal everything and stop) ",
                           style="bold black on yellow")]
        return Panel(Group(*parts), title=title, title_align="left",
                     subtitle="Ctrl-C heals every fault at once and stops", subtitle_align="left")

    def _fault_clock(self, now: float) -> str:
        injected = self.tail.first("inject")
        if injected is None:
            return ""
        healed = self.tail.first("healed")
        end = healed.mono if healed else now
        return f"   fault {'was active for' if healed else 'active for'} {end - injected.mono:.1f}s"

    def _targets(self, now: float) -> Text:
        targets = self.run.targets
        injected = self.tail.first("inject")
        detected = self.tail.first("detected")
        restored = self.tail.first("restored")
        parts: list[tuple[str, str]] = []
        for label, target, event in (("MTTD", targets.mttd_s, detected), ("RTO", targets.rto_s, restored)):
            if target is None:
                continue
            if injected is None:
                parts.append((f"{label} <= {target:.0f}s   ", ""))
            elif event is not None:
                # `restored` is written once the steady state has held; its value says when it came back
                took = float((event.value or {}).get("rto_s", event.mono - injected.mono))
                parts.append((f"{label} {took:.1f}s / {target:.0f}s   ", "green" if took <= target else "red"))
            else:
                running = now - injected.mono
                parts.append((f"{label} {running:.0f}s... / {target:.0f}s   ", "yellow" if running <= target else "red"))
        return Text.assemble(*parts) if parts else Text("-")


def read_yes_no(fd: int) -> bool:
    """One key from a terminal, without echo and without Enter: y/Y/Enter = yes, n/N = no (others ignored).

    Keys typed before the question are discarded (setcbreak flushes pending input), so a key pressed while
    watching does not answer it. cbreak mode keeps ISIG: Ctrl-C still raises KeyboardInterrupt (after the
    heal registry's handler)."""
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        while True:
            key = os.read(fd, 1)
            if not key:
                raise EOFError
            if key in (b"y", b"Y", b"\n", b"\r"):
                return True
            if key in (b"n", b"N"):
                return False
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _mmss(seconds: float) -> str:
    return f"{int(seconds // 60):02d}:{int(seconds % 60):02d}"


def _event_detail(event: Record) -> str:
    value = dict(event.value or {})
    for key in ("fault", "signal", "procedure", "evidence"):
        if key in value:
            return f": {str(value[key])[:70]}"
    return ""


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
        self._heal_log = _HealErrors()
        logging.getLogger("aarya.heal").addHandler(self._heal_log)

    def close(self) -> None:
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
        if view is not None and self.console.is_terminal and sys.stdin.isatty():
            view.prompt = (question, description)  # the view keeps running: the room watches while deciding
            try:
                go = read_yes_no(sys.stdin.fileno())
            except EOFError:
                go = False
            finally:
                view.prompt = None
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

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and self.view is not None:
            self.view.stop()  # the scenario is over: pytest's own line must not land inside the view

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        if self.view is not None:
            self.view.stop()
        if STATE.aborted is None:
            STATE.aborted, STATE.aborted_at = "interrupted", "Ctrl-C"
            self.console.print("[yellow]Ctrl-C: faults healed; stopping the load, recording the run...[/yellow]")

    @pytest.hookimpl(optionalhook=True)
    def pytest_aarya_scenario_finished(self, run: Any, record: dict[str, Any]) -> None:
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
