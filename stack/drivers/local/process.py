"""One supervised OS process: started in its own session with its output in a log file, signalled as a tree.

A process is identified by (pid, create_time), so a recycled pid is never mistaken for ours.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import psutil

from stack import runs

log = logging.getLogger("aarya.process")


@dataclass(frozen=True)
class ProcessRecord:
    """What run.json remembers of a process, enough to find and reap it after a crash."""

    name: str
    pid: int
    create_time: float

    def find(self) -> psutil.Process | None:
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) < 0.5:
                return proc
        except psutil.Error:
            pass
        return None


_Handler = Callable[[int, FrameType | None], object] | int | None
@contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, then deliver the first that came.

    A KeyboardInterrupt raised inside subprocess.Popen after the fork leaves a running child that no Popen
    object names (CPython does not kill it), so a teardown cannot find it: seen as a payment service left
    running after Ctrl-C during `up` (about 1 start-up in 30). Starting a child and recording it is made
    one step. Signal handlers can only be swapped in the main thread; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append(signum)

    previous: dict[signal.Signals, _Handler] = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, hold)
        yield
    finally:
        raised = _restore_handlers(previous)
        if raised is not None:
            raise raised
        if held:
            signal.raise_signal(held[0])  # through the handler now restored


def _restore_handlers(handlers: Mapping[signal.Signals, _Handler]) -> BaseException | None:
    """Put every handler back; return what a signal's handler raised meanwhile.

    signal.signal() first runs the handlers of pending signals, so putting SIGINT's back can raise
    SIGTERM's exception before the swap. Stopping there would leave a handler that swallows signals.
    """
    raised: BaseException | None = None
    for sig, handler in handlers.items():
        while True:
            try:
                signal.signal(sig, signal.SIG_DFL if handler is None else handler)  # None: set outside Python
                break
            except BaseException as exc:  # a pending signal's own handler; the swap did not happen yet
                raised = raised or exc
    return raised


class ManagedProcess:
    def __init__(
        self,
        name: str,
        command: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        pid_lookup: Callable[[], int | None] | None = None,
        death_signal: int = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.user = user
        # For servers that another tool may restart behind our back (PostgreSQL via pg_ctl in
        # scripts/recover), the real pid comes from their pid file.
        self.pid_lookup = pid_lookup
        self.death_signal = death_signal  # what it gets when its owner dies (its own clean-stop signal)
        self.popen: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out, interrupts_held():
            out.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {self.name}: "
                      f"{' '.join(self.command)}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(
                runs.dying_with_owner(self.command, self.death_signal),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=runs.with_owner_mark(self.env),
                cwd=self.cwd,
                user=self.user if self.user and os.geteuid() == 0 else None,
                start_new_session=True,
            )
        self.exit_code = None
        log.info("started %s (pid %d)", self.name, self.popen.pid)

    def pid(self) -> int | None:
        """The live main pid, or None."""
        if self.popen is not None and self.popen.poll() is None:
            return self.popen.pid
        if self.pid_lookup is not None:
            pid = self.pid_lookup()
            if pid is not None and psutil.pid_exists(pid):
                return pid
        return None

    def poll(self) -> int | None:
        """The exit code of our child if it has exited (negative = killed by that signal)."""
        if self.popen is not None:
            code = self.popen.poll()
            if code is not None:
                self.exit_code = code
        return self.exit_code

    def is_running(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def record(self) -> ProcessRecord | None:
        pid = self.pid()
        if pid is None:
            return None
        try:
            return ProcessRecord(self.name, pid, psutil.Process(pid).create_time())
        except psutil.Error:
            return None

    def send_signal(self, sig: int, *, tree: bool = False) -> None:
        """Send a signal to the main process, or to it and all its descendants."""
        pid = self.pid()
        if pid is None:
            raise ProcessLookupError(f"{self.name} is not running")
        targets = [psutil.Process(pid)]
        if tree:
            targets += targets[0].children(recursive=True)
        for proc in targets:
            try:
                proc.send_signal(sig)
            except psutil.NoSuchProcess:
                pass

    def stop(self, *, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> int | None:
        """Ask the process to stop, wait, then kill the whole tree. Returns the exit code if known."""
        pid = self.pid()
        if pid is not None:
            try:
                main = psutil.Process(pid)
                family = [main, *main.children(recursive=True)]
                main.send_signal(sig)
                _, alive = psutil.wait_procs(family, timeout=timeout_s)
                for proc in alive:
                    log.warning("%s: pid %d ignored signal %d, killing", self.name, proc.pid, sig)
                    proc.kill()
                psutil.wait_procs(alive, timeout=5)
            except psutil.NoSuchProcess:
                pass
        if self.popen is not None:
            try:
                self.exit_code = self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.exit_code = self.popen.wait(timeout=5)
        return self.exit_code


def reap(record: ProcessRecord, timeout_s: float = 5.0) -> bool:
    """Kill a process left by a crashed run, and its descendants. True if something was killed."""
    proc = record.find()
    if proc is None:
        return False
    family = [proc]
    try:
        family += proc.children(recursive=True)
    except psutil.Error:
        pass
    for member in family:
        try:
            member.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(family, timeout=timeout_s)
    for member in alive:
        try:
            member.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=timeout_s)
    log.warning("reaped leftover %s (pid %d)", record.name, record.pid)
    return True
