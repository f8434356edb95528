"""The engine's event stream of the team's project, followed in a thread: starts, exits (with their code),
OOM kills and health changes of the profile's containers become the driver's ProcessEvents."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from stack.drivers.docker.core import _describe_exit
from stack.drivers.docker.engine import docker_client

from .containers import PROJECT_LABEL, SERVICE_LABEL, AttachCore, log


class AttachEvents(AttachCore):
    _monitor: threading.Thread | None = None
    _stream: Any = None

    def _start_monitor(self) -> None:
        self._monitor_stop = threading.Event()
        since = int(time.time()) - 1
        self._monitor = threading.Thread(target=self._watch, args=(since,), name="aarya-attach-events", daemon=True)
        self._monitor.start()

    def _stop_monitor(self) -> None:
        if self._monitor is None:
            return
        self._monitor_stop.set()
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # closing a stream that is already gone
                pass
        self._monitor.join(timeout=5)
        self._monitor = None

    def _watch(self, since: int) -> None:
        client = docker_client(timeout_s=3600)
        last = float(since)
        try:
            while not self._monitor_stop.is_set():
                try:
                    self._stream = client.events(decode=True, since=int(last), filters={
                        "type": "container", "label": f"{PROJECT_LABEL}={self.project}"})
                    for raw in self._stream:
                        if self._monitor_stop.is_set():
                            return
                        wall = int(raw.get("timeNano") or 0) / 1e9 or float(raw.get("time") or 0)
                        if wall < last:
                            continue  # replayed after a reconnect
                        last = wall
                        self._handle_event(str(raw.get("Action") or ""), (raw.get("Actor") or {}).get("Attributes")
                                           or {}, wall)
                except Exception as exc:  # the stream breaks when closed or when dockerd restarts
                    if self._monitor_stop.is_set():
                        break
                    log.warning("docker event stream interrupted (%s); reconnecting", exc)
                    self._monitor_stop.wait(0.5)
        finally:
            client.close()

    def _handle_event(self, action: str, attrs: Mapping[str, str], wall: float) -> None:
        by_service = {service: name for name, service in self.services.items()}
        component = by_service.get(attrs.get(SERVICE_LABEL, ""))
        if component is None:
            return
        if action == "start":
            self._record(component, "started", wall=wall)
        elif action == "die":
            code = int(attrs.get("exitCode", "-1"))
            if component not in self._expected_down:
                self._record(component, "exited", code, _describe_exit(code), wall=wall)
        elif action == "oom":
            self._record(component, "oom_killed", detail=f"container {attrs.get('name', '?')} OOM-killed", wall=wall)
        elif action.startswith("health_status"):
            self._record(component, "health", detail=action.split(":", 1)[-1].strip(), wall=wall)
