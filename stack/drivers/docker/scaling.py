"""Extra instances of a service as containers (the Instances capability; how one is made: instances.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx
from docker.errors import APIError, NotFound

from aarya_chaos.errors import ConfigError, StackError
from stack.waits import wait_until

from .core import PROBE_TIMEOUT_S, _describe_state, log
from .instances import (INSTANCE_LABEL, INSTANCE_OF_LABEL, RESERVED_INSTANCE_NAMES, instance_container_name,
                        instance_spec, published_port)
from .network import DockerNetwork
from .runfiles import RUN_LABEL


class DockerInstances(DockerNetwork):
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

    def scaling_note(self) -> str:
        return ("runbook: `docker-compose up -d --scale content_services=2` does not fit this stack (the service "
                "has a fixed container_name and shares the network namespace of its -net container, so a second "
                "replica gets neither a name nor a port of its own); the driver started one more container of "
                "content_services' image, command and environment on the stack's network (labelled with the run, "
                "port published on 127.0.0.1)")
