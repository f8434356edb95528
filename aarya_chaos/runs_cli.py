"""`aarya-chaos runs`, `down` and `heal`: the runs on this machine, and clearing the ones whose owner died.

    aarya-chaos runs                 every run recorded on this machine: living, or dead with what it left
    aarya-chaos down [--run DIR]     stop the stack started by `up`, and clear every run whose owner died
    aarya-chaos heal [--run DIR]     undo the faults of every run whose owner died and of the configured stack

Without --run, `down` and `heal` act on every dead run of the registry (stack/runs.py) and on the configured
run directory; with it, on that run only. They say, run by run, what they found and what they did.

With `aarya-chaos --target PROFILE`, the configured run is the attach driver's on the team's platform (made
from the profile). A run of a target driver (attach: the run registers itself, its run.json names its
profile) is healed by its driver alone: the team's Redis configuration and the reference gateway's
deny-list are not the run's, and the driver touches only what carries the run's label.
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from aarya_chaos.errors import ChaosError
from stack import runs
from stack.config import StackConfig
from stack.drivers.base import StackDriver
from stack.runs import RunEntry
from stack.target.profile import TargetProfile

console = Console(stderr=False, soft_wrap=True)  # a line per thing done, never wrapped
err = Console(stderr=True, soft_wrap=True)
DOWN_TIMEOUT_S = 90.0


def add_run_commands(sub: Any) -> None:
    sub.add_parser("runs", help="list the runs on this machine, living and dead")
    down = sub.add_parser("down", help="stop the stack started by `up`, and clear every run whose owner died")
    down.add_argument("--run", type=Path, metavar="DIR", help="only the run in this run directory")
    heal = sub.add_parser("heal", help="undo the faults left by every run whose owner died, and of the "
                                       "configured stack")
    heal.add_argument("--run", type=Path, metavar="DIR", help="only the run in this run directory")


def cmd_runs(config: StackConfig, args: argparse.Namespace) -> int:
    """One line per run, never cut short (a CI log is read with grep): state, kind, driver, owner, start,
    run dir, gateway."""
    found = runs.entries()
    bad = runs.unreadable()
    if not found and not bad:
        console.print(f"no runs recorded in {runs.runs_dir()}", markup=False, highlight=False)
        return 0
    for entry in found:
        state = "running" if entry.alive() else "dead   "
        started = datetime.fromtimestamp(entry.started).strftime("%Y-%m-%d %H:%M:%S")
        console.print(f"{state}  {entry.kind:11} {entry.driver:6} pid {entry.owner.pid:<7} {started}  {entry.run_dir}  "
                      f"{entry.config.gateway_url}", markup=False, highlight=False)
    if any(not e.alive() for e in found):
        console.print("dead runs: `aarya-chaos down` clears them (`--run DIR` one of them)", markup=False,
                      highlight=False)
    for line in bad:
        err.print(f"unreadable, left in place: {line}", markup=False, highlight=False)
    return 0


def cmd_down(config: StackConfig, args: argparse.Namespace) -> int:
    from stack.reaper import reap_dead_runs

    profile: TargetProfile | None = args.target_profile
    if args.run is not None:
        return _down_one(config.model_copy(update={"run_dir": args.run.resolve()}), args.stack, profile)
    code, said = 0, False
    owner = _living_owner(config, args.stack, profile)
    if owner is not None:
        code, said = _stop_owner(owner, f"the stack in {config.run_dir}"), True
    for report in reap_dead_runs():
        console.print(report.describe(), markup=False, highlight=False)
        said = True
    if owner is None and (line := _stop_unregistered(config, args.stack, profile)) is not None:
        console.print(line, markup=False, highlight=False)
        said = True
    if not said:
        console.print(f"nothing to stop: no living stack in {config.run_dir} and no run whose owner died "
                      f"(registry: {runs.runs_dir()})")
    return code


def _down_one(config: StackConfig, kind: str | None, profile: TargetProfile | None) -> int:
    from stack.reaper import reap

    entry = runs.find(config.run_dir)
    if entry is not None and not entry.alive():
        console.print(reap(entry).describe(), markup=False, highlight=False)
        return 0
    owner = _living_owner(config, kind, profile)
    if owner is not None:
        return _stop_owner(owner, f"the stack in {config.run_dir}")
    line = _stop_unregistered(config, kind, profile)
    console.print(line or f"no stack recorded in {config.run_dir}; nothing to stop", markup=False, highlight=False)
    return 0


def cmd_heal(config: StackConfig, args: argparse.Namespace) -> int:
    from fixtures.leftovers import heal_orphans

    profile: TargetProfile | None = args.target_profile
    if args.run is not None:
        run_dir = args.run.resolve()
        entry = runs.find(run_dir)
        target = entry.config if entry is not None else config.model_copy(update={"run_dir": run_dir})
        _print_run(entry, target, _heal(target, entry.driver if entry is not None else args.stack, profile))
        return 0
    everything = runs.entries()
    targets = [e for e in everything if not e.alive()]
    if not any(e.run_id == runs.run_id_for(config.run_dir) for e in targets):
        own = runs.find(config.run_dir)
        _print_run(own, config, _heal(config, own.driver if own is not None else args.stack, profile))
    for entry in targets:
        _print_run(entry, entry.config, _heal(entry.config, entry.driver, None))
    orphans = heal_orphans([e for e in everything if e.alive()])
    if orphans:
        console.print("what no living run owns:")
        for line in orphans:
            console.print(f"  - {line}", markup=False, highlight=False)
    return 0


def _heal(config: StackConfig, kind: str | None, profile: TargetProfile | None) -> list[str]:
    """One run's leftovers cleared, a line per thing. A target driver's run (`profile`, else the one its
    run.json names) by its driver alone; one that cannot be made (its profile gone) is a line saying why."""
    from fixtures.leftovers import heal_leftovers
    from stack.drivers.registry import TARGET_DRIVERS, driver_name

    name = driver_name(config, kind)
    if name not in TARGET_DRIVERS:
        return heal_leftovers(config, name)
    try:
        return _make_driver(config, name, profile).heal_leftovers()
    except ChaosError as exc:
        return [f"{name}: not healed: {str(exc).splitlines()[0]}"]


def _print_run(entry: RunEntry | None, config: StackConfig, lines: list[str]) -> None:
    if entry is None:
        head = f"the stack in {config.run_dir}"
    else:
        state = "running" if entry.alive() else "dead"
        head = f"{entry.kind} run in {entry.run_dir} ({entry.driver}; owner pid {entry.owner.pid}, {state})"
    console.print(head, markup=False, highlight=False)
    for line in lines:
        console.print(f"  - {line}", markup=False, highlight=False)


def _living_owner(config: StackConfig, kind: str | None, profile: TargetProfile | None) -> int | None:
    """The living process that owns the run dir: by the registry, else by its run.json (a stack from
    before the registry)."""
    entry = runs.find(config.run_dir)
    if entry is not None and entry.alive():
        return entry.owner.pid
    return _make_driver(config, kind, profile).owner_pid()


def _make_driver(config: StackConfig, kind: str | None, profile: TargetProfile | None) -> StackDriver:
    """The driver of `config`'s run, made to look, not to start; a target driver from `profile` (None: from
    the profile its run.json names)."""
    from stack.drivers.registry import make_driver

    return make_driver(config, kind, install=False, profile=profile)


def _stop_owner(owner: int, what: str) -> int:
    """SIGTERM to the process that owns a run (it stops its stack itself), and wait until it is gone."""
    os.kill(owner, signal.SIGTERM)
    deadline = time.monotonic() + DOWN_TIMEOUT_S
    while _alive(owner) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(owner):
        err.print(f"[red]the owner of {what} (pid {owner}) did not stop within {DOWN_TIMEOUT_S:.0f}s[/red]")
        return 1
    console.print(f"stopped {what}, run by pid {owner}")
    return 0


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _stop_unregistered(config: StackConfig, kind: str | None, profile: TargetProfile | None) -> str | None:
    """Stop a dead stack recorded only in its run dir's run.json (from before the registry); None when
    there is none."""
    from stack.drivers.registry import driver_kind, driver_name

    driver = _make_driver(config, kind, profile)
    if driver.attach() is None:
        if not driver_kind(driver_name(config, kind)).leftovers_of_run(runs.run_id_for(config.run_dir)):
            return None
        driver.stop()  # docker: a run that crashed before it recorded itself has containers
        return f"no stack recorded in {config.run_dir}; removed anything labelled with its run id"
    driver.stop()
    return f"the stack in {config.run_dir}: stopped the processes of a run whose owner had died"
