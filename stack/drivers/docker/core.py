"""The docker driver's core: the run's containers by name and label, their addresses and readiness probes,
run.json and `docker compose`; state, logs, `docker exec`, the container actions and the event list are
ContainerOps' (stack/drivers/container_ops.py). The capabilities (events.py, limits.py, network.py,
instances.py) and the driver (driver.py) build on it."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import docker
import httpx
import psutil
import psycopg
import redis
from docker.errors import DockerException, NotFound

from aarya_chaos.errors import DriverUnavailable, StackError
from stack.config import StackConfig
from stack.drivers.common import StackContext, live_owner, read_run_state, write_run_state
from stack.drivers.container_ops import ContainerOps, describe_state
from stack.redis_client import NO_RETRY
from stack.toxiproxy import ToxiproxyClient

from .engine import docker_client
from .runfiles import COMPOSE_FILE, REPO_DIR, RUN_LABEL, RunFiles, component_names, container_name, run_id_for

if TYPE_CHECKING:
    from .limits import DockerMemoryLimit

log = logging.getLogger("aarya.docker.driver")

PROBE_TIMEOUT_S = 2.0
COMPOSE_TIMEOUT_S = 600
#: What `release_memory_limit` sets: Docker cannot unset a limit on a running container, so "no limit"
#: is a limit above the machine's memory.
UNLIMITED_BYTES = psutil.virtual_memory().total * 2


class EngineUnavailable(DriverUnavailable):
    """No usable Docker engine or Compose v2 here; the message says why (tests skip with it)."""


class DockerCore(ContainerOps, StackContext):
    _log = log

    def __init__(self, config: StackConfig, *, fresh: bool = False, install: bool = True, build: bool = True,
                 restart_policy: str = "no") -> None:
        super().__init__()
        self.config = config
        self.fresh = fresh
        self.install = install
        self.build = build
        self.restart_policy = restart_policy
        self.run_id = run_id_for(config)
        self.files = RunFiles(config, images={}, restart_policy=restart_policy)
        self._names = component_names(config)
        self._client: docker.DockerClient | None = None
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

    def endpoints(self) -> Mapping[str, str]:
        cfg = self.config
        result = {"postgres": f"{cfg.host}:{cfg.postgres.port}", "redis": f"{cfg.host}:{cfg.redis.port}",
                  "toxiproxy": cfg.url(cfg.toxiproxy.port)}
        result.update({name: cfg.url(svc.port) for name, svc in cfg.services.items()})
        result["api_gateway"] = cfg.gateway_url
        return {name: result[name] for name in self._names}

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


_describe_state = describe_state  # the name stack/drivers/docker/scaling.py imports
