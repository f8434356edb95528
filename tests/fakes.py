"""A fake stack driver for unit tests of the engine: components are flags, nothing runs."""

from __future__ import annotations

import signal
import time
from collections.abc import Mapping
from typing import Any

from stack.config import StackConfig, load_config
from stack.drivers.base import ComponentStatus, ProcessEvent


class FakeDriver:
    def __init__(self, components: tuple[str, ...] = ("postgres", "redis", "commerce"),
                 *, dies_on_kill: bool = True) -> None:
        self.config: StackConfig = load_config()
        self.running = {name: True for name in components}
        self.pids = {name: 1000 + i for i, name in enumerate(components)}
        self.dies_on_kill = dies_on_kill
        self._events: list[ProcessEvent] = []
        self.calls: list[tuple[str, str]] = []
        self.instances: dict[str, dict[str, str]] = {}

    def _event(self, component: str, kind: str, code: int | None = None, detail: str = "") -> None:
        self._events.append(ProcessEvent(time.time(), time.monotonic(), component, kind, code, detail))

    def start(self) -> None: ...
    def stop(self) -> None: ...

    def endpoints(self) -> Mapping[str, str]:
        return {name: f"fake://{name}" for name in self.running}

    def component_names(self) -> list[str]:
        return list(self.running)

    def status(self, probe: bool = False) -> list[ComponentStatus]:
        return [ComponentStatus(n, up, self.pids[n] if up else None, f"fake://{n}") for n, up in self.running.items()]

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        self.calls.append(("kill", name))
        if self.dies_on_kill:
            self.running[name] = False
            self._event(name, "exited", 128 + sig, f"killed by {signal.Signals(sig).name}")

    def restart(self, name: str) -> None:
        self.calls.append(("restart", name))
        self.running[name] = True
        self.pids[name] += 100

    def start_component(self, name: str) -> None:
        self.restart(name)

    def adopt_postgres(self) -> None:
        self.calls.append(("adopt", "postgres"))

    def stop_component(self, name: str) -> None:
        self.running[name] = False

    def pause(self, name: str) -> None:
        self.calls.append(("pause", name))

    def resume(self, name: str) -> None:
        self.calls.append(("resume", name))

    def wait_ready(self, name: str, timeout_s: float | None = None) -> None: ...

    def logs(self, name: str, lines: int = 100) -> str:
        return ""

    def grep_logs(self, name: str, pattern: str, lines: int = 1000) -> list[str]:
        return []

    def events(self) -> list[ProcessEvent]:
        return list(self._events)

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return []

    def pg_isready(self) -> tuple[int, str]:
        return (0, "accepting") if self.running.get("postgres") else (2, "no response")

    def redis_cli(self, *args: str) -> tuple[int, str]:
        return (0, "PONG") if self.running.get("redis") else (1, "Could not connect")

    def reload_gateway(self) -> None: ...

    def toxiproxy(self) -> Any:
        raise NotImplementedError

    def redis(self) -> Any:
        raise NotImplementedError

    def start_instance(self, service: str, instance: str, env: Mapping[str, str],
                       timeout_s: float | None = None) -> str:
        self.calls.append(("start_instance", f"{service}/{instance}"))
        self.instances[instance] = dict(env)
        return f"fake://{service}-{instance}"

    def stop_instance(self, instance: str, timeout_s: float = 10.0) -> None:
        self.calls.append(("stop_instance", instance))
        self.instances.pop(instance, None)
