"""The docker driver: the stack of docker-compose.test.yml, driven through the Docker API.

Example:
    with DockerDriver(load_config(), fresh=True) as stack:     # builds (cached), compose up --wait, probes
        stack.kill("postgres", signal.SIGKILL)                  # docker kill --signal: exit 137 in events()
        stack.restart("postgres")
        limit = stack.limit_memory("redis", 48 << 20)           # container.update(mem_limit=...)

The same StackDriver protocol as the local driver, so scenarios and faults run unchanged. Differences:
- kill/stop/restart/pause act on containers (pause is the cgroup freezer, `docker pause`, not SIGSTOP);
- exits, OOM kills and health changes come from the engine's event stream of the run's containers;
- `pg_isready`, `redis_cli` and `psql` run inside their containers (`docker exec`), as an operator would;
  `sql()` still connects with psycopg, to the port published on 127.0.0.1;
- a memory limit is the container's (`container.update`), and `restart` lifts it, as a restarted local
  process leaves its cgroup; `disconnect`/`reconnect` cut a container off its network (a partition);
  `mount_tmpfs` recreates a container with a size-limited tmpfs (the disk scenarios);
- `start_instance` runs one more container of a service (the runbook's `--scale`, 4.1) from the
  service container's image, command and environment, labelled with the run; `stop_instance` removes it;
- `<run_dir>/stack.env` (for stack/scripts/backup and recover) says PG_CONTROL=docker: the scripts stop and
  start the container and work on its volume from the host (stack/drivers/docker/stack_env.py).

It acts only on containers labelled io.aarya-chaos.run=<run id> (the id of the run directory); Compose
labels everything it creates from docker-compose.test.yml. A crashed run's leftovers are removed by label
at the next start, by `down()` and by `stack.drivers.docker.cleanup.remove_labelled`.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, cast

import docker
import httpx
import psutil
import psycopg
import redis
from docker.errors import APIError, DockerException, NotFound
from testcontainers.compose import DockerCompose

from aarya_chaos.errors import ConfigError, DriverUnavailable, FaultError, StackAlreadyRunning, StackError
from stack.config import StackConfig
from stack.drivers.base import Capability, ComponentStatus, GatewayFiles, OutsideClient, PostgresFiles, ProcessEvent
from stack import runs
from stack.drivers.common import StackContext, check_ports_free, live_owner, read_run_state, write_run_state
from stack.toxiproxy import ToxiproxyClient
from stack.waits import wait_until
from stack.redis_client import NO_RETRY

from .cleanup import remove_labelled
from .engine import docker_client, engine_reason, ensure_all
from .images import build_images, image_tags
from .instances import (INSTANCE_LABEL, INSTANCE_OF_LABEL, RESERVED_INSTANCE_NAMES, instance_container_name,
                        instance_spec, published_port)
from .runfiles import (
    COMPONENT_LABEL,
    COMPOSE_FILE,
    NGINX_DIR_IN_CONTAINER,
    PG_ARCHIVE_DIR,
    PG_DATA_DIR,
    REPO_DIR,
    RUN_LABEL,
    RunFiles,
    component_names,
    container_name,
    netns_container_name,
    run_id_for,
)
from .stack_env import write_stack_env

log = logging.getLogger("aarya.docker.driver")

OUTSIDE_CLIENT_FROM_TOP = 66  # outside_client(): the subnet's broadcast address - 66, far from Docker's allocations

PROBE_TIMEOUT_S = 2.0
EXEC_TIMEOUT_S = 5
COMPOSE_TIMEOUT_S = 600
STOP_TIMEOUT_S = 15
#: What `release_memory_limit` sets: Docker cannot unset a limit on a running container, so "no limit"
#: is a limit above the machine's memory.
UNLIMITED_BYTES = psutil.virtual_memory().total * 2


class EngineUnavailable(DriverUnavailable):
    """No usable Docker engine or Compose v2 here; the message says why (tests skip with it)."""


class DockerMemoryLimit:
    """A container's memory limit (the MemoryLimit protocol): usage from the engine's stats, OOM kills
    from its events since the limit was set.

    As with the local driver's cgroup, the limit is "this much more memory": the container's limit is set
    to its usage at the time plus `limit_bytes` (the local cgroup charges only what is allocated after the
    process joins it). `limit_bytes()` is that allowance while the container's limit is in force."""

    def __init__(self, driver: DockerDriver, component: str, since: int, allowance: int, baseline: int) -> None:
        self.driver = driver
        self.component = component
        self.since = since
        self.allowance = allowance
        self.baseline = baseline

    def usage_bytes(self) -> int:
        """Memory charged beyond the usage at the time the limit was set (as a fresh cgroup counts)."""
        return max(0, _container_usage(self.driver._container(self.component)) - self.baseline)

    def container_limit_bytes(self) -> int | None:
        container = self.driver._container(self.component)
        limit = int(container.attrs["HostConfig"].get("Memory") or 0)
        return limit if 0 < limit < UNLIMITED_BYTES else None

    def limit_bytes(self) -> int | None:
        return self.allowance if self.container_limit_bytes() is not None else None

    def oom_kills(self) -> int:
        return sum(1 for e in self.driver.events()[self.since:]
                   if e.component == self.component and e.kind == "oom_killed")

    def oom_killed(self) -> bool:
        """The container's own state: OOMKilled (kept until the container starts again)."""
        return bool(self.driver._container(self.component).attrs["State"].get("OOMKilled"))


class DockerDriver(StackContext):
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

    # -- engine ------------------------------------------------------------------------------------

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker_client()
        return self._client

    def prepare(self) -> RunFiles:
        """Engine, Compose, images (cached) and the run's rendered files; no container is started."""
        started = time.monotonic()
        reason = ensure_all(install=self.install)
        if reason is not None:
            raise EngineUnavailable(reason)
        self.timings["engine_s"] = time.monotonic() - started
        started = time.monotonic()
        if self.build:
            result = build_images(self.client)
            tags = dict(result.tags)
            self.build_summary = result.summary()
        else:
            tags = image_tags(self.client)
        self.timings["images_s"] = time.monotonic() - started
        self.files = RunFiles(self.config, images=tags, restart_policy=self.restart_policy)
        return self.files

    # -- whole stack -------------------------------------------------------------------------------

    def start(self) -> None:
        """Build (cached), compose up --wait, probe every component; on failure or Ctrl-C tear down and re-raise."""
        self.prepare()
        started = time.monotonic()
        self._claim_run_dir()
        try:
            check_ports_free(self.config)
            self.files.write()
            self._save_state()
            self._start_monitor()
            up = time.monotonic()
            self._compose().start()
            self.timings["compose_up_s"] = time.monotonic() - up
            for name in self._names:
                self.wait_ready(name)
            self._write_stack_env()
            self.started = True
            self._save_state()
            self.timings["stack_up_s"] = time.monotonic() - started
            log.info("docker stack %s ready in %.1fs", self.run_id, self.timings["stack_up_s"])
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or b"").decode(errors="replace")[-2000:]
            self.stop()
            raise StackError(f"docker compose up failed (exit {exc.returncode}):\n{detail}") from None
        except BaseException:
            log.error("start-up failed or was interrupted; tearing down the containers")
            self.stop()
            raise

    def stop(self) -> None:
        """Remove every container of the run (volumes are kept, as the local driver keeps pgdata); idempotent."""
        self._expected_down.update(self._names)
        if self.files.env_file.exists():
            self._run_compose("down", "--remove-orphans", "--timeout", str(STOP_TIMEOUT_S), check=False)
        try:
            remove_labelled(self.run_id, volumes=False, client=self._client)
        except DockerException as exc:
            log.error("removing the run's containers by label failed: %s", exc)
        self._stop_monitor()
        self._limits.clear()
        self.started = False
        if self.files.state_file.exists():
            self.files.state_file.unlink()
        runs.unregister(self.config)

    def down(self, *, volumes: bool = False) -> None:
        """Stop, and with `volumes=True` also drop the data (pgdata, redis) of the run."""
        self.stop()
        if volumes:
            remove_labelled(self.run_id, volumes=True, client=self._client)

    def _compose(self, services: list[str] | None = None) -> DockerCompose:
        return DockerCompose(context=str(REPO_DIR), compose_file_name=self._compose_files(),
                             env_file=str(self.files.env_file), pull=False, build=False, wait=True,
                             services=services)

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

    def _claim_run_dir(self) -> None:
        from stack.reaper import reap_dead_runs  # it removes dead runs' containers: imported when used

        for report in reap_dead_runs():
            log.warning("cleared a dead run before starting: %s", report.describe())
        runs.register(self.config, "docker")
        pid = live_owner(self._read_state())
        if pid not in (None, os.getpid()):
            raise StackAlreadyRunning(f"a docker stack run by pid {pid} already owns {self.config.run_dir}; "
                                      "stop it with `aarya-chaos down`, or choose another run_dir")
        removed = remove_labelled(self.run_id, volumes=self.fresh, client=self.client)
        if removed:
            log.warning("removed what an earlier run %s left behind: %s", self.run_id, removed.describe())
        if self.fresh and self.config.run_dir.exists():
            shutil.rmtree(self.config.run_dir)
        self.config.run_dir.mkdir(parents=True, exist_ok=True)

    # -- run.json (for `status`/`down` from another process) ----------------------------------------

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

    # -- one component -----------------------------------------------------------------------------

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

    def start_component(self, name: str) -> None:
        if name in self._limits:
            self.release_memory_limit(name)  # a restarted process is no longer under the limit
        container = self._container(name)
        self._expected_down.discard(name)
        if container.status not in ("running", "paused"):
            container.start()
        self.wait_ready(name)
        self._save_state()

    def stop_component(self, name: str) -> None:
        container = self._container(name)
        self._expected_down.add(name)
        if container.status == "paused":
            container.unpause()
        container.stop(timeout=STOP_TIMEOUT_S)
        container.reload()
        self._record(name, "stopped", int(container.attrs["State"].get("ExitCode", 0)))
        self._save_state()

    def restart(self, name: str) -> None:
        """Stop if running, start, wait until ready (also lifts a memory limit set by limit_memory)."""
        if self._container(name).status in ("running", "paused", "restarting"):
            self.stop_component(name)
        self.start_component(name)

    def adopt_postgres(self) -> None:
        """After stack/scripts/recover (PG_CONTROL=docker: `docker stop` / `docker start` of our own
        container) nothing needs taking back: wait until it is ready."""
        self.wait_ready("postgres")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """`docker kill --signal`: the container's main process gets the signal (SIGKILL: exit 137)."""
        container = self._container(name)
        self._record(name, "signalled", detail=signal.Signals(sig).name)  # before: the exit follows at once
        container.kill(signal=int(sig))

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
        return "paused (cgroup freezer)" if self.is_paused(name) else None

    def logs(self, name: str, lines: int = 100) -> str:
        try:
            data: bytes = self._container(name).logs(stdout=True, stderr=True, tail=lines)
        except StackError as exc:
            return f"(no logs: {exc})"
        return data.decode("utf-8", errors="replace")

    def grep_logs(self, name: str, pattern: str, lines: int = 1000) -> list[str]:
        regex = re.compile(pattern, re.IGNORECASE)
        return [line for line in self.logs(name, lines).splitlines() if regex.search(line)]

    # -- exec: the runbook's commands inside the containers -----------------------------------------

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

    def pg_isready(self) -> tuple[int, str]:
        """The runbook's `docker exec aarya_postgres pg_isready -U postgres` (over TCP in the container)."""
        code, output = self.exec("postgres", ["pg_isready", "-h", "127.0.0.1", "-p", "5432",
                                              "-U", self.config.postgres.superuser, "-t", "2"])
        return (2, f"no response: {output.strip()}") if code == 125 else (code, output)

    def redis_cli(self, *args: str) -> tuple[int, str]:
        """The runbook's `docker exec aarya_redis redis-cli ...`."""
        code, output = self.exec("redis", ["redis-cli", "-p", "6379", *args])
        return (1, f"Could not connect to Redis: {output.strip()}") if code == 125 else (code, output)

    def psql(self, query: str, database: str | None = None) -> tuple[int, str]:
        """`docker exec aarya_postgres psql -U postgres -c QUERY` (unaligned, tuples only)."""
        pg = self.config.postgres
        return self.exec("postgres", ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U", pg.superuser,
                                      "-d", database or pg.database, "-c", query], timeout_s=30)

    def reload_gateway(self) -> None:
        code, output = self.exec("api_gateway", ["nginx", "-p", NGINX_DIR_IN_CONTAINER, "-c",
                                                 f"{NGINX_DIR_IN_CONTAINER}/nginx.conf", "-s", "reload"])
        if code != 0:
            raise StackError(f"nginx reload failed (exit {code}): {output.strip()}")

    # -- clients -----------------------------------------------------------------------------------

    def toxiproxy(self) -> ToxiproxyClient:
        return ToxiproxyClient(self.config.url(self.config.toxiproxy.port))

    def admin_conninfo(self, database: str | None = None) -> str:
        """The superuser's connection through the port published on 127.0.0.1 (not through Toxiproxy)."""
        pg = self.config.postgres
        return (f"host={self.config.host} port={pg.port} dbname={database or pg.database} user={pg.superuser} "
                f"password={pg.superuser_password} connect_timeout=5")

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """SQL as the superuser through the port published on 127.0.0.1 (not through Toxiproxy)."""
        with psycopg.connect(self.admin_conninfo(), autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def redis(self) -> redis.Redis:
        return redis.Redis(host=self.config.host, port=self.config.redis.port, socket_timeout=2,
                           socket_connect_timeout=2, decode_responses=True, retry=NO_RETRY)

    # -- memory limits -----------------------------------------------------------------------------

    def unsupported(self, capability: Capability) -> str | None:
        """A container's memory limit is the engine's business: everything works once the stack runs."""
        return None

    def limit_memory(self, name: str, limit_bytes: int) -> DockerMemoryLimit:
        """`docker update --memory <usage now + limit_bytes>`: past it the kernel OOM-kills the container's
        biggest process (the main one: exit 137, State.OOMKilled, an `oom` then a `die` event)."""
        if limit_bytes <= 0:
            raise FaultError(f"a memory limit must be positive, got {limit_bytes}")
        container = self._container(name)
        if container.status != "running":
            raise StackError(f"{name} is not running; cannot limit its memory")
        baseline = _container_usage(container)
        total = max(baseline + limit_bytes, 6 << 20)  # Docker's minimum
        try:
            container.update(mem_limit=total, memswap_limit=total)
        except APIError as exc:
            raise FaultError(f"docker update --memory {total} on {container.name} failed: {exc}") from exc
        limit = DockerMemoryLimit(self, name, since=len(self.events()), allowance=limit_bytes, baseline=baseline)
        self._limits[name] = limit
        self._record(name, "memory_limited", detail=f"{limit_bytes} bytes more than {baseline} (container limit {total})")
        return limit

    def release_memory_limit(self, name: str) -> None:
        if self._limits.pop(name, None) is None:
            return
        try:
            self._container(name).update(mem_limit=UNLIMITED_BYTES, memswap_limit=UNLIMITED_BYTES)
        except (APIError, StackError) as exc:
            raise FaultError(f"lifting the memory limit of {name} failed: {exc}") from exc
        self._record(name, "memory_released")

    # -- a client with an address of its own (6.1) -------------------------------------------------

    def _bridge(self) -> tuple[str, ipaddress.IPv4Network]:
        """The host interface of the stack's bridge network, and its subnet."""
        network = self._network()
        attrs = network.attrs
        bridge = (attrs.get("Options") or {}).get("com.docker.network.bridge.name") or f"br-{network.id[:12]}"
        configs = (attrs.get("IPAM") or {}).get("Config") or []
        subnets = [ipaddress.ip_network(c["Subnet"]) for c in configs if ":" not in c.get("Subnet", ":")]
        if not subnets:
            raise StackError(f"network {network.name} has no IPv4 subnet")
        return bridge, cast(ipaddress.IPv4Network, subnets[0])

    def outside_client(self) -> OutsideClient:
        """An address of the stack's subnet added to the host end of its bridge (as root), and the gateway
        container's own address: the published port goes through docker-proxy, which would hide the
        client's address behind the bridge's (nginx would log every client as one)."""
        if os.geteuid() != 0:
            raise FaultError("an address of its own on the stack's bridge needs root (ip addr add)")
        bridge, subnet = self._bridge()
        source = str(subnet.broadcast_address - OUTSIDE_CLIENT_FROM_TOP)
        gateway = self._netns_container("api_gateway")
        gateway.reload()
        address = ((gateway.attrs["NetworkSettings"].get("Networks") or {}).get(self.files.project) or {}).get(
            "IPAddress")
        if not address:
            raise StackError("the gateway container has no address on the stack network")
        _ip("addr", "replace", f"{source}/32", "dev", bridge)
        self._record("api_gateway", "outside_client", detail=f"{source} on {bridge}")
        return OutsideClient(source, f"http://{address}:{self.config.gateway.port}")

    def release_outside_client(self, client: OutsideClient) -> None:
        try:
            bridge, _ = self._bridge()
        except StackError:
            return  # the network is gone, and the address with it
        _ip("addr", "del", f"{client.source}/32", "dev", bridge, check=False)

    def _outside_addresses(self) -> list[str]:
        """Addresses added to the bridge by outside_client() (heal removes them)."""
        bridge, subnet = self._bridge()
        found = re.findall(r"inet (\S+)/32 ", _ip("-o", "-4", "addr", "show", "dev", bridge, check=False))
        return [a for a in found if ipaddress.ip_address(a) in subnet]

    # -- network partitions ------------------------------------------------------------------------

    def _network(self) -> Any:
        try:
            network = self.client.networks.get(self.files.project)
        except NotFound:
            raise StackError(f"no network {self.files.project}; is the docker stack up?") from None
        if (network.attrs.get("Labels") or {}).get(RUN_LABEL) != self.run_id:
            raise StackError(f"network {self.files.project} is not labelled {RUN_LABEL}={self.run_id}")
        return network

    def _netns_container(self, name: str) -> Any:
        """The container that holds the component's network namespace (its own for the gateway)."""
        holder = netns_container_name(self.config, name)
        if holder is None:
            return self._container(name)
        self._check_name(name)
        try:
            container = self.client.containers.get(holder)
        except NotFound:
            raise StackError(f"no container {holder} (the network namespace of {name})") from None
        if (container.labels or {}).get(RUN_LABEL) != self.run_id:
            raise StackError(f"container {holder} is not labelled {RUN_LABEL}={self.run_id}; not touching it")
        return container

    def disconnect(self, name: str) -> None:
        """`docker network disconnect`: the component drops off the stack's network (a partition). Its peers
        (through Toxiproxy) cannot reach it, nor it them; the host still reaches its published port."""
        self._network().disconnect(self._netns_container(name))
        self._record(name, "disconnected")

    def reconnect(self, name: str) -> None:
        self._network().connect(self._netns_container(name), aliases=[name])
        self._record(name, "reconnected")

    def is_connected(self, name: str) -> bool:
        container = self._netns_container(name)
        container.reload()
        return self.files.project in (container.attrs["NetworkSettings"].get("Networks") or {})

    # -- size-limited tmpfs (disk full) ------------------------------------------------------------

    def mount_tmpfs(self, name: str, path: str, size_bytes: int) -> None:
        """Recreate the container with a tmpfs of `size_bytes` at `path` (writes past it fail with ENOSPC)."""
        if not path.startswith("/") or size_bytes <= 0:
            raise FaultError(f"a tmpfs needs an absolute path and a positive size, got {path!r}, {size_bytes}")
        override = self.files.root / f"override-{name}.yml"
        override.write_text(f"services:\n  {name}:\n    tmpfs:\n      - \"{path}:size={size_bytes}\"\n")
        self._tmpfs[name] = (path, size_bytes)
        self._recreate(name)
        self._record(name, "tmpfs_mounted", detail=f"{path} size={size_bytes}")

    def unmount_tmpfs(self, name: str) -> None:
        override = self.files.root / f"override-{name}.yml"
        if self._tmpfs.pop(name, None) is None and not override.exists():
            return
        override.unlink(missing_ok=True)
        self._recreate(name)
        self._record(name, "tmpfs_unmounted")

    def tmpfs_mounts(self) -> dict[str, tuple[str, int]]:
        return dict(self._tmpfs)

    def _recreate(self, name: str) -> None:
        self._expected_down.add(name)
        self._limits.pop(name, None)
        try:
            self._run_compose("up", "--detach", "--no-deps", "--force-recreate", "--wait", name)
        finally:
            self._expected_down.discard(name)
        self.wait_ready(name)
        self._save_state()

    # -- leftovers of a crashed run (`aarya-chaos heal`) ----------------------------------------------

    def heal_leftovers(self) -> list[str]:
        """Undo the container faults a crashed run left; one line per kind. Without a living owner the
        run's containers and networks are removed by label instead (volumes stay: they hold the data)."""
        reason = engine_reason()
        if reason is not None:
            return [f"docker: {reason}; nothing to heal there"]
        if self.owner_pid() is None:
            removed = remove_labelled(self.run_id, volumes=False, client=self._client)
            if self.files.state_file.exists():
                self.files.state_file.unlink()
            return [f"docker: no living owner for run {self.run_id}; removed {removed.describe()} "
                    "(volumes kept; `python -m stack.drivers.docker clean` drops them)"]
        unpaused, limits, reconnected = [], [], []
        for name in self._names:
            try:
                container = self._container(name)
            except StackError:
                continue
            if container.status == "paused":
                container.unpause()
                unpaused.append(name)
            memory = int((container.attrs.get("HostConfig") or {}).get("Memory") or 0)
            if 0 < memory < psutil.virtual_memory().total:
                container.update(mem_limit=UNLIMITED_BYTES, memswap_limit=UNLIMITED_BYTES)
                limits.append(f"{name} ({memory >> 20} MiB)")
            if netns_container_name(self.config, name) is not None and not self.is_connected(name):
                self.reconnect(name)
                reconnected.append(name)
        outside = self._outside_addresses()
        for address in outside:
            self.release_outside_client(OutsideClient(address, ""))
        instances = sorted({(c.labels or {}).get(INSTANCE_LABEL, "?") for c in self._instance_containers()})
        for instance in instances:
            self.stop_instance(instance, timeout_s=5)
        tmpfs = [p.stem.removeprefix("override-") for p in self.files.root.glob("override-*.yml")]
        for name in tmpfs:
            self.unmount_tmpfs(name)
        return [f"docker: unpaused {', '.join(unpaused) or 'nothing'}",
                f"docker: lifted memory limits of {', '.join(limits) or 'nothing'}",
                f"docker: reconnected {', '.join(reconnected) or 'nothing'} to the stack network",
                f"docker: removed tmpfs overrides of {', '.join(tmpfs) or 'nothing'}",
                f"docker: removed extra service instances {', '.join(instances) or 'none'}",
                f"docker: removed client addresses {', '.join(outside) or 'none'} from the stack's bridge"]

    def gateway_files(self) -> GatewayFiles:
        """The run dir's nginx/ is the gateway container's config and log volume."""
        nginx = self.files.nginx_dir
        return GatewayFiles(nginx / "logs" / "access.log", nginx / "deny.conf")

    def scaling_note(self) -> str:
        return ("runbook: `docker-compose up -d --scale content_services=2` does not fit this stack (the service "
                "has a fixed container_name and shares the network namespace of its -net container, so a second "
                "replica gets neither a name nor a port of its own); the driver started one more container of "
                "content_services' image, command and environment on the stack's network (labelled with the run, "
                "port published on 127.0.0.1)")

    # -- releases ----------------------------------------------------------------------------------

    def deploy(self, name: str, release: str) -> None:
        """Recreate a service's container on another release (runbook 8.1: deploy, roll back)."""
        if name not in self.config.services:
            raise ConfigError(f"{name} is not a service; releases apply to services")
        if release not in self.config.releases:
            raise ConfigError(f"unknown release {release!r}; known: {', '.join(self.config.releases)}")
        self.files.write_service_env(name, {"RELEASE": release, **self.config.releases[release]})
        self._releases[name] = release
        self._record(name, "deploying", detail=release)
        self._recreate(name)

    def release_of(self, name: str) -> str:
        return self._releases.get(name, "v1") if name in self.config.services else "-"

    # -- extra instances of a service (the runbook's `--scale <service>=2`) ---------------------------

    def start_instance(self, service: str, instance: str, env: Mapping[str, str],
                       timeout_s: float | None = None) -> str:
        """Another container of `service` (its image, command and environment plus `env`), on the stack's
        network, its port published on 127.0.0.1; returns its base URL once /health/ready answers 200.
        See stack/drivers/docker/instances.py. A failed start removes the container."""
        if service not in self.config.services:
            raise ConfigError(f"{service} is not a service; only services have extra instances")
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", instance) or instance in RESERVED_INSTANCE_NAMES:
            raise ConfigError(f"bad instance name {instance!r}")
        base = self._container(service)
        name = instance_container_name(base.name, instance)
        self.stop_instance(instance)  # an earlier attempt's, if any
        try:
            self.client.containers.get(name)
            raise StackError(f"a container {name} exists without this run's label; not touching it")
        except NotFound:
            pass
        port = self.config.services[service].port
        dns = (self._netns_container(service).attrs.get("HostConfig") or {}).get("Dns")
        spec = instance_spec(base.attrs["Config"], name=name, run_id=self.run_id, service=service,
                             instance=instance, env=env, network=self._network().name, port=port,
                             host=self.config.host, dns=dns)
        try:
            container = self.client.containers.run(**spec)
        except APIError as exc:
            raise StackError(f"creating {name} failed: {exc.explanation or exc}") from exc
        try:
            container.reload()
            host_port = published_port(container.attrs, port)
            if host_port is None:
                raise StackError(f"{name} has no published port for {port}/tcp "
                                 f"({_describe_state(container.attrs.get('State'))}): "
                                 f"{container.logs(tail=20).decode(errors='replace')}")
            base_url = self.config.url(host_port)

            def ready() -> bool:
                return httpx.get(f"{base_url}/health/ready", timeout=PROBE_TIMEOUT_S).status_code == 200

            def still_alive() -> str | None:
                container.reload()
                state = container.attrs.get("State") or {}
                return None if state.get("Running") else f"{name} is not running ({_describe_state(state)})"

            wait_until(f"{service} ({instance})", base_url, ready,
                       timeout_s=timeout_s if timeout_s is not None else self.config.ready_timeout_s,
                       log_tail=lambda: container.logs(tail=40).decode(errors="replace"), still_alive=still_alive)
        except BaseException:
            self.stop_instance(instance)
            raise
        log.info("started %s instance %s: container %s, %s", service, instance, name, base_url)
        return base_url

    def _instance_containers(self, instance: str | None = None) -> list[Any]:
        label = INSTANCE_LABEL if instance is None else f"{INSTANCE_LABEL}={instance}"
        containers: list[Any] = self.client.containers.list(
            all=True, filters={"label": [f"{RUN_LABEL}={self.run_id}", label]})
        return containers

    def stop_instance(self, instance: str, timeout_s: float = 10.0) -> None:
        """`docker stop -t <timeout_s>` (SIGTERM, then SIGKILL) and remove the instance's container, its log
        kept in <run_dir>/logs/<service>-<instance>.log; idempotent."""
        for container in self._instance_containers(instance):
            service = (container.labels or {}).get(INSTANCE_OF_LABEL, "service")
            try:
                if container.status == "paused":
                    container.unpause()
                if container.status in ("running", "restarting"):
                    container.stop(timeout=max(1, int(timeout_s)))
                log_path = self.config.run_dir / "logs" / f"{service}-{instance}.log"
                log_path.parent.mkdir(parents=True, exist_ok=True)
                with log_path.open("ab") as out:
                    out.write(container.logs(stdout=True, stderr=True))
                container.remove(force=True)
                log.info("removed %s instance %s (container %s)", service, instance, container.name)
            except NotFound:
                pass

    # -- files on the host -------------------------------------------------------------------------

    def host_path(self, name: str, container_path: str) -> Path:
        """Where a path inside the component's container lives on this machine (through its mounts)."""
        container = self._container(name)
        best: tuple[str, str] | None = None
        for mount in container.attrs.get("Mounts") or []:
            dest, source = str(mount.get("Destination", "")), str(mount.get("Source", ""))
            inside = container_path == dest or container_path.startswith(dest.rstrip("/") + "/")
            if source and inside and (best is None or len(dest) > len(best[0])):
                best = (dest, source)
        if best is None:
            raise StackError(f"{container_path} in {container.name} is on no volume or bind mount, so it has "
                             "no path on this machine")
        return Path(best[1]) / Path(container_path).relative_to(best[0])

    def postgres_files(self) -> PostgresFiles:
        pgdata = self.host_path("postgres", PG_DATA_DIR)
        owner = pgdata.stat()
        backups = self.config.run_dir / "backups"
        backups.mkdir(parents=True, exist_ok=True)
        return PostgresFiles(pgdata, self.host_path("postgres", PG_ARCHIVE_DIR), backups, owner.st_uid,
                             owner.st_gid, PurePosixPath(PG_DATA_DIR))

    def _write_stack_env(self) -> None:
        """<run_dir>/stack.env for stack/scripts/backup and recover (PG_CONTROL=docker).

        Not fatal: without access to the volume's files (not root) the stack still runs, only the scripts
        cannot (they say stack.env is missing)."""
        rows = self.sql("SELECT current_setting('server_version_num')::int / 10000")
        try:
            files = self.postgres_files()
        except OSError as exc:
            log.warning("no stack.env for the backup/recover scripts: PostgreSQL's volume is out of reach (%s)", exc)
            (self.config.run_dir / "stack.env").unlink(missing_ok=True)  # an earlier run's would mislead them
            return
        write_stack_env(self.config, files, container=container_name(self.config, "postgres"),
                        server_archive=PG_ARCHIVE_DIR, server_major=int(rows[0][0]))

    # -- events ------------------------------------------------------------------------------------

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


def _container_usage(container: Any) -> int:
    stats: dict[str, Any] = container.stats(stream=False, one_shot=True)
    return int((stats.get("memory_stats") or {}).get("usage") or 0)


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


def _ip(*args: str, check: bool = True) -> str:
    """`ip ARGS` (iproute2); its output. FaultError when it fails, unless `check=False`."""
    try:
        result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)
    except FileNotFoundError:
        raise FaultError("the `ip` command (iproute2) is not installed") from None
    if check and result.returncode != 0:
        raise FaultError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")
    return result.stdout
