"""Stack drivers: `local` (processes on loopback) and `docker` (docker-compose.test.yml), one interface.

    driver = make_driver(config, "docker")          # or "local"
    kind = recorded_driver(config)                  # which driver started the stack in config.run_dir
"""

from __future__ import annotations

import json
from typing import Any

from aarya_chaos.errors import ConfigError
from stack.config import StackConfig

DRIVERS = ("local", "docker")


def recorded_driver(config: StackConfig) -> str | None:
    """The driver that recorded a stack in `<run_dir>/run.json` (docker writes its name; local does not)."""
    try:
        state = json.loads((config.run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return None
    return str(state.get("driver", "local")) if isinstance(state, dict) else None


def make_driver(config: StackConfig, kind: str | None = None, **options: Any) -> Any:
    """A LocalDriver or DockerDriver; `kind` None means the one recorded in the run dir, else local."""
    kind = kind or recorded_driver(config) or "local"
    if kind == "docker":
        from stack.drivers.docker import DockerDriver

        return DockerDriver(config, **options)
    if kind == "local":
        from stack.drivers.local import LocalDriver

        return LocalDriver(config, **options)
    raise ConfigError(f"unknown stack driver {kind!r}; known: {', '.join(DRIVERS)}")
