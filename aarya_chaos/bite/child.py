"""The child processes of a bite run, and the signals around them.

    run_pytest(call)      the child pytest in its own session (so a terminal's Ctrl-C reaches only bite), its
                          output in its log; on timeout or interrupt its process group gets SIGINT (the child
                          heals its faults and stops its stack), then SIGKILL after STOP_GRACE_S
    run_command(...)      a clean-up command (`aarya-chaos heal`, `down`), bounded by CLEANUP_TIMEOUT_S
    sigterm_as_interrupt  SIGTERM raises Terminated, handled like KeyboardInterrupt
    signals_deferred      another Ctrl-C or SIGTERM does not cut a clean-up short
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from stack.runs import dying_with_owner

__all__ = ["CLEANUP_TIMEOUT_S", "STOP_GRACE_S", "PytestCall", "RunCommand", "RunPytest", "Terminated", "run_command",
           "run_pytest", "sigterm_as_interrupt", "signals_deferred", "stop_group"]

STOP_GRACE_S = 60.0            # after SIGINT, the child's time to heal and stop its stack
CLEANUP_TIMEOUT_S = 120.0      # each of `heal` and `down`


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so a bite run tears down the same way."""


@dataclass(frozen=True)
class PytestCall:
    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str]
    log: Path
    timeout_s: float


RunPytest = Callable[[PytestCall], int | None]
"""Runs one pytest; its exit status, or None when it ran out of time (and was stopped)."""
RunCommand = Callable[[Sequence[str], Path, Mapping[str, str], Path], int]
"""Runs a clean-up command (argv, cwd, env, log to append to); its exit status."""


def run_pytest(call: PytestCall) -> int | None:
    """Run the child pytest in its own session, output to its log; stop its group on timeout or interrupt."""
    call.log.parent.mkdir(parents=True, exist_ok=True)
    with call.log.open("ab") as log:
        # SIGINT when bite dies, even by SIGKILL: the child heals and stops its stack as on Ctrl-C
        process = subprocess.Popen(dying_with_owner(call.argv, signal.SIGINT), cwd=call.cwd, env=dict(call.env),
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            return process.wait(timeout=call.timeout_s)
        except subprocess.TimeoutExpired:
            stop_group(process, STOP_GRACE_S)
            return None
        except BaseException:
            stop_group(process, STOP_GRACE_S)
            raise


def stop_group(process: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> None:
    """SIGINT to the child's process group, up to `grace_s` to finish (a second Ctrl-C cuts it short), SIGKILL."""
    if process.poll() is not None:
        return
    _signal_group(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=grace_s)
    except (subprocess.TimeoutExpired, KeyboardInterrupt, Terminated):
        pass
    _signal_group(process.pid, signal.SIGKILL)  # whatever of its group is left
    process.wait()


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def run_command(argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n--- bite: {' '.join(argv)}\n".encode())
        out.flush()
        try:
            return subprocess.run(list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, timeout=CLEANUP_TIMEOUT_S, check=False).returncode
        except subprocess.TimeoutExpired:
            return -1


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises Terminated while the block runs (main thread only; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Another Ctrl-C or SIGTERM must not cut the clean-up short: both do nothing while it runs. (A Python
    handler, not SIG_IGN, which the clean-up commands would inherit.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def later(signum: int, frame: FrameType | None) -> None:
        print(f"signal {signum}: cleaning up first", file=sys.stderr)

    previous = {sig: signal.signal(sig, later) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
