"""The docker driver's core: the run's containers by name and label, their state and readiness, logs,
`docker exec`, the event list and run.json. The capabilities (events.py, limits.py, network.py,
instances.py) and the driver (driver.py) build on it."""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import docker
import httpx
import psutil
import psycopg
import redis
from docker.errors import APIError, DockerException, NotFound

from aarya_chaos.errors import ConfigError, DriverUnavailable, StackError
from stack.config import StackConfig
from stack.drivers.base import ComponentStatus, ProcessEvent
from stack.drivers.common import StackContext, live_owner, read_run_state, write_run_state
from stack.redis_client import NO_RETRY
from stack.toxiproxy import ToxiproxyClient
from stack.waits import wait_until

from .engine import docker_client
from .runfiles import COMPOSE_FILE, REPO_DIR, RUN_LABEL, RunFiles, component_names, container_name, run_id_for

if TYPE_CHECKING:
    from .limits import DockerMemoryLimit

log = logging.getLogger("aarya.docker.driver")

PROBE_TIMEOUT_S = 2.0
EXEC_TIMEOUT_S = 5
COMPOSE_TIMEOUT_S = 600
STOP_TIMEOUT_S = 15
#: What `release_memory_limit` sets: Docker cannot unset a limit on a running container, so "no limit"
#: is a limit above the machine's memory.
UNLIMITED_BYTES = psutil.virtual_memory().total * 2


class EngineUnavailable(DriverUnavailable):
    """No usable Docker engine or Compose v2 here; the message says why (tests skip with it)."""


class DockerCore(StackContext):
    def __init__(self, config: StackConfig, *, fresh: bool = False, install: bool = True, build: bool = True,
                 restart_policy: str = "no") -> None:
        self.config = config
        self.fresh = fresh
        self.install = install
        self.build = build
        self.restart_policy = restart_policy
        self.run_id = run_id_for(config)
        self.files = RunFiles(config, images={}, restart_policy=restart_policy)
        self._names = component_names(config)
        self._client: docker.DockerClient | None = None
        self._events: list[ProcessEvent] = []
        self._lock = threading.Lock()
        self._expected_down: set[str] = set()
        self._monitor: threading.Thread | None = None
        self._monitor_stop = threading.Event()
        self._stream: Any = None
        self._limits: dict[str, DockerMemoryLimit] = {}
        self._tmpfs: dict[str, tuple[str, int]] = {}
        self._releases: dict[str, str] = {}
        self.timings: dict[str, float] = {}
        self.build_summary = ""
        self.started = False

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                self._client = docker_client()
            except DockerException as exc:  # no engine: a StackError callers can catch, not the SDK's
                raise EngineUnavailable(f"the Docker engine does not answer: {exc}") from exc
        return self._client

    def component_names(self) -> list[str]:
        return list(self._names)

    def _check_name(self, name: str) -> None:
        if name not in self._names:
            raise ConfigError(f"unknown component {name!r}; known: {', '.join(self._names)}")

    def _container(self, name: str) -> Any:
        """The component's container, only when it carries this run's label."""
        self._check_name(name)
        cname = container_name(self.config, name)
        try:
            container = self.client.containers.get(cname)
        except NotFound:
            raise StackError(f"no container {cname} for {name}; is the docker stack up?") from None
        labels = container.labels or {}
        if labels.get(RUN_LABEL) != self.run_id:
            raise StackError(f"container {cname} is not labelled {RUN_LABEL}={self.run_id} "
                             f"(it has {labels.get(RUN_LABEL)!r}); the driver does not touch it")
        return container

    def _state(self, name: str) -> dict[str, Any] | None:
        try:
            container = self._container(name)
        except StackError:
            return None
        state: dict[str, Any] = container.attrs.get("State") or {}
        return state

    def endpoints(self) -> Mapping[str, str]:
        cfg = self.config
        result = {"postgres": f"{cfg.host}:{cfg.postgres.port}", "redis": f"{cfg.host}:{cfg.redis.port}",
                  "toxiproxy": cfg.url(cfg.toxiproxy.port)}
        result.update({name: cfg.url(svc.port) for name, svc in cfg.services.items()})
        result["api_gateway"] = cfg.gateway_url
        return {name: result[name] for name in self._names}

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
                    ready, detail = False, f"{detail}; {type(exc).__name__}: {exc}"[:200]
            result.append(ComponentStatus(name, running, pid, endpoints[name], ready, detail))
        return result

    def _probe(self, name: str) -> Callable[[], object]:
        cfg = self.config
        if name == "postgres":
            def pg() -> object:
                with psycopg.connect(f"{cfg.admin_dsn} connect_timeout=2", autocommit=True) as conn:
                    return conn.execute("SELECT 1").fetchone()
            return pg
        if name == "redis":
            def ping() -> object:
                client = redis.Redis(host=cfg.host, port=cfg.redis.port, socket_timeout=PROBE_TIMEOUT_S,
                                     socket_connect_timeout=PROBE_TIMEOUT_S, retry=NO_RETRY)
                try:
                    return client.ping()
                finally:
                    client.close()
            return ping
        if name == "toxiproxy":
            def version() -> object:
                with ToxiproxyClient(cfg.url(cfg.toxiproxy.port), timeout_s=PROBE_TIMEOUT_S) as client:
                    return client.version()
            return version
        url = f"{cfg.gateway_url}/health" if name == "api_gateway" else f"{cfg.url(cfg.services[name].port)}/health/ready"

        def http() -> object:
            response = httpx.get(url, timeout=PROBE_TIMEOUT_S)
            if response.status_code != 200:
                raise StackError(f"{url} answered {response.status_code}: {response.text[:300]}")
            return True
        return http

    def wait_ready(self, name: str, timeout_s: float | None = None) -> None:
        def still_alive() -> str | None:
            state = self._state(name)
            if state is None:
                return f"{name} has no container"
            return None if state.get("Running") else f"{name} is not running ({_describe_state(state)})"

        wait_until(name, self.endpoints()[name], self._probe(name),
                   timeout_s=timeout_s if timeout_s is not None else self.config.ready_timeout_s,
                   log_tail=lambda: self.logs(name, 40), still_alive=still_alive)

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
        text = (output or b"").decode("utf-8", errors="replace")
        return int(code if code is not None else 125), text

    def _save_state(self) -> None:
        write_run_state(self.files.state_file, {
            "driver": "docker", "run_id": self.run_id, "project": self.files.project,
            "containers": {n: container_name(self.config, n) for n in self._names},
            "endpoints": dict(self.endpoints())})

    def _read_state(self) -> dict[str, Any] | None:
        data = read_run_state(self.files.state_file)
        return data if data is not None and data.get("driver") == "docker" else None

    def attach(self) -> dict[str, Any] | None:
        """Adopt a stack started by another process (containers are found by name and label)."""
        return self._read_state()

    def owner_pid(self) -> int | None:
        return live_owner(self._read_state())

    def _compose_files(self) -> list[str]:
        overrides = sorted(str(p) for p in self.files.root.glob("override-*.yml"))
        return [str(COMPOSE_FILE), *overrides]

    def _run_compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = ["docker", "compose"]
        for path in self._compose_files():
            command += ["-f", path]
        command += ["--env-file", str(self.files.env_file), *args]
        result = subprocess.run(command, cwd=REPO_DIR, capture_output=True, text=True, timeout=COMPOSE_TIMEOUT_S)
        if check and result.returncode != 0:
            raise StackError(f"`docker compose {' '.join(args)}` failed (exit {result.returncode}):\n"
                             f"{result.stderr[-2000:]}")
        return result

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


def _describe_exit(code: int) -> str:
    if code > 128:
        try:
            return f"killed by {signal.Signals(code - 128).name}"
        except ValueError:
            pass
    return f"exit {code}"



def _describe_state(state: Mapping[str, Any] | None) -> str:
    if not state:
        return "no container"
    status = str(state.get("Status", "?"))
    if state.get("Running"):
        health = (state.get("Health") or {}).get("Status")
        return f"{status}{f', {health}' if health else ''}"
    text = f"{status}, exit {state.get('ExitCode')}"
    return text + (", OOMKilled" if state.get("OOMKilled") else "")

