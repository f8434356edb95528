"""A docker stack beside the session's local one: ports shifted by AARYA_DOCKER_PORT_OFFSET (default 300), its
own run directory and container names."""

from __future__ import annotations

import os

from stack.config import StackConfig


def docker_config_beside(base: StackConfig) -> StackConfig:
    offset = int(os.environ.get("AARYA_DOCKER_PORT_OFFSET", "300"))
    run_dir = base.run_dir.parent / f"{base.run_dir.name}-docker"
    config = base.with_port_offset(offset, run_dir=run_dir) if offset else base.model_copy(update={"run_dir": run_dir})
    if offset:  # beside another docker stack of the same config, container names must differ too
        config = with_container_suffix(config, f"_{offset}")
    return config


def with_container_suffix(config: StackConfig, suffix: str) -> StackConfig:
    return config.model_copy(update={
        "postgres": config.postgres.model_copy(update={"container": config.postgres.container + suffix}),
        "redis": config.redis.model_copy(update={"container": config.redis.container + suffix}),
        "gateway": config.gateway.model_copy(update={"container": config.gateway.container + suffix}),
        "toxiproxy": config.toxiproxy.model_copy(update={"container": config.toxiproxy.container + suffix}),
        "services": {n: s.model_copy(update={"container": (s.container or f"aarya_{n}") + suffix})
                     for n, s in config.services.items()},
    })
