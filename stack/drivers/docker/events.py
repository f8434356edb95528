"""The engine's event stream of the run's containers, followed in a thread (container_ops.EventMonitor):
starts, exits (with their code), OOM kills and health changes become the driver's ProcessEvents."""

from __future__ import annotations

from collections.abc import Mapping

from stack.drivers.container_ops import EventMonitor

from .core import DockerCore, log
from .runfiles import COMPONENT_LABEL, RUN_LABEL


class DockerEvents(DockerCore):
    def _start_monitor(self) -> None:
        self._monitor = EventMonitor(f"{RUN_LABEL}={self.run_id}", self._handle_event,
                                     thread_name="aarya-docker-events", log=log)
        self._monitor.start()

    def _handle_event(self, action: str, attrs: Mapping[str, str], wall: float) -> None:
        component = attrs.get(COMPONENT_LABEL)
        if component is None or component not in self._names:
            return
        limit = self._limits.get(component)
        note = f" (memory limit {limit.baseline + limit.allowance} bytes)" if limit is not None else ""
        self._on_engine_event(component, action, attrs, wall, oom_note=note)
