"""The one interface every stack driver implements: `local` (processes on loopback) and `docker` (compose).

Scenarios and faults talk only to this protocol, so they are written once and run on every driver. It is
made of small capabilities (lifecycle, components, logs, stores, gateway, releases, instances, memory
limits, clean-up); `StackDriver` is all of them. A capability a driver may lack on this machine says why in
`unsupported(Capability.X)` (None: it works), so a scenario asks "can this driver do X" without looking at
which driver it has. A driver package gives the registry (stack/drivers/registry.py) a `DriverKind`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import redis

from stack.config import StackConfig
from stack.toxiproxy import ToxiproxyClient


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    running: bool
    pid: int | None
    endpoint: str
    ready: bool | None = None
    detail: str = ""


@dataclass(frozen=True)
class ProcessEvent:
    """Something that happened to a component: started, exited (with its code), killed, paused, resumed."""

    wall_time: float
    monotonic: float
    component: str
    kind: str
    exit_code: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class PostgresFiles:
    """PostgreSQL's files as paths on this machine, for faults and scripts that work on files (5.1, 8.2).

    On the docker driver they are the host side of the container's volume; `uid`/`gid` own PGDATA (by
    number: a container's postgres user may have no name on the host). `pgdata_in_component` is PGDATA as
    PostgreSQL itself sees it (for `exec("postgres", ...)`): the container's path on docker.
    """

    pgdata: Path
    wal_archive: Path
    backups: Path
    uid: int
    gid: int
    pgdata_in_component: PurePosixPath


@dataclass(frozen=True)
class OutsideClient:
    """A client address of its own from which requests reach the gateway, which logs it as $remote_addr
    (runbook 6.1: an attacker the responder must find in the access log and deny-list).

    `gateway_url` is where that client sends its requests (its socket bound to `source`)."""

    source: str
    gateway_url: str


class MemoryLimit(Protocol):
    """A kernel-enforced memory limit on a component (a cgroup, or a container's limit)."""

    def usage_bytes(self) -> int: ...
    def limit_bytes(self) -> int | None: ...
    def oom_kills(self) -> int: ...


@dataclass(frozen=True)
class GatewayFiles:
    """The gateway's access log and deny-list as paths on this machine (runbook 6.1 reads one, edits the other)."""

    access_log: Path
    deny_file: Path


class Capability(enum.Enum):
    """A power a fault or a recovery needs that a driver may not give, on this machine or on this platform:
    `unsupported(Capability.X)` is None when it gives it, else the one-line reason why not. The value is
    the power's short name (the attach driver's table of reasons is keyed by it).

    MEMORY_LIMITS    a kernel-enforced memory limit on a component (`limit_memory`): 3.1
    POSTGRES_FILES   PostgreSQL's files as paths on this machine (`postgres_files`: PGDATA, the WAL archive,
                     the backups; a tmpfs under PGDATA, the backup and recover scripts): 5.1, 8.2
    GATEWAY          the reference gateway's access log and deny-list, its reload, a client address of its
                     own (`gateway_files`, `reload_gateway`, `outside_client`): 6.1
    RELEASES         another release of a service (`deploy`, `release_of`): 8.1, the controls on a release
    INSTANCES        extra instances of a service (`start_instance`, `stop_instance`): 4.1

    A scenario declares what it needs, `@pytest.mark.needs(Capability.X, ...)` (a scenario file: its blocks'
    and controls' needs), and is skipped with the driver's reason before its load and its fault start
    (fixtures/plugin.py). A driver that refuses a power in a method raises `CapabilityUnsupported` with the
    same reason.
    """

    MEMORY_LIMITS = "memory"
    POSTGRES_FILES = "postgres_files"
    GATEWAY = "gateway"
    RELEASES = "releases"
    INSTANCES = "instances"

    @property
    def label(self) -> str:
        """The power in words, for a skip's reason: `memory limits`, `postgres files`..."""
        return self.name.lower().replace("_", " ")


class Lifecycle(Protocol):
    config: StackConfig

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def attach(self) -> dict[str, Any] | None: ...
    def owner_pid(self) -> int | None: ...
    def endpoints(self) -> Mapping[str, str]: ...
    def component_names(self) -> list[str]: ...
    def status(self, probe: bool = False) -> list[ComponentStatus]: ...
    def wait_ready(self, name: str, timeout_s: float | None = None) -> None: ...
    def events(self) -> list[ProcessEvent]: ...
    def unsupported(self, capability: Capability) -> str | None: ...


class Components(Protocol):
    def start_component(self, name: str) -> None: ...
    def stop_component(self, name: str) -> None: ...
    def restart(self, name: str) -> None: ...
    def kill(self, name: str, sig: int) -> None: ...
    def pause(self, name: str) -> None: ...
    def resume(self, name: str) -> None: ...
    def pause_state(self, name: str) -> str | None:
        """How the component is paused (a frozen container, a stopped pid), or None when it is not."""
        ...
    def exec(self, name: str, command: list[str]) -> tuple[int, str]:
        """A command where the component runs (its container; the host for a local process): (exit, output)."""
        ...


class Logs(Protocol):
    def logs(self, name: str, lines: int = 100) -> str: ...
    def grep_logs(self, name: str, pattern: str, lines: int = 1000) -> list[str]: ...


class Stores(Protocol):
    def toxiproxy(self) -> ToxiproxyClient: ...
    def admin_conninfo(self, database: str | None = None) -> str: ...
    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...
    def redis(self) -> redis.Redis: ...
    def pg_isready(self) -> tuple[int, str]: ...
    def redis_cli(self, *args: str) -> tuple[int, str]: ...
    def postgres_files(self) -> PostgresFiles: ...
    def adopt_postgres(self) -> None: ...


class Gateway(Protocol):
    def reload_gateway(self) -> None: ...
    def gateway_files(self) -> GatewayFiles: ...
    def outside_client(self) -> OutsideClient: ...
    def release_outside_client(self, client: OutsideClient) -> None: ...


class Releases(Protocol):
    def deploy(self, name: str, release: str) -> None: ...
    def release_of(self, name: str) -> str: ...


class Instances(Protocol):
    def start_instance(self, service: str, instance: str, env: Mapping[str, str],
                       timeout_s: float | None = None) -> str: ...
    def stop_instance(self, instance: str, timeout_s: float = 10.0) -> None: ...
    def scaling_note(self) -> str:
        """What stands in for the runbook's `docker-compose up --scale <service>=2` on this driver."""
        ...


class MemoryLimits(Protocol):
    def limit_memory(self, name: str, limit_bytes: int) -> MemoryLimit: ...
    def release_memory_limit(self, name: str) -> None: ...


class CleanUp(Protocol):
    def heal_leftovers(self) -> list[str]:
        """Clear what this driver's faults can leave after a crashed run (paused processes, cgroups,
        container limits...); one line per thing done or found clean."""
        ...


class StackDriver(Lifecycle, Components, Logs, Stores, Gateway, Releases, Instances, MemoryLimits, CleanUp,
                  Protocol):
    """Every capability: what scenarios, faults and the CLI are written against."""


@dataclass(frozen=True)
class DriverKind:
    """What a driver package gives the registry: how to make its driver and clear a dead run of it."""

    name: str
    create: Callable[..., StackDriver]  # (config, *, fresh=False, install=True, **driver options)
    stop_dead_stack: Callable[[StackConfig], list[str]]  # a dead owner's stack in config.run_dir
    leftovers_of_run: Callable[[str], list[str]]  # what of run id is still on the machine, a line each
    # The stack's ports and their processes are the run's own (local, docker); False: they are the team's
    # platform, attached to, and a port taken or a process on it is not something the run left.
    owns_stack_ports: bool = True
