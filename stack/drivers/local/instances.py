"""Extra instances of a service on the local driver (the runbook's `docker-compose up --scale <service>=2`).

    url = driver.start_instance("content_services", "extra", {"CONSUMER_NAME": "cs-2"})   # ready
    driver.stop_instance("extra")                                                          # idempotent

An instance is another process of the service's own command and environment (`Service.command()`/`env()`)
plus the overrides, on a free port of the stack's host, logging to `<run_dir>/logs/<service>-<instance>.log`.
It is in a session of its own (stopped as a process group) and dies with the process that started it
(PR_SET_PDEATHSIG), so a run killed with SIGKILL leaves none behind.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from aarya_chaos.errors import ConfigError, StackError
from stack.logtail import tail
from stack.ports import free_port
from stack.runs import dying_with_owner
from stack.waits import wait_until

from .components import Service
from .process import interrupts_held

log = logging.getLogger("aarya.driver.instances")

PROBE_TIMEOUT_S = 2.0


def instance_command(command: list[str], port: int) -> list[str]:
    """The service's uvicorn command with another `--port`."""
    result = list(command)
    try:
        result[result.index("--port") + 1] = str(port)
    except (ValueError, IndexError):
        raise StackError(f"no --port in the service's command {command}") from None
    return result


@dataclass
class Instance:
    service: str
    name: str
    popen: subprocess.Popen[bytes]
    port: int
    base_url: str


class LocalInstances:
    """The extra instances the local driver started, by instance name."""

    def __init__(self) -> None:
        self._running: dict[str, Instance] = {}

    def start(self, service: Service, instance: str, env: Mapping[str, str], timeout_s: float) -> str:
        current = self._running.get(instance)
        if current is not None and current.popen.poll() is None:
            if current.service != service.name:
                raise ConfigError(f"instance {instance!r} already runs {current.service}")
            return current.base_url
        config = service.config
        port = free_port(config.host)
        command = instance_command(service.command(), port)
        full_env = dict(service.env() or {})
        full_env.update(env)
        log_path = service.layout.logs / f"{service.name}-{instance}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as out, interrupts_held():
            popen = subprocess.Popen(dying_with_owner(command, signal.SIGTERM), stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=full_env, start_new_session=True)
            started = Instance(service.name, instance, popen, port, config.url(port))
            self._running[instance] = started
        log.info("started %s instance %s on port %d (pid %d)", service.name, instance, port, popen.pid)

        def ready() -> bool:
            return httpx.get(f"{started.base_url}/health/ready", timeout=PROBE_TIMEOUT_S).status_code == 200

        def still_alive() -> str | None:
            code = popen.poll()
            return None if code is None else f"{service.name} instance {instance} exited with {code}; see {log_path}"

        try:
            wait_until(f"{service.name} ({instance})", started.base_url, ready, timeout_s=timeout_s,
                       log_tail=lambda: tail(log_path), still_alive=still_alive)
        except BaseException:
            self.stop(instance)
            raise
        return started.base_url

    def stop(self, instance: str, timeout_s: float = 10.0) -> None:
        """SIGTERM to its process group, SIGKILL after `timeout_s`; idempotent."""
        current = self._running.pop(instance, None)
        if current is None or current.popen.poll() is not None:
            return
        popen = current.popen
        try:
            os.killpg(popen.pid, signal.SIGTERM)
            popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(timeout=5)
        except ProcessLookupError:
            pass
        log.info("stopped %s instance %s (exit %s)", current.service, instance, popen.returncode)

    def stop_all(self) -> None:
        for instance in list(self._running):
            self.stop(instance)
