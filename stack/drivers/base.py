"""The one interface every stack driver implements (local processes now, docker-compose later).

Scenarios and faults talk only to this protocol, so they are written once and run on every driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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


class StackDriver(Protocol):
    config: StackConfig

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def endpoints(self) -> Mapping[str, str]: ...
    def component_names(self) -> list[str]: ...
    def status(self, probe: bool = False) -> list[ComponentStatus]: ...
    def start_component(self, name: str) -> None: ...
    def stop_component(self, name: str) -> None: ...
    def restart(self, name: str) -> None: ...
    def kill(self, name: str, sig: int) -> None: ...
    def pause(self, name: str) -> None: ...
    def resume(self, name: str) -> None: ...
    def wait_ready(self, name: str, timeout_s: float | None = None) -> None: ...
    def logs(self, name: str, lines: int = 100) -> str: ...
    def events(self) -> list[ProcessEvent]: ...
    def toxiproxy(self) -> ToxiproxyClient: ...
    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...
    def redis(self) -> redis.Redis: ...
    def reload_gateway(self) -> None: ...
