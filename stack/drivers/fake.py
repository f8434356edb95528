"""A fake stack driver for unit tests of the engine: every capability, components are flags, nothing runs.

It keeps the contract the real drivers keep (tests/integration/test_driver_contract.py runs the same checks
on all three), and records the calls faults make in `calls`. What a fake cannot give (a Toxiproxy or Redis
client) raises `StackError` naming what is missing. `FakeDriver(refused={Capability.X: "why"})` plays a
driver without a power: `unsupported(X)` gives the reason and X's methods raise `CapabilityUnsupported` with it.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

import redis

from aarya_chaos.errors import CapabilityUnsupported, ConfigError, StackError
from stack.config import StackConfig, load_config
from stack.drivers.base import (Capability, ComponentStatus, GatewayFiles, MemoryLimit, OutsideClient, PostgresFiles,
                                ProcessEvent, StackDriver)
from stack.toxiproxy import ToxiproxyClient

DEFAULT_COMPONENTS = ("postgres", "redis", "commerce")
EVERY_COMPONENT = ("postgres", "redis", "toxiproxy", "core_platform", "commerce", "payment", "content_services",
                  "search_recommendation", "api_gateway")


class FakeMemoryLimit:
    def __init__(self, limit: int) -> None:
        self.limit = limit

    def usage_bytes(self) -> int:
        return 0

    def limit_bytes(self) -> int | None:
        return self.limit

    def oom_kills(self) -> int:
        return 0


class FakeDriver:
    def __init__(self, components: tuple[str, ...] = DEFAULT_COMPONENTS, *, dies_on_kill: bool = True,
                 config: StackConfig | None = None, refused: Mapping[Capability, str] | None = None) -> None:
        self.config: StackConfig = config or load_config()
        self.names = components
        self.running = {name: True for name in components}
        self.pids = {name: 1000 + i for i, name in enumerate(components)}
        self.paused: set[str] = set()
        self.dies_on_kill = dies_on_kill
        self.started = True
        self._events: list[ProcessEvent] = []
        self.calls: list[tuple[str, str]] = []
        self.instances: dict[str, dict[str, str]] = {}
        self.releases: dict[str, str] = {}
        self.limits: dict[str, FakeMemoryLimit] = {}
        self.refused = dict(refused or {})

    def _event(self, component: str, kind: str, code: int | None = None, detail: str = "") -> None:
        self._events.append(ProcessEvent(time.time(), time.monotonic(), component, kind, code, detail))

    def _check(self, name: str) -> None:
        if name not in self.running:
            raise ConfigError(f"unknown component {name!r}; known: {', '.join(self.running)}")

    def _power(self, capability: Capability) -> None:
        """CapabilityUnsupported with the reason `unsupported` gives, when the fake was told to refuse it."""
        reason = self.unsupported(capability)
        if reason is not None:
            raise CapabilityUnsupported(reason)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self.started = True
        for name in self.running:
            self.running[name] = True
            self._event(name, "started")

    def stop(self) -> None:
        self.started = False
        for name in self.running:
            self.running[name] = False

    def attach(self) -> dict[str, Any] | None:
        return {"driver": "fake", "owner": os.getpid()} if self.started else None

    def owner_pid(self) -> int | None:
        return os.getpid() if self.started else None

    def endpoints(self) -> Mapping[str, str]:
        return {name: f"fake://{name}" for name in self.running}

    def component_names(self) -> list[str]:
        return list(self.running)

    def status(self, probe: bool = False) -> list[ComponentStatus]:
        return [ComponentStatus(n, up, self.pids[n] if up else None, f"fake://{n}") for n, up in self.running.items()]

    def wait_ready(self, name: str, timeout_s: float | None = None) -> None:
        self._check(name)

    def events(self) -> list[ProcessEvent]:
        return list(self._events)

    def unsupported(self, capability: Capability) -> str | None:
        return self.refused.get(capability)

    # -- components ------------------------------------------------------------------------------

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        self._check(name)
        self.calls.append(("kill", name))
        self._event(name, "signalled", detail=signal.Signals(sig).name)
        if self.dies_on_kill:
            self.running[name] = False
            self._event(name, "exited", 128 + sig, f"killed by {signal.Signals(sig).name}")

    def restart(self, name: str) -> None:
        self._check(name)
        self.calls.append(("restart", name))
        self.running[name] = True
        self.paused.discard(name)
        self.pids[name] += 100
        self._event(name, "started")

    def start_component(self, name: str) -> None:
        self.restart(name)

    def stop_component(self, name: str) -> None:
        self._check(name)
        self.running[name] = False
        self._event(name, "stopped", 0)

    def pause(self, name: str) -> None:
        self._check(name)
        self.calls.append(("pause", name))
        self.paused.add(name)
        self._event(name, "paused")

    def resume(self, name: str) -> None:
        self._check(name)
        self.calls.append(("resume", name))
        self.paused.discard(name)
        self._event(name, "resumed")

    def pause_state(self, name: str) -> str | None:
        self._check(name)
        return "paused (fake)" if name in self.paused else None

    def exec(self, name: str, command: list[str]) -> tuple[int, str]:
        self._check(name)
        self.calls.append(("exec", f"{name}: {' '.join(command)}"))
        if not self.running[name]:
            return 125, f"{name} is not running"
        return (0, "") if command == ["true"] else (127, f"{command[0]}: the fake runs nothing but `true`")

    # -- logs ------------------------------------------------------------------------------------

    def logs(self, name: str, lines: int = 100) -> str:
        self._check(name)
        return ""

    def grep_logs(self, name: str, pattern: str, lines: int = 1000) -> list[str]:
        self._check(name)
        return []

    # -- stores ----------------------------------------------------------------------------------

    def toxiproxy(self) -> ToxiproxyClient:
        raise StackError("the fake driver has no Toxiproxy")

    def admin_conninfo(self, database: str | None = None) -> str:
        return f"host=fake dbname={database or self.config.postgres.database}"

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if not self.running.get("postgres", False):
            raise StackError("postgres (fake) is not running")
        return []

    def redis(self) -> redis.Redis:
        raise StackError("the fake driver has no Redis")

    def pg_isready(self) -> tuple[int, str]:
        return (0, "accepting connections") if self.running.get("postgres") else (2, "no response")

    def redis_cli(self, *args: str) -> tuple[int, str]:
        return (0, "PONG") if self.running.get("redis") else (1, "Could not connect to Redis")

    def postgres_files(self) -> PostgresFiles:
        self._power(Capability.POSTGRES_FILES)
        root = self.config.run_dir / "postgres"
        return PostgresFiles(root / "data", root / "wal_archive", self.config.run_dir / "backups", os.getuid(),
                             os.getgid(), PurePosixPath(root / "data"))

    def adopt_postgres(self) -> None:
        self.calls.append(("adopt", "postgres"))

    # -- gateway ---------------------------------------------------------------------------------

    def reload_gateway(self) -> None:
        self._power(Capability.GATEWAY)
        self.calls.append(("reload", "api_gateway"))

    def gateway_files(self) -> GatewayFiles:
        self._power(Capability.GATEWAY)
        nginx = self.config.run_dir / "nginx"
        return GatewayFiles(nginx / "logs" / "access.log", nginx / "deny.conf")

    def outside_client(self) -> OutsideClient:
        self._power(Capability.GATEWAY)
        return OutsideClient("127.0.0.66", self.config.gateway_url)

    def release_outside_client(self, client: OutsideClient) -> None:
        self.calls.append(("release_outside_client", client.source))

    # -- releases and instances ------------------------------------------------------------------

    def deploy(self, name: str, release: str) -> None:
        self._power(Capability.RELEASES)
        self._check(name)
        self.releases[name] = release
        self._event(name, "deploying", detail=release)

    def release_of(self, name: str) -> str:
        self._power(Capability.RELEASES)
        return self.releases.get(name, "current")

    def start_instance(self, service: str, instance: str, env: Mapping[str, str],
                       timeout_s: float | None = None) -> str:
        self._power(Capability.INSTANCES)
        self.calls.append(("start_instance", f"{service}/{instance}"))
        self.instances[instance] = dict(env)
        return f"fake://{service}-{instance}"

    def stop_instance(self, instance: str, timeout_s: float = 10.0) -> None:
        self.calls.append(("stop_instance", instance))
        self.instances.pop(instance, None)

    def scaling_note(self) -> str:
        return "the fake driver started another instance (a flag)"

    # -- memory limits and clean-up --------------------------------------------------------------

    def limit_memory(self, name: str, limit_bytes: int) -> MemoryLimit:
        self._power(Capability.MEMORY_LIMITS)
        self._check(name)
        self.limits[name] = FakeMemoryLimit(limit_bytes)
        return self.limits[name]

    def release_memory_limit(self, name: str) -> None:
        self.limits.pop(name, None)

    def heal_leftovers(self) -> list[str]:
        resumed = sorted(self.paused)
        self.paused.clear()
        return [f"fake: resumed {', '.join(resumed) or 'nothing'}"]


def _conforms(driver: FakeDriver) -> StackDriver:
    return driver  # mypy checks here that the fake has every capability with the protocol's signatures

