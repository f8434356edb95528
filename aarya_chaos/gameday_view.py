"""What the room watches during a game day: the history read incrementally (HistoryTail) and the live view
(LiveView: the load's success rate and p95 over the last 10 s, requests in flight for more than 2 s, each
component's process and health, the phase and timeline, MTTD/RTO against their targets), and the one-key
question asked inside it (read_yes_no). aarya_chaos/gameday_plugin.py drives it.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
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
        self.listening = False  # the `d` key is read (between the injection and the recovery question)
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
        # What the room must act on goes first: a terminal shorter than the panel crops its bottom lines.
        parts: list[RenderableType] = self._asks()
        parts += [head, Text(""), components, Text(""), timeline]
        return Panel(Group(*parts), title=title, title_align="left",
                     subtitle="Ctrl-C heals every fault at once and stops", subtitle_align="left")

    def _asks(self) -> list[RenderableType]:
        """The question waiting for a key; while the fault is active, the key that says the room has detected
        it, then when they did."""
        lines: list[RenderableType] = []
        if self.prompt is not None:
            question, step = self.prompt
            lines += [Text(f" {question}  y / Enter = yes, n = no (heal everything and stop) ",
                           style="bold black on yellow"), Text(f"next: {step}", style="bold")]
        human = self.tail.first("human_detected")
        if human is not None:
            lines.append(Text(f"detected by the room after {(human.value or {}).get('human_mttd_s')}s",
                              style="bold green"))
        elif self.listening:
            lines.append(Text(" press d when you have detected the incident ", style="bold black on cyan"))
        return [*lines, Text("")] if lines else []

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


def read_yes_no(fd: int, on_other_key: Callable[[bytes], None] | None = None) -> bool:
    """One key from a terminal, without echo and without Enter: y/Y/Enter = yes, n/N = no (others go to
    `on_other_key`, else are ignored: the room may press `d` while the recovery question waits).

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
            if on_other_key is not None:
                on_other_key(key)
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


class DetectedKey:
    """Reads the terminal while the fault is active, in its own thread: `d` (or D) says the room has
    detected the incident and calls `on_detected` once. Other keys are ignored. `stop()` before anything else
    reads the terminal (the recovery question): it restores the terminal's mode and joins the thread.
    select() with a short timeout keeps the loop bounded and stoppable; cbreak keeps Ctrl-C working."""

    POLL_S = 0.1

    def __init__(self, fd: int, on_detected: Callable[[], None]) -> None:
        self.fd = fd
        self.on_detected = on_detected
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved: list[Any] | None = None

    def start(self) -> None:
        import termios
        import tty

        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)
        self._thread = threading.Thread(target=self._read, name="gameday-detected-key", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        import termios

        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def _read(self) -> None:
        import select

        while not self._stop.is_set():
            ready, _, _ = select.select([self.fd], [], [], self.POLL_S)
            if not ready:
                continue
            key = os.read(self.fd, 1)
            if not key:
                return
            if key in (b"d", b"D"):
                self.on_detected()
                return
