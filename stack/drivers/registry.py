"""The one place a driver's name is spelled: name -> the package that implements it.

    driver = make_driver(config, "docker")          # or "local"; None: the one recorded in the run dir
    kind = recorded_driver(config)                  # which driver started the stack in config.run_dir

Adding a driver: its package under stack/drivers/ (a `KIND: DriverKind` in its `kind` module), one line in
`_PACKAGES`, and its run of the compliance test (tests/integration/test_driver_contract.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from aarya_chaos.errors import ConfigError
from stack.config import StackConfig
from stack.drivers.base import DriverKind, StackDriver
from stack.drivers.common import read_run_state

if TYPE_CHECKING:
    from stack.target.profile import TargetProfile

_PACKAGES = {
    "local": "stack.drivers.local.kind",
    "docker": "stack.drivers.docker.kind",
    "attach": "stack.drivers.attach.kind",  # a team's compose platform; make_driver(..., profile=<TargetProfile>)
}
DRIVERS = tuple(_PACKAGES)
TARGET_DRIVERS = ("attach",)  # made from a target profile (--target): make_driver(config, name, profile=...)
DEFAULT_DRIVER = DRIVERS[0]  # also the driver of a run.json that names none (the local driver writes no name)


def driver_kind(name: str) -> DriverKind:
    """The driver package called `name` (imported on first use: docker's pulls in the docker SDK)."""
    if name not in _PACKAGES:
        raise ConfigError(f"unknown stack driver {name!r}; known: {', '.join(DRIVERS)}")
    kind: DriverKind = importlib.import_module(_PACKAGES[name]).KIND
    return kind


def recorded_driver(config: StackConfig) -> str | None:
    """The driver that recorded a stack in `<run_dir>/run.json`, or None when nothing is recorded."""
    state = read_run_state(config.run_dir / "run.json")
    return None if state is None else str(state.get("driver", DEFAULT_DRIVER))


def driver_name(config: StackConfig, name: str | None = None) -> str:
    """`name`, or the driver recorded in the run dir, or the default."""
    return name or recorded_driver(config) or DEFAULT_DRIVER


def make_driver(config: StackConfig, name: str | None = None, *, profile: TargetProfile | None = None,
                start_platform: bool = False, **options: Any) -> StackDriver:
    """The driver `name` (None: the one recorded in the run dir, else the default) for `config`. `profile`
    and `start_platform` (the target driver starts the team's compose project itself) go only to a target
    driver's `create`, and only when given (the suite's own drivers take neither)."""
    if profile is not None:
        options["profile"] = profile
    if start_platform:
        options["suite_starts_platform"] = True
    return driver_kind(driver_name(config, name)).create(config, **options)
