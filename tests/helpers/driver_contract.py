"""The contract every stack driver keeps, as checks over a started driver (tests/integration/test_driver_contract.py
runs them on the fake, the local and the docker driver). Each check leaves the stack as it found it."""

from __future__ import annotations

import os
import signal

import pytest

from aarya_chaos.errors import ConfigError
from stack.drivers.base import Capability, StackDriver
from stack.waits import wait_until

COMPONENT = "payment"  # a service no other component needs to start or stay ready
WAIT_S = 30.0


def running(driver: StackDriver, name: str) -> bool:
    return {s.name: s.running for s in driver.status()}[name]


def names_endpoints_and_status_agree(driver: StackDriver) -> None:
    names = driver.component_names()
    assert COMPONENT in names and "postgres" in names and "redis" in names and "api_gateway" in names
    assert set(names) <= set(driver.endpoints())
    statuses = driver.status()
    assert [s.name for s in statuses] == names
    assert all(s.running and s.pid is not None for s in statuses), statuses


def the_run_is_recorded_and_owned_by_us(driver: StackDriver) -> None:
    assert driver.attach() is not None
    assert driver.owner_pid() == os.getpid()


def an_unknown_component_is_a_config_error(driver: StackDriver) -> None:
    for call in (lambda: driver.kill("no_such_component", signal.SIGKILL), lambda: driver.pause("no_such_component"),
                 lambda: driver.logs("no_such_component")):
        with pytest.raises(ConfigError, match="no_such_component"):
            call()


def a_killed_component_exits_and_restarts(driver: StackDriver) -> None:
    since = len(driver.events())
    driver.kill(COMPONENT, signal.SIGKILL)
    wait_until(COMPONENT, "exit after SIGKILL", lambda: not running(driver, COMPONENT), timeout_s=WAIT_S)
    wait_until(COMPONENT, "an exit event", lambda: any(
        e.component == COMPONENT and e.kind == "exited" for e in driver.events()[since:]), timeout_s=WAIT_S)
    driver.restart(COMPONENT)
    driver.wait_ready(COMPONENT, timeout_s=WAIT_S)
    assert running(driver, COMPONENT)
    wait_until(COMPONENT, "a start event", lambda: any(
        e.component == COMPONENT and e.kind == "started" for e in driver.events()[since:]), timeout_s=WAIT_S)


def a_paused_component_says_so_until_resumed(driver: StackDriver) -> None:
    assert driver.pause_state(COMPONENT) is None
    driver.pause(COMPONENT)
    try:
        wait_until(COMPONENT, "paused", lambda: driver.pause_state(COMPONENT) is not None, timeout_s=WAIT_S)
    finally:
        driver.resume(COMPONENT)
    wait_until(COMPONENT, "resumed", lambda: driver.pause_state(COMPONENT) is None, timeout_s=WAIT_S)


def the_stores_answer_their_own_probes(driver: StackDriver) -> None:
    assert driver.pg_isready()[0] == 0
    code, out = driver.redis_cli("PING")
    assert code == 0 and "PONG" in out
    assert driver.admin_conninfo("postgres")


def exec_runs_where_the_component_runs(driver: StackDriver) -> None:
    assert driver.exec(COMPONENT, ["true"])[0] == 0
    assert driver.exec(COMPONENT, ["false"])[0] != 0


def files_are_absolute_paths_of_this_run(driver: StackDriver) -> None:
    pg = driver.postgres_files()
    gateway = driver.gateway_files()
    for path in (pg.pgdata, pg.wal_archive, pg.backups, gateway.access_log, gateway.deny_file):
        assert path.is_absolute(), path
    assert gateway.deny_file.is_relative_to(driver.config.run_dir)
    assert pg.pgdata_in_component.is_absolute()


def capabilities_say_yes_or_why_not(driver: StackDriver) -> None:
    for capability in Capability:
        reason = driver.unsupported(capability)
        assert reason is None or reason.strip(), capability
    assert driver.scaling_note().strip()


CONTRACT = [names_endpoints_and_status_agree, the_run_is_recorded_and_owned_by_us,
            an_unknown_component_is_a_config_error, a_killed_component_exits_and_restarts,
            a_paused_component_says_so_until_resumed, the_stores_answer_their_own_probes,
            exec_runs_where_the_component_runs, files_are_absolute_paths_of_this_run,
            capabilities_say_yes_or_why_not]
