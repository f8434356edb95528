"""The attach driver, as a DriverKind: in the registry's `_PACKAGES` and `TARGET_DRIVERS`. An attach driver
cannot exist without a target profile (its components, stores, edges and compose project): `create` takes it
as `profile=` (from `--target`), and without one adopts the run recorded in the run dir, whose run.json names
its profile file, project and Toxiproxy API port (so `aarya-chaos status`, `down` and `heal` find a run that
`up --target` or pytest started, and `stop_dead_stack` detaches a dead owner's run the same way)."""

from __future__ import annotations

import logging
from typing import Any

from aarya_chaos.errors import ChaosError, ConfigError
from stack.config import StackConfig
from stack.drivers.base import DriverKind, StackDriver
from stack.drivers.common import read_run_state
from stack.drivers.docker.engine import docker_client, engine_reason
from stack.runs import run_id_for
from stack.target.load import load_profile
from stack.target.profile import TargetProfile
from stack.target.stack_config import DEFAULT_TOXIPROXY_PORT

from .cleanup import left_over
from .driver import DRIVER_NAME, AttachDriver
from .engine_listing import listing, remove_run_objects

log = logging.getLogger("aarya.attach")


def create(config: StackConfig, *, profile: TargetProfile | None = None, fresh: bool = False,
           install: bool = True, **options: Any) -> StackDriver:
    """An AttachDriver on `config.run_dir` for `profile`, its Toxiproxy API on `config.toxiproxy.port` (unless
    `api_port=` says otherwise); without a profile, for the run recorded in the run dir (ConfigError when
    there is none). `fresh` and `install` do not apply."""
    if profile is None:
        recorded = recorded_run_driver(config)
        if recorded is None:
            raise ConfigError(f"the attach driver needs a target profile (--target PROFILE): no attach run is "
                              f"recorded in {config.run_dir} to take it from")
        return _conforms(recorded)
    return _conforms(AttachDriver(profile, config.run_dir, **{"api_port": config.toxiproxy.port, **options}))


def recorded_run_driver(config: StackConfig) -> AttachDriver | None:
    """The driver of the attach run recorded in `config.run_dir`'s run.json (profile, project, API port), or
    None when run.json records no attach run with a profile. A profile that no longer loads is its
    ProfileError."""
    state = read_run_state(config.run_dir / "run.json") or {}
    if state.get("driver") != DRIVER_NAME or not state.get("profile"):
        return None
    return AttachDriver(load_profile(str(state["profile"])), config.run_dir, project=state.get("project"),
                        api_port=int(state.get("api_port") or DEFAULT_TOXIPROXY_PORT),
                        suite_starts_platform=bool(state.get("suite_starts_platform")))


def stop_dead_stack(config: StackConfig) -> list[str]:
    """Detach a dead owner's run (its profile path and project are in run.json), else remove what carries
    its label; nothing of the team's is removed either way."""
    reason = engine_reason()
    run_id = run_id_for(config.run_dir)
    if reason is not None:
        return [f"attach: {reason}; run {run_id} was not checked"]
    try:
        driver = recorded_run_driver(config)
    except ChaosError as exc:  # its profile moved or no longer loads: what carries the label still goes
        driver = None
        log.warning("run %s: cannot detach by its profile (%s)", run_id, str(exc).splitlines()[0])
    if driver is not None:
        driver.stop()
        return [f"attach: detached run {run_id} from project {driver.project}"]
    removed = remove_run_objects(docker_client(), run_id)
    return [f"attach: removed {', '.join(removed.lines()) or 'nothing'} of run {run_id}"]


def leftovers_of_run(run_id: str) -> list[str]:
    if engine_reason() is not None:
        return []
    return left_over(listing(docker_client(), run_id), run_id)


def _conforms(driver: AttachDriver) -> StackDriver:
    return driver  # mypy checks here that the driver has every capability with the protocol's signatures


KIND = DriverKind(DRIVER_NAME, create, stop_dead_stack, leftovers_of_run, owns_stack_ports=False)
