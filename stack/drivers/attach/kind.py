"""The attach driver, as a DriverKind. Not in the registry's `_PACKAGES`: the registry makes a driver from a
StackConfig alone (`make_driver(config, name)`), and an attach driver cannot exist without a target profile
(its components, stores, edges and compose project). `create` therefore takes the profile as a keyword and
refuses without one; the registry would need a `profile=` it passes on (from `--target`), and a dead run
would need its profile path from run.json, which `stop_dead_stack` reads here."""

from __future__ import annotations

from typing import Any

from aarya_chaos.errors import ConfigError
from stack.config import StackConfig
from stack.drivers.base import DriverKind, StackDriver
from stack.drivers.common import read_run_state
from stack.drivers.docker.engine import docker_client, engine_reason
from stack.runs import run_id_for
from stack.target.load import load_profile
from stack.target.profile import TargetProfile

from .cleanup import left_over
from .driver import DRIVER_NAME, AttachDriver
from .engine_listing import listing, remove_run_objects


def create(config: StackConfig, *, profile: TargetProfile | None = None, fresh: bool = False,
           install: bool = True, **options: Any) -> StackDriver:
    """An AttachDriver on `config.run_dir` for `profile` (required); `fresh` and `install` do not apply."""
    if profile is None:
        raise ConfigError("the attach driver needs a target profile (profile=...): it attaches to the platform "
                          "the profile describes")
    return _conforms(AttachDriver(profile, config.run_dir, **options))


def stop_dead_stack(config: StackConfig) -> list[str]:
    """Detach a dead owner's run (its profile path and project are in run.json), else remove what carries
    its label; nothing of the team's is removed either way."""
    reason = engine_reason()
    run_id = run_id_for(config.run_dir)
    if reason is not None:
        return [f"attach: {reason}; run {run_id} was not checked"]
    state = read_run_state(config.run_dir / "run.json") or {}
    if state.get("driver") == DRIVER_NAME and state.get("profile"):
        driver = AttachDriver(load_profile(str(state["profile"])), config.run_dir, project=state.get("project"),
                              suite_starts_platform=bool(state.get("suite_starts_platform")))
        driver.stop()
        return [f"attach: detached run {run_id} from project {state.get('project')}"]
    removed = remove_run_objects(docker_client(), run_id)
    return [f"attach: removed {', '.join(removed.lines()) or 'nothing'} of run {run_id}"]


def leftovers_of_run(run_id: str) -> list[str]:
    if engine_reason() is not None:
        return []
    return left_over(listing(docker_client(), run_id), run_id)


def _conforms(driver: AttachDriver) -> StackDriver:
    return driver  # mypy checks here that the driver has every capability with the protocol's signatures


KIND = DriverKind(DRIVER_NAME, create, stop_dead_stack, leftovers_of_run)
