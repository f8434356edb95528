"""The engine's event stream of the run's containers, followed in a thread: starts, exits (with their
code), OOM kills and health changes become the driver's ProcessEvents."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from .core import DockerCore, _describe_exit, log
from .engine import docker_client
from .runfiles import COMPONENT_LABEL, RUN_LABEL


class DockerEvents(DockerCore):
    def _start_monitor(self) -> None:
        self._monitor_stop.clear()
        since = int(time.time()) - 1
        self._monitor = threading.Thread(target=self._watch, args=(since,), name="aarya-docker-events", daemon=True)
        self._monitor.start()

    def _stop_monitor(self) -> None:
        self._monitor_stop.set()
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # closing a stream that is already gone
                pass
        if self._monitor is not None:
            self._monitor.join(timeout=5)
            self._monitor = None

    def _watch(self, since: int) -> None:
        """Follow the engine's events for the run's containers until stopped (reconnecting if cut)."""
        client = docker_client(timeout_s=3600)
        last = float(since)
        try:
            while not self._monitor_stop.is_set():
                try:
                    self._stream = client.events(
                        decode=True, since=int(last),
                        filters={"type": "container", "label": f"{RUN_LABEL}={self.run_id}"})
                    for event in self._events_from(self._stream, last):
                        last = max(last, event)
                except Exception as exc:  # the stream breaks when closed or when dockerd restarts
                    if self._monitor_stop.is_set():
                        break
                    log.warning("docker event stream interrupted (%s); reconnecting", exc)
                    self._monitor_stop.wait(0.5)
        finally:
            client.close()

    def _events_from(self, stream: Any, after: float) -> Iterator[float]:
        seen: set[tuple[str, str, int]] = set()
        for raw in stream:
            if self._monitor_stop.is_set():
                return
            wall = int(raw.get("timeNano") or 0) / 1e9 or float(raw.get("time") or 0)
            actor = raw.get("Actor") or {}
            key = (str(actor.get("ID")), str(raw.get("Action")), int(raw.get("timeNano") or 0))
            if wall < after or key in seen:
                continue  # replayed after a reconnect
            seen.add(key)
            self._handle_event(str(raw.get("Action") or ""), actor.get("Attributes") or {}, wall)
            yield wall

    def _handle_event(self, action: str, attrs: Mapping[str, str], wall: float) -> None:
        component = attrs.get(COMPONENT_LABEL)
        if component is None or component not in self._names:
            return
        if action == "start":
            self._record(component, "started", wall=wall)
        elif action == "die":
            code = int(attrs.get("exitCode", "-1"))
            if component not in self._expected_down:
                self._record(component, "exited", code, _describe_exit(code), wall=wall)
        elif action == "oom":
            limit = self._limits.get(component)
            detail = f"container {attrs.get('name', '?')} OOM-killed"
            if limit is not None:
                detail += f" (memory limit {limit.baseline + limit.allowance} bytes)"
            self._record(component, "oom_killed", detail=detail, wall=wall)
        elif action.startswith("health_status"):
            self._record(component, "health", detail=action.split(":", 1)[-1].strip(), wall=wall)
