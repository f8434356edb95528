"""The container operations the docker and attach drivers do the same way, over docker SDK containers:
readiness, status, logs, `docker exec`, kill/stop/start/restart/pause/resume, the event list, and the
engine's event stream followed in a thread.

The two drivers differ in how a component name maps to its container (the docker driver: by name and the
run's label; the attach driver: by the team's compose labels) and in how a component is probed; a core
mixes in `ContainerOps` and gives:

    _container(name)   the component's container (a docker SDK Container), StackError when there is none,
                       ConfigError for a name that is no component's
    _probe(name)       a call that answers when the component is ready (raises or returns falsy when not)
    endpoints()        the component's address, for messages
    config, _names     its StackConfig and its component names; `_log`, the logger its events go to

and calls `ContainerOps.__init__` from its own. `EventMonitor` follows the engine's events of the containers
carrying a label; the core says which component an event is about and hands it to `_on_engine_event`.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from docker.errors import APIError

from aarya_chaos.errors import ConfigError, StackError
from stack.config import StackConfig
from stack.drivers.base import ComponentStatus, ProcessEvent
from stack.drivers.docker.engine import docker_client
from stack.waits import wait_until

EXEC_TIMEOUT_S = 5
STOP_TIMEOUT_S = 15
PAUSED = "paused (cgroup freezer)"


class ContainerOps:
    config: StackConfig
    _names: list[str]
    _log: logging.Logger
    _monitor: EventMonitor | None = None

    def __init__(self) -> None:
        self._events: list[ProcessEvent] = []
        self._lock = threading.Lock()
        self._expected_down: set[str] = set()

    # -- what the core gives ----------------------------------------------------------------------

    def _container(self, name: str) -> Any:
        raise NotImplementedError

    def _probe(self, name: str) -> Callable[[], object]:
        raise NotImplementedError

    def endpoints(self) -> Mapping[str, str]:
        raise NotImplementedError

    def _redacted(self, text: str) -> str:
        """A status detail as it may be shown (the attach driver hides a store's password)."""
        return text

    # -- names, state, readiness --------------------------------------------------------------------

    def component_names(self) -> list[str]:
        return list(self._names)

    def _check_name(self, name: str) -> None:
        if name not in self._names:
            raise ConfigError(f"unknown component {name!r}; known: {', '.join(self._names)}")

    def _state(self, name: str) -> dict[str, Any] | None:
        try:
            container = self._container(name)
        except StackError:
            return None
        state: dict[str, Any] = container.attrs.get("State") or {}
        return state

    def status(self, probe: bool = False) -> list[ComponentStatus]:
        result = []
        endpoints = self.endpoints()
        for name in self._names:
            state = self._state(name)
            running = bool(state and state.get("Running"))
            pid = int(state["Pid"]) if running and state and state.get("Pid") else None
            detail = describe_state(state)
            ready: bool | None = None
            if probe and running:
                try:
                    ready = bool(self._probe(name)())
                except Exception as exc:  # a status report shows failures, it never raises
                    ready, detail = False, self._redacted(f"{detail}; {type(exc).__name__}: {exc}")[:200]
            result.append(ComponentStatus(name, running, pid, endpoints[name], ready, detail))
        return result

    def wait_ready(self, name: str, timeout_s: float | None = None) -> None:
        def still_alive() -> str | None:
            state = self._state(name)
            if state is None:
                return f"{name} has no container"
            return None if state.get("Running") else f"{name} is not running ({describe_state(state)})"

        wait_until(name, self.endpoints()[name], self._probe(name),
                   timeout_s=timeout_s if timeout_s is not None else self.config.ready_timeout_s,
                   log_tail=lambda: self.logs(name, 40), still_alive=still_alive)

    # -- logs and exec ------------------------------------------------------------------------------

    def logs(self, name: str, lines: int = 100) -> str:
        try:
            data: bytes = self._container(name).logs(stdout=True, stderr=True, tail=lines)
        except StackError as exc:
            return f"(no logs: {exc})"
        return data.decode("utf-8", errors="replace")

    def grep_logs(self, name: str, pattern: str, lines: int = 1000) -> list[str]:
        regex = re.compile(pattern, re.IGNORECASE)
        return [line for line in self.logs(name, lines).splitlines() if regex.search(line)]

    def exec(self, name: str, command: list[str], *, user: str = "", timeout_s: int = EXEC_TIMEOUT_S) -> tuple[int, str]:
        """Run a command in the component's container: (exit code, stdout+stderr). A container that is not
        running gives exit 125 and the reason, as `docker exec` would."""
        try:
            container = self._container(name)
        except StackError as exc:
            return 125, str(exc)
        if container.status != "running":
            return 125, f"container {container.name} is {container.status}"
        try:
            code, output = container.exec_run(["timeout", str(timeout_s), *command], user=user, demux=False)
        except APIError as exc:
            return 125, f"docker exec in {container.name} failed: {exc.explanation or exc}"
        return int(code if code is not None else 125), (output or b"").decode("utf-8", errors="replace")

    # -- container actions --------------------------------------------------------------------------

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """`docker kill --signal`: the container's main process gets the signal (SIGKILL: exit 137)."""
        container = self._container(name)
        self._record(name, "signalled", detail=signal.Signals(sig).name)  # before: the exit follows at once
        container.kill(signal=int(sig))

    def stop_component(self, name: str) -> None:
        container = self._container(name)
        self._expected_down.add(name)
        if container.status == "paused":
            container.unpause()
        container.stop(timeout=STOP_TIMEOUT_S)
        container.reload()
        self._record(name, "stopped", int(container.attrs["State"].get("ExitCode", 0)))

    def start_component(self, name: str) -> None:
        container = self._container(name)
        self._expected_down.discard(name)
        if container.status not in ("running", "paused"):
            container.start()
        self.wait_ready(name)

    def restart(self, name: str) -> None:
        """Stop if running, start, wait until ready: the same container, never recreated (on the docker
        driver this also lifts a memory limit set by limit_memory)."""
        if self._container(name).status in ("running", "paused", "restarting"):
            self.stop_component(name)
        self.start_component(name)

    def pause(self, name: str) -> None:
        """`docker pause`: the cgroup freezer stops every process of the container."""
        self._container(name).pause()
        self._record(name, "paused")

    def resume(self, name: str) -> None:
        self._container(name).unpause()
        self._record(name, "resumed")

    def is_paused(self, name: str) -> bool:
        state = self._state(name)
        return bool(state and state.get("Paused"))

    def pause_state(self, name: str) -> str | None:
        return PAUSED if self.is_paused(name) else None

    # -- events -------------------------------------------------------------------------------------

    def events(self) -> list[ProcessEvent]:
        with self._lock:
            return list(self._events)

    def _record(self, component: str, kind: str, exit_code: int | None = None, detail: str = "",
                wall: float | None = None) -> None:
        now_wall, now_mono = time.time(), time.monotonic()
        wall = now_wall if wall is None else wall
        event = ProcessEvent(wall, now_mono - max(0.0, now_wall - wall), component, kind, exit_code, detail)
        with self._lock:
            self._events.append(event)
        self._log.info("%s %s%s", component, kind, f" (exit {exit_code})" if exit_code is not None else "")

    def _on_engine_event(self, component: str, action: str, attrs: Mapping[str, str], wall: float,
                         oom_note: str = "") -> None:
        """An engine event of the component's container as a ProcessEvent: started, exited (unless the
        driver stopped it), oom_killed (`oom_note` added to the detail), health."""
        if action == "start":
            self._record(component, "started", wall=wall)
        elif action == "die":
            code = int(attrs.get("exitCode", "-1"))
            if component not in self._expected_down:
                self._record(component, "exited", code, describe_exit(code), wall=wall)
        elif action == "oom":
            detail = f"container {attrs.get('name', '?')} OOM-killed{oom_note}"
            self._record(component, "oom_killed", detail=detail, wall=wall)
        elif action.startswith("health_status"):
            self._record(component, "health", detail=action.split(":", 1)[-1].strip(), wall=wall)

    def _stop_monitor(self) -> None:
        if self._monitor is not None:
            self._monitor.stop()
            self._monitor = None


EventHandler = Callable[[str, Mapping[str, str], float], None]


class EventMonitor:
    """The engine's events of the containers labelled `label` (`key=value`), followed in a thread from a
    second before `start()` until `stop()`, reconnecting when the stream is cut (dockerd restarted): each
    event goes to `handle(action, the actor's attributes, wall time)`."""

    def __init__(self, label: str, handle: EventHandler, *, thread_name: str, log: logging.Logger) -> None:
        self.label = label
        self.handle = handle
        self.thread_name = thread_name
        self.log = log
        self._stop = threading.Event()
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        # every event handled, across reconnects: a reconnect asks from the last event's whole second
        # (`since` is in seconds), so the stream replays that event too
        self._seen: set[tuple[str, str, int]] = set()

    def start(self) -> None:
        self._stop.clear()
        self._seen.clear()
        since = int(time.time()) - 1
        self._thread = threading.Thread(target=self._watch, args=(since,), name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # closing a stream that is already gone
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _watch(self, since: int) -> None:
        client = docker_client(timeout_s=3600)
        last = float(since)
        try:
            while not self._stop.is_set():
                try:
                    self._stream = client.events(decode=True, since=int(last),
                                                 filters={"type": "container", "label": self.label})
                    for event in self._events_from(self._stream, last):
                        last = max(last, event)
                except Exception as exc:  # the stream breaks when closed or when dockerd restarts
                    if self._stop.is_set():
                        break
                    self.log.warning("docker event stream interrupted (%s); reconnecting", exc)
                    self._stop.wait(0.5)
        finally:
            client.close()

    def _events_from(self, stream: Any, after: float) -> Iterator[float]:
        """Each event's wall time once handled; what a reconnect replays (before `after`, or already handled
        in this or an earlier stream) is skipped."""
        seen = self._seen
        for raw in stream:
            if self._stop.is_set():
                return
            wall = int(raw.get("timeNano") or 0) / 1e9 or float(raw.get("time") or 0)
            actor = raw.get("Actor") or {}
            key = (str(actor.get("ID")), str(raw.get("Action")), int(raw.get("timeNano") or 0))
            if wall < after or key in seen:
                continue
            seen.add(key)
            self.handle(str(raw.get("Action") or ""), actor.get("Attributes") or {}, wall)
            yield wall


def describe_exit(code: int) -> str:
    if code > 128:
        try:
            return f"killed by {signal.Signals(code - 128).name}"
        except ValueError:
            pass
    return f"exit {code}"


def describe_state(state: Mapping[str, Any] | None) -> str:
    if not state:
        return "no container"
    status = str(state.get("Status", "?"))
    if state.get("Running"):
        health = (state.get("Health") or {}).get("Status")
        return f"{status}{f', {health}' if health else ''}"
    text = f"{status}, exit {state.get('ExitCode')}"
    return text + (", OOMKilled" if state.get("OOMKilled") else "")
