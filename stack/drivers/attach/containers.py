"""The attach driver's core: the team's containers found by their compose labels, their state, readiness,
logs, `docker exec`, and the container actions (kill, stop, start, restart, pause, resume).

A component is found as the container labelled `com.docker.compose.project=<project>` and
`com.docker.compose.service=<the profile's compose_service>`; nothing else is ever acted on (a container of
another project, or of no project, with the same name is not found). The proxy the run added is the
component `toxiproxy` (compose service `aarya-toxiproxy`).
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import docker
import httpx
import psycopg
import redis
from docker.errors import APIError, DockerException

from aarya_chaos.errors import ConfigError, StackError
from stack.config import StackConfig
from stack.drivers.base import ComponentStatus, ProcessEvent
from stack.drivers.common import StackContext
from stack.drivers.docker.core import EngineUnavailable
from stack.drivers.docker.engine import docker_client
from stack.redis_client import NO_RETRY
from stack.target.profile import Store, TargetProfile, redact
from stack.target.stack_config import store_of_kind
from stack.toxiproxy import ToxiproxyClient
from stack.waits import wait_until

from .labels import TOXIPROXY_SERVICE

log = logging.getLogger("aarya.attach.driver")

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
PROXY_COMPONENT = "toxiproxy"
PROBE_TIMEOUT_S = 2.0
EXEC_TIMEOUT_S = 5
STOP_TIMEOUT_S = 15


class AttachCore(StackContext):
    config: StackConfig

    def __init__(self, profile: TargetProfile, config: StackConfig, project: str,
                 environ: Mapping[str, str]) -> None:
        self.profile = profile
        self.config = config
        self.project = project
        self.environ = dict(environ)
        self.services: dict[str, str] = {name: c.compose_service for name, c in profile.components.items()
                                         if c.compose_service}
        self.services[PROXY_COMPONENT] = TOXIPROXY_SERVICE
        self._names = list(self.services)
        self._client: docker.DockerClient | None = None
        self._events: list[ProcessEvent] = []
        self._lock = threading.Lock()
        self._expected_down: set[str] = set()

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                self._client = docker_client()
            except DockerException as exc:
                raise EngineUnavailable(f"the Docker engine does not answer: {exc}") from exc
        return self._client

    def component_names(self) -> list[str]:
        return list(self._names)

    def _check_name(self, name: str) -> None:
        if name not in self.services:
            raise ConfigError(f"unknown component {name!r}; known: {', '.join(self._names)}")

    def _find(self, name: str) -> Any | None:
        self._check_name(name)
        found = self.client.containers.list(all=True, filters={"label": [
            f"{PROJECT_LABEL}={self.project}", f"{SERVICE_LABEL}={self.services[name]}"]})
        return min(found, key=lambda c: str(c.name)) if found else None

    def _container(self, name: str) -> Any:
        """The component's container in the team's project (by compose labels), or StackError."""
        container = self._find(name)
        if container is None:
            raise StackError(f"no container of compose service {self.services[name]!r} in project "
                             f"{self.project!r} for {name}")
        return container

    def _state(self, name: str) -> dict[str, Any] | None:
        try:
            container = self._container(name)
        except StackError:
            return None
        state: dict[str, Any] = container.attrs.get("State") or {}
        return state

    # -- addresses and probes -------------------------------------------------------------------

    def store(self, kind: str) -> Store:
        store = store_of_kind(self.profile, kind)
        if store is None:
            raise StackError(f"profile {self.profile.name!r} declares no {kind} store")
        return store

    def endpoints(self) -> Mapping[str, str]:
        result: dict[str, str] = {}
        for name in self._names:
            component = self.profile.components.get(name)
            if name == PROXY_COMPONENT:
                result[name] = self.config.url(self.config.toxiproxy.port)
            elif component is not None and (component.health or component.ready):
                result[name] = str(component.health or component.ready)
            elif name in self.profile.stores:
                result[name] = self.profile.stores[name].redacted()
            else:
                result[name] = f"compose service {self.services[name]}"
        return result

    def _probe(self, name: str) -> Callable[[], object]:
        component = self.profile.components.get(name)
        if name == PROXY_COMPONENT:
            def version() -> object:
                with ToxiproxyClient(self.config.url(self.config.toxiproxy.port), timeout_s=PROBE_TIMEOUT_S) as c:
                    return c.version()
            return version
        store = self.profile.stores.get(name)
        if store is not None and store.kind == "postgres":
            def pg() -> object:
                dsn = store.connection_string(self.environ)
                with psycopg.connect(dsn, connect_timeout=2, autocommit=True) as conn:
                    return conn.execute("SELECT 1").fetchone()
            return pg
        if store is not None:
            def ping() -> object:
                client = redis.Redis.from_url(store.connection_string(self.environ), socket_timeout=PROBE_TIMEOUT_S,
                                              socket_connect_timeout=PROBE_TIMEOUT_S, retry=NO_RETRY)
                try:
                    return client.ping()
                finally:
                    client.close()
            return ping
        url = (component.ready or component.health) if component is not None else None
        if url is None:
            return lambda: bool((self._state(name) or {}).get("Running"))

        def http() -> object:
            response = httpx.get(url, timeout=PROBE_TIMEOUT_S)
            if not 200 <= response.status_code < 300:
                raise StackError(f"{url} answered {response.status_code}: {response.text[:200]}")
            return True
        return http

    def status(self, probe: bool = False) -> list[ComponentStatus]:
        result = []
        endpoints = self.endpoints()
        for name in self._names:
            state = self._state(name)
            running = bool(state and state.get("Running"))
            pid = int(state["Pid"]) if running and state and state.get("Pid") else None
            detail = _describe_state(state)
            ready: bool | None = None
            if probe and running:
                try:
                    ready = bool(self._probe(name)())
                except Exception as exc:  # a status report shows failures, it never raises
                    ready, detail = False, redact(f"{detail}; {type(exc).__name__}: {exc}")[:200]
            result.append(ComponentStatus(name, running, pid, endpoints[name], ready, detail))
        return result

    def wait_ready(self, name: str, timeout_s: float | None = None) -> None:
        self._check_name(name)

        def still_alive() -> str | None:
            state = self._state(name)
            if state is None:
                return f"{name} has no container"
            return None if state.get("Running") else f"{name} is not running ({_describe_state(state)})"

        wait_until(name, self.endpoints()[name], self._probe(name),
                   timeout_s=timeout_s if timeout_s is not None else self.config.ready_timeout_s,
                   log_tail=lambda: self.logs(name, 40), still_alive=still_alive)

    # -- logs and exec --------------------------------------------------------------------------

    def logs(self, name: str, lines: int = 100) -> str:
        try:
            data: bytes = self._container(name).logs(stdout=True, stderr=True, tail=lines)
        except StackError as exc:
            return f"(no logs: {exc})"
        return data.decode("utf-8", errors="replace")

    def grep_logs(self, name: str, pattern: str, lines: int = 1000) -> list[str]:
        regex = re.compile(pattern, re.IGNORECASE)
        return [line for line in self.logs(name, lines).splitlines() if regex.search(line)]

    def exec(self, name: str, command: list[str], *, user: str = "",
             timeout_s: int = EXEC_TIMEOUT_S) -> tuple[int, str]:
        """A command in the component's container: (exit, stdout+stderr); 125 and why when it cannot run."""
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

    # -- container actions ----------------------------------------------------------------------

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        container = self._container(name)
        self._record(name, "signalled", detail=signal.Signals(sig).name)
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
        """Stop if running, start, wait until ready: the team's container itself, never recreated."""
        if self._container(name).status in ("running", "paused", "restarting"):
            self.stop_component(name)
        self.start_component(name)

    def pause(self, name: str) -> None:
        self._container(name).pause()
        self._record(name, "paused")

    def resume(self, name: str) -> None:
        self._container(name).unpause()
        self._record(name, "resumed")

    def pause_state(self, name: str) -> str | None:
        state = self._state(name)
        return "paused (cgroup freezer)" if state and state.get("Paused") else None

    # -- events ---------------------------------------------------------------------------------

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
        log.info("%s %s%s", component, kind, f" (exit {exit_code})" if exit_code is not None else "")


def _describe_state(state: Mapping[str, Any] | None) -> str:
    if not state:
        return "no container"
    status = str(state.get("Status", "?"))
    if state.get("Running"):
        health = (state.get("Health") or {}).get("Status")
        return f"{status}{f', {health}' if health else ''}"
    text = f"{status}, exit {state.get('ExitCode')}"
    return text + (", OOMKilled" if state.get("OOMKilled") else "")
