"""Memory limits on containers (`docker update --memory`): the MemoryLimits capability."""

from __future__ import annotations

import os
from typing import Any

from docker.errors import APIError

from aarya_chaos.errors import FaultError, StackError
from stack.drivers.base import Capability

from .core import UNLIMITED_BYTES, DockerCore

OUTSIDE_CLIENT_NEEDS_ROOT = ("the gateway's outside client is an address of its own on the stack's bridge, "
                             "which needs root (ip addr add)")


class DockerMemoryLimit:
    """A container's memory limit (the MemoryLimit protocol): usage from the engine's stats, OOM kills
    from its events since the limit was set.

    As with the local driver's cgroup, the limit is "this much more memory": the container's limit is set
    to its usage at the time plus `limit_bytes` (the local cgroup charges only what is allocated after the
    process joins it). `limit_bytes()` is that allowance while the container's limit is in force."""

    def __init__(self, driver: DockerCore, component: str, since: int, allowance: int, baseline: int) -> None:
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


class DockerLimits(DockerCore):
    def unsupported(self, capability: Capability) -> str | None:
        """A container's memory limit, releases, instances and the volumes' files are the engine's business,
        given once the stack runs; the gateway's outside client is an address added to the stack's bridge,
        which needs root (`outside_client`)."""
        if capability is Capability.GATEWAY and os.geteuid() != 0:
            return OUTSIDE_CLIENT_NEEDS_ROOT
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


def _container_usage(container: Any) -> int:
    stats: dict[str, Any] = container.stats(stream=False, one_shot=True)
    return int((stats.get("memory_stats") or {}).get("usage") or 0)

