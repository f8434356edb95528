"""The docker driver, as the registry knows it."""

from __future__ import annotations

from stack.config import StackConfig
from stack.drivers.base import DriverKind
from stack.runs import run_id_for

from .cleanup import leftovers, remove_labelled
from .driver import DockerDriver
from .engine import engine_reason


def stop_dead_stack(config: StackConfig) -> list[str]:
    """Remove the containers and networks labelled with the dead run's id (volumes stay: they are the data)."""
    reason = engine_reason()
    run_id = run_id_for(config.run_dir)
    if reason is not None:
        return [f"docker: {reason}; the containers of run {run_id} were not checked"]
    removed = remove_labelled(run_id, volumes=False)
    state = config.run_dir / "run.json"
    if state.exists():
        state.unlink()
    return [f"docker: removed {removed.describe()} (volumes kept: they hold the data)"]


def leftovers_of_run(run_id: str) -> list[str]:
    found = leftovers(run_id)
    return [f"container {c}" for c in found.containers] + [f"network {n}" for n in found.networks]


KIND = DriverKind("docker", DockerDriver, stop_dead_stack, leftovers_of_run)
