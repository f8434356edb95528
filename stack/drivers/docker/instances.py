"""Extra instances of a service on the docker driver (the runbook's `docker-compose up -d --scale <service>=2`).

    url = driver.start_instance("content_services", "extra", {"CONSUMER_NAME": "cs-2"})   # ready
    driver.stop_instance("extra")                                                          # idempotent

An instance is a new container created with the Docker API from the service's container: the same image,
command, entrypoint, working directory, user and environment (its `Config`), plus the overrides. It is
named `<service container>_<instance>` and labelled with the run (io.aarya-chaos.run, so every clean-up by
label removes it) and io.aarya-chaos.instance=<instance> (never io.aarya-chaos.component: the driver's
event monitor keeps reporting only the compose components). It joins the stack's network without an alias
(it resolves toxiproxy, redis, ... as the service does; nobody resolves it by the service's name) and
publishes the service's port on the stack's host (127.0.0.1) on a port the engine picks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .runfiles import RUN_LABEL

INSTANCE_LABEL = "io.aarya-chaos.instance"
INSTANCE_OF_LABEL = "io.aarya-chaos.instance-of"
RESERVED_INSTANCE_NAMES = frozenset({"net"})  # `<container>_net` holds the service's network namespace


def instance_container_name(service_container: str, instance: str) -> str:
    return f"{service_container}_{instance}"


def merged_env(env_list: list[str] | None, overrides: Mapping[str, str]) -> list[str]:
    """A container's `Config.Env` ("K=V" strings, in order) with `overrides` replacing or appended."""
    values: dict[str, str] = {}
    for item in env_list or []:
        key, _, value = item.partition("=")
        values[key] = value
    values.update(overrides)
    return [f"{k}={v}" for k, v in values.items()]


def instance_spec(base_config: Mapping[str, Any], *, name: str, run_id: str, service: str, instance: str,
                  env: Mapping[str, str], network: str, port: int, host: str,
                  dns: list[str] | None = None) -> dict[str, Any]:
    """The keyword arguments of `client.containers.run` for an instance of the service whose container's
    `Config` is `base_config`."""
    spec: dict[str, Any] = {
        "image": base_config["Image"],
        "command": base_config.get("Cmd"),
        "environment": merged_env(base_config.get("Env"), env),
        "name": name,
        "labels": {RUN_LABEL: run_id, INSTANCE_LABEL: instance, INSTANCE_OF_LABEL: service},
        "network": network,
        "ports": {f"{port}/tcp": (host,)},  # the engine picks a free host port on `host` only
        "detach": True,
        "restart_policy": {"Name": "no"},
    }
    if base_config.get("Entrypoint"):
        spec["entrypoint"] = base_config["Entrypoint"]
    if base_config.get("WorkingDir"):
        spec["working_dir"] = base_config["WorkingDir"]
    if base_config.get("User"):
        spec["user"] = base_config["User"]
    if base_config.get("StopSignal"):
        spec["stop_signal"] = base_config["StopSignal"]
    if base_config.get("Healthcheck"):
        spec["healthcheck"] = base_config["Healthcheck"]
    if dns:
        spec["dns"] = list(dns)
    return spec


def published_port(attrs: Mapping[str, Any], port: int) -> int | None:
    """The host port the engine bound to the container's `port`/tcp (None until it is known)."""
    bindings = ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{port}/tcp") or []
    for binding in bindings:
        if binding.get("HostPort"):
            return int(binding["HostPort"])
    return None
