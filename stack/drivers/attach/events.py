"""The engine's event stream of the team's project, followed in a thread (container_ops.EventMonitor):
starts, exits (with their code), OOM kills and health changes of the profile's containers become the
driver's ProcessEvents."""

from __future__ import annotations

from collections.abc import Mapping

from stack.drivers.container_ops import EventMonitor

from .containers import PROJECT_LABEL, SERVICE_LABEL, AttachCore, log


class AttachEvents(AttachCore):
    def _start_monitor(self) -> None:
        self._monitor = EventMonitor(f"{PROJECT_LABEL}={self.project}", self._handle_event,
                                     thread_name="aarya-attach-events", log=log)
        self._monitor.start()

    def _handle_event(self, action: str, attrs: Mapping[str, str], wall: float) -> None:
        by_service = {service: name for name, service in self.services.items()}
        component = by_service.get(attrs.get(SERVICE_LABEL, ""))
        if component is not None:
            self._on_engine_event(component, action, attrs, wall)
