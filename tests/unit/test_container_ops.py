"""stack/drivers/container_ops.py without an engine: the container operations the docker and attach drivers
share, over a fake docker SDK container, and the event monitor's replay filter. The live tests are
tests/integration/test_docker_driver.py and test_attach_driver.py."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from docker.errors import APIError

from aarya_chaos.errors import ConfigError, StackError
from stack.config import StackConfig
from stack.drivers.container_ops import (STOP_TIMEOUT_S, ContainerOps, EventMonitor, describe_exit,
                                         describe_state)


@dataclass
class _Container:
    name: str
    status: str = "running"
    exit_code: int = 0
    calls: list[tuple[str, Any]] = field(default_factory=list)
    exec_error: bool = False

    @property
    def attrs(self) -> dict[str, Any]:
        running = self.status in ("running", "paused")
        return {"State": {"Status": self.status, "Running": running, "Paused": self.status == "paused",
                          "Pid": 42 if running else 0, "ExitCode": self.exit_code}}

    def logs(self, stdout: bool, stderr: bool, tail: int) -> bytes:
        return b"ready\nERROR one\nerror two\n"

    def exec_run(self, command: list[str], user: str, demux: bool) -> tuple[int, bytes]:
        if self.exec_error:
            raise APIError("boom", explanation="no such exec")
        self.calls.append(("exec", command))
        return 0, b"ok"

    def kill(self, signal: int) -> None:
        self.calls.append(("kill", signal))

    def stop(self, timeout: int) -> None:
        self.calls.append(("stop", timeout))
        self.status, self.exit_code = "exited", 143

    def start(self) -> None:
        self.calls.append(("start", None))
        self.status = "running"

    def pause(self) -> None:
        self.status = "paused"

    def unpause(self) -> None:
        self.calls.append(("unpause", None))
        self.status = "running"

    def reload(self) -> None:
        pass


class _Core(ContainerOps):
    """A core over fake containers: `_container`, `_probe` and `endpoints` are what a driver gives."""

    _log = logging.getLogger("test.container_ops")

    def __init__(self, tmp_path: Path, containers: dict[str, _Container], ready: bool = True) -> None:
        super().__init__()
        self.config = StackConfig(run_dir=tmp_path, ready_timeout_s=1.0)
        self._names = ["db", "web"]
        self.containers = containers
        self.ready = ready

    def _container(self, name: str) -> Any:
        self._check_name(name)
        if name not in self.containers:
            raise StackError(f"no container for {name}")
        return self.containers[name]

    def _probe(self, name: str) -> Callable[[], object]:
        def probe() -> object:
            if not self.ready:
                raise StackError("password=secret refused")
            return True
        return probe

    def endpoints(self) -> Mapping[str, str]:
        return {"db": "127.0.0.1:5432", "web": "http://127.0.0.1:8080"}


def test_an_unknown_name_is_a_config_error_and_a_missing_container_a_stack_error(tmp_path: Path) -> None:
    core = _Core(tmp_path, {"web": _Container("shop-web-1")})
    assert core.component_names() == ["db", "web"]
    with pytest.raises(ConfigError, match="unknown component 'nginx'; known: db, web"):
        core.kill("nginx")
    with pytest.raises(StackError, match="no container for db"):
        core.pause("db")
    assert core.logs("db").startswith("(no logs: no container for db")
    assert core.exec("db", ["true"]) == (125, "no container for db")
    assert core.pause_state("db") is None


def test_status_shows_state_and_probe_failures_without_raising(tmp_path: Path) -> None:
    core = _Core(tmp_path, {"web": _Container("shop-web-1")}, ready=False)
    db, web = core.status(probe=True)
    assert (db.running, db.pid, db.ready, db.detail) == (False, None, None, "no container")
    assert (web.running, web.pid, web.ready) == (True, 42, False)
    assert web.detail == "running; StackError: password=secret refused"
    assert web.endpoint == "http://127.0.0.1:8080"


def test_logs_exec_and_the_container_actions(tmp_path: Path) -> None:
    web = _Container("shop-web-1")
    core = _Core(tmp_path, {"web": web})
    assert core.grep_logs("web", "error") == ["ERROR one", "error two"]
    assert core.exec("web", ["id"], timeout_s=7) == (0, "ok")
    assert web.calls[-1] == ("exec", ["timeout", "7", "id"])
    web.exec_error = True
    assert core.exec("web", ["id"]) == (125, "docker exec in shop-web-1 failed: no such exec")

    core.kill("web", signal.SIGTERM)
    assert ("kill", signal.SIGTERM.value) in web.calls
    core.pause("web")
    assert core.is_paused("web") and core.pause_state("web") == "paused (cgroup freezer)"
    assert core.exec("web", ["id"]) == (125, "container shop-web-1 is paused")

    core.restart("web")  # paused: unpaused, stopped, started, waited for
    assert [c for c, _ in web.calls[-3:]] == ["unpause", "stop", "start"]
    assert ("stop", STOP_TIMEOUT_S) in web.calls
    events = [(e.component, e.kind, e.exit_code, e.detail) for e in core.events()]
    assert events == [("web", "signalled", None, "SIGTERM"), ("web", "paused", None, ""),
                      ("web", "stopped", 143, "")]


def test_engine_events_become_process_events_except_an_expected_exit(tmp_path: Path) -> None:
    core = _Core(tmp_path, {})
    core._on_engine_event("web", "start", {}, 100.0)
    core._on_engine_event("web", "die", {"exitCode": "137"}, 101.0)
    core._on_engine_event("web", "oom", {"name": "shop-web-1"}, 102.0, oom_note=" (memory limit 5 bytes)")
    core._on_engine_event("web", "health_status: unhealthy", {}, 103.0)
    core._on_engine_event("web", "exec_start: sh", {}, 104.0)
    core._expected_down.add("db")
    core._on_engine_event("db", "die", {"exitCode": "0"}, 105.0)
    assert [(e.kind, e.exit_code, e.detail, e.wall_time) for e in core.events()] == [
        ("started", None, "", 100.0), ("exited", 137, "killed by SIGKILL", 101.0),
        ("oom_killed", None, "container shop-web-1 OOM-killed (memory limit 5 bytes)", 102.0),
        ("health", None, "unhealthy", 103.0)]


def test_the_monitor_skips_what_a_reconnect_replays() -> None:
    seen: list[tuple[str, float]] = []
    monitor = EventMonitor("x=y", lambda action, attrs, wall: seen.append((action, wall)), thread_name="t",
                           log=logging.getLogger("test"))

    def raw(action: str, nanos: int, actor: str = "a") -> dict[str, Any]:
        return {"Action": action, "timeNano": nanos, "Actor": {"ID": actor, "Attributes": {}}}

    stream = [raw("die", 9_000_000_000), raw("start", 10_000_000_000), raw("start", 10_000_000_000),
              raw("start", 10_000_000_000, "b"), raw("die", 11_000_000_000)]
    assert list(monitor._events_from(stream, 10.0)) == [10.0, 10.0, 11.0]
    assert seen == [("start", 10.0), ("start", 10.0), ("die", 11.0)]
    # the stream cut and reopened from second 11: the die at 11.0 it replays was handled already
    assert list(monitor._events_from([raw("die", 11_000_000_000), raw("start", 12_000_000_000)], 11.0)) == [12.0]
    assert seen[-2:] == [("die", 11.0), ("start", 12.0)]


def test_describe_state_and_exit() -> None:
    assert describe_state(None) == "no container"
    assert describe_state({"Status": "running", "Running": True, "Health": {"Status": "healthy"}}) == \
        "running, healthy"
    assert describe_state({"Status": "exited", "ExitCode": 137, "OOMKilled": True}) == "exited, exit 137, OOMKilled"
    assert describe_exit(143) == "killed by SIGTERM"
    assert describe_exit(1) == "exit 1"
    assert describe_exit(200) == "exit 200"
