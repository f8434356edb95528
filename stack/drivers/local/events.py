"""The local stack's events: exits noticed by a monitor thread polling the processes, OOM kills read from
the memory cgroups, and what the driver itself did (signalled, paused, ...)."""

from __future__ import annotations

import logging
import signal
import threading
import time

from aarya_chaos.errors import FaultError
from stack.drivers.base import ProcessEvent

from . import cgroups
from .components import Component

log = logging.getLogger("aarya.driver")
MONITOR_INTERVAL_S = 0.05


class LocalEvents:
    components: dict[str, Component]
    _events: list[ProcessEvent]
    _expected_down: set[str]
    _lock: threading.Lock
    _monitor_stop: threading.Event
    _monitor: threading.Thread | None
    _cgroups: dict[str, cgroups.MemoryCgroup]

    def events(self) -> list[ProcessEvent]:
        with self._lock:
            return list(self._events)

    def _record(self, component: str, kind: str, exit_code: int | None = None, detail: str = "") -> None:
        event = ProcessEvent(time.time(), time.monotonic(), component, kind, exit_code, detail)
        with self._lock:
            self._events.append(event)
        log.info("%s %s%s", component, kind, f" (exit {exit_code})" if exit_code is not None else "")

    def _start_monitor(self) -> None:
        self._monitor_stop.clear()
        self._monitor = threading.Thread(target=self._watch_exits, name="aarya-monitor", daemon=True)
        self._monitor.start()

    def _watch_exits(self) -> None:
        reported: set[int] = set()
        while not self._monitor_stop.wait(MONITOR_INTERVAL_S):
            for name, component in self.components.items():
                popen = component.process.popen
                if popen is None or id(popen) in reported or popen.poll() is None:
                    continue
                reported.add(id(popen))
                if name not in self._expected_down:
                    code = popen.returncode
                    self._record(name, "exited", _exit_status(code), detail=_describe_exit(code))
                    self._record_oom_kill(name)

    def _record_oom_kill(self, name: str) -> None:
        cgroup = self._cgroups.get(name)
        if cgroup is None:
            return
        try:
            kills = cgroup.oom_kills()
        except FaultError:
            return
        if kills > 0:
            self._record(name, "oom_killed", detail=f"{cgroup.path}: oom_kill {kills}")


def _exit_status(returncode: int) -> int:
    """Shell-style exit status: a death by signal N is 128+N (so SIGKILL, as in an OOM kill, is 137)."""
    return 128 - returncode if returncode < 0 else returncode



def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit {returncode}"

