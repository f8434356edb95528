"""Stack drivers: `local` (processes on loopback) and `docker` (docker-compose.test.yml), one interface.

    driver = make_driver(config, "docker")          # or "local"
    kind = recorded_driver(config)                  # which driver started the stack in config.run_dir
"""

from __future__ import annotations

from typing import Any

from aarya_chaos.errors import ConfigError
from stack.config import StackConfig
from stack.drivers.common import read_run_state

DRIVERS = ("local", "docker")


def recorded_driver(config: StackConfig) -> str | None:
    """The driver that recorded a stack in `<run_dir>/run.json` (docker writes its name; local does not)."""
    state = read_run_state(config.run_dir / "run.json")
    return None if state is None else str(state.get("driver", "local"))


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
