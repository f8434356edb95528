"""The local driver, as the registry knows it."""

from __future__ import annotations

import psutil

from aarya_chaos.errors import ChaosError
from stack.config import StackConfig
from stack.drivers.base import DriverKind
from stack.drivers.common import read_run_state
from stack.reaper import resume

from .driver import LocalDriver


def stop_dead_stack(config: StackConfig) -> list[str]:
    """Stop the processes of a stack whose owner died (paused ones resumed first: they ignore SIGTERM)."""
    if read_run_state(config.run_dir / "run.json") is None:
        return [f"stack: no run.json in {config.run_dir}"]
    try:
        driver = LocalDriver(config, install=False)
    except ChaosError as exc:
        return [f"stack: cannot stop it ({exc})"]
    driver.attach()
    resume([psutil.Process(s.pid) for s in driver.status() if s.pid is not None and psutil.pid_exists(s.pid)])
    running = [s.name for s in driver.status() if s.running]
    driver.stop()
    return [f"stack: stopped {', '.join(running) or 'nothing (none running)'}"]


def leftovers_of_run(run_id: str) -> list[str]:
    """Nothing of its own: a local run's processes, ports, cgroups and mounts are what every run is checked for."""
    return []


KIND = DriverKind("local", LocalDriver, stop_dead_stack, leftovers_of_run)
