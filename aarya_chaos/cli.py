"""The `aarya-chaos` command line.

    aarya-chaos install            find or install PostgreSQL 15, Redis, nginx and the Toxiproxy server
    aarya-chaos up [--fresh]       start the stack, print its endpoints, stay up until Ctrl-C or `down`
    aarya-chaos down [--run DIR]   stop the stack started by `up`, and clear every run whose owner died
    aarya-chaos runs               every run recorded on this machine (stack/runs.py), living and dead
    aarya-chaos status             each component: pid, running, ready
    aarya-chaos logs COMPONENT     the end of a component's log
    aarya-chaos gate               exit non-zero when a scenario missed a target or a control did not bite
    aarya-chaos runbook-check MD   check a runbook's SQL, redis-cli, grep and curl commands
    aarya-chaos gameday SCENARIO   run one scenario step by step for the people in the room
    aarya-chaos bite               mutation-test the suite: run the scenarios against sabotaged stacks, print
                                   which regressions they kill
    aarya-chaos heal [--run DIR]   undo the faults crashed runs left behind (toxics, paused processes,
                                   cgroups, mounts; on docker: paused or disconnected containers, memory
                                   limits, and the containers of a run whose owner died)

    --stack local|docker picks the driver; without it `down`, `status`, `logs` and `heal` use the one
    recorded in the run dir (run.json), and `up` starts the local one.

    --target PROFILE points `up`, `status`, `logs`, `down`, `heal`, `runbook-check` and `gameday` at a team's
    own compose platform (docs/attach-driver.md, docs/target-profiles.md): the stack's configuration comes
    from the profile, and the driver is the attach driver (`--stack attach`, the default with --target).
    `up --target` runs the profile's read-only preflight, then attaches (Toxiproxy on the edges), stays up
    until Ctrl-C or `down`, and detaches; `down` and `heal` touch only what carries the run's label. A
    profile that does not load is one error naming its file, line and key (exit 2); `--stack attach`
    without --target, or --target with `--stack local|docker`, is a usage error (exit 2).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aarya_chaos.bite import add_bite_command, cmd_bite
from aarya_chaos.errors import ChaosError, ConfigError
from aarya_chaos.new_scenario import add_new_scenario_command, cmd_new_scenario
from stack.drivers.base import StackDriver
from stack.drivers.registry import DRIVERS, TARGET_DRIVERS
from aarya_chaos.runs_cli import add_run_commands, cmd_down, cmd_heal, cmd_runs
from aarya_chaos.target_cli import add_target_command, cmd_target
from reports.gate import add_gate_command, cmd_gate
from stack import runs
from stack.config import StackConfig, load_config
from stack.target.profile import TargetProfile

console = Console(stderr=False)
err = Console(stderr=True)


class _Terminate(BaseException):
    """SIGTERM, turned into an exception so `up` tears down like on Ctrl-C."""


#: The commands --target applies to: the ones that drive a stack (runs, gate, bite... read or start none).
TARGET_COMMANDS = ("up", "status", "logs", "down", "heal", "runbook-check", "gameday")


def _driver(config: StackConfig, kind: str | None, *, fresh: bool = False, install: bool = True,
            profile: TargetProfile | None = None, start_platform: bool = False) -> StackDriver:
    """The driver named by --stack; without it, the one that recorded the stack in the run dir, else local.
    With a target profile, the target driver made from it (`start_platform`: it starts the team's compose
    project itself, and stops it again on `down`)."""
    from stack.drivers.registry import make_driver

    return make_driver(config, kind, fresh=fresh, install=install, profile=profile, start_platform=start_platform)


def check_target_usage(command: str, stack: str | None, target: Path | None) -> None:
    """ConfigError (one line) when --stack and --target do not go together, or --target does not apply."""
    if target is None:
        if stack in TARGET_DRIVERS:
            raise ConfigError(f"--stack {stack} attaches to the platform a target profile describes: "
                              "give --target PROFILE")
        return
    if stack is not None and stack not in TARGET_DRIVERS:
        raise ConfigError(f"--target {target}: --stack {stack} starts the reference stack itself and takes no "
                          f"target profile; use --stack {' or '.join(TARGET_DRIVERS)} (the default with --target)")
    if command not in TARGET_COMMANDS:
        raise ConfigError(f"--target applies to {', '.join(TARGET_COMMANDS)}; `{command}` takes none")


def target_config(config: StackConfig, stack: str | None,
                  target: Path | None) -> tuple[StackConfig, str | None, TargetProfile | None]:
    """The stack config, driver name and profile a command runs with: with --target, the profile loaded
    (ProfileError naming its file, line and key), its platform as the StackConfig in the configured run
    dir with Toxiproxy's API on the configured port, and the target driver (--stack's, else the first of
    TARGET_DRIVERS); without, `config` and `stack`."""
    from stack.target.load import load_profile
    from stack.target.stack_config import stack_config_of

    if target is None:
        return config, stack, None
    profile = load_profile(target)
    mapped = stack_config_of(profile, config.run_dir, toxiproxy_port=config.toxiproxy.port)
    return mapped, stack or TARGET_DRIVERS[0], profile


def cmd_install(config: StackConfig, args: argparse.Namespace) -> int:
    from stack.binaries import find_binaries
    from stack.observability_tools import find_tool

    binaries = find_binaries(config.tools_dir, install=True)
    for field, value in vars(binaries).items():
        console.print(f"{field:14} {value}")
    try:  # the CI templates' linter (tests/integration/test_ci_templates.py); the suite runs without it
        console.print(f"{'actionlint':14} {find_tool('actionlint', config.tools_dir, install=True)}")
    except ChaosError as exc:
        console.print(f"{'actionlint':14} not built, the CI template lint tests will skip: "
                      f"{str(exc).splitlines()[0]}", markup=False)
    return 0


def cmd_up(config: StackConfig, args: argparse.Namespace) -> int:
    from stack.target.preflight import require_platform_matches

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise _Terminate()

    profile: TargetProfile | None = args.target_profile
    if profile is not None:
        if args.fresh:
            raise ConfigError("--fresh wipes the run directory of a stack the suite starts; with --target "
                              "nothing of the team's is wiped: leave --fresh out")
        # before anything is touched; a platform the suite starts: only its compose file until it runs
        require_platform_matches(profile, containers=True, before_start=True, platform_started=not args.start_platform)
    elif args.start_platform:
        raise ConfigError("--start-platform starts a team's compose project: give --target PROFILE")
    signal.signal(signal.SIGTERM, terminate)
    runs.set_kind("up")
    driver = _driver(config, args.stack, fresh=args.fresh, profile=profile, start_platform=args.start_platform)
    started = time.monotonic()
    with console.status(_starting(profile)):
        driver.start()
        if profile is not None and args.start_platform:
            try:  # started by the suite: what could not be checked before is checked now
                require_platform_matches(profile, containers=True)
            except ConfigError:
                driver.stop()
                raise
    console.print(f"[green]stack ready[/green] in {time.monotonic() - started:.1f}s (run dir {config.run_dir})")
    _print_endpoints(driver.endpoints())
    if args.detach_check:
        driver.stop()
        return 0
    console.print("Ctrl-C or `aarya-chaos down` stops it.")
    try:
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, _Terminate):
        console.print("stopping...")
    finally:
        driver.stop()
        console.print(_stopped(profile))
    return 0


def _starting(profile: TargetProfile | None) -> str:
    if profile is None:
        return "starting the stack (PostgreSQL, Redis, Toxiproxy, services, gateway)..."
    return f"attaching to {profile.name} (Toxiproxy on its edges, the edges' clients recreated)..."


def _stopped(profile: TargetProfile | None) -> str:
    if profile is None:
        return "stopped; nothing left running"
    return (f"detached from {profile.name}: its clients recreated with their own addresses, the proxy removed "
            "(a step that failed is logged above; `heal` tries it again)")


def _print_endpoints(endpoints: Mapping[str, str]) -> None:
    table = Table("component", "endpoint")
    for name, endpoint in endpoints.items():
        table.add_row(name, endpoint)
    console.print(table)


def cmd_status(config: StackConfig, args: argparse.Namespace) -> int:
    driver = _driver(config, args.stack, install=False, profile=args.target_profile)
    state = driver.attach()
    if state is None:
        console.print(f"no stack recorded in {config.run_dir}")
        if args.target_profile is None:
            return 3
        console.print(f"{args.target_profile.name}'s components, not attached:")  # the team's platform runs on its own
    statuses = driver.status(probe=True)
    table = Table("component", "running", "pid", "ready", "endpoint", "detail")
    for status in statuses:
        ready = {True: "[green]yes[/green]", False: "[red]no[/red]", None: "-"}[status.ready]
        running = "[green]yes[/green]" if status.running else "[red]no[/red]"
        table.add_row(status.name, running, str(status.pid or "-"), ready, status.endpoint, status.detail)
    console.print(table)
    if state is None:
        return 3
    owner = driver.owner_pid()
    console.print(f"owner: pid {owner}" if owner else "[yellow]owner process is gone (crashed run?)[/yellow]")
    return 0 if all(s.running and s.ready for s in statuses) else 1


def cmd_logs(config: StackConfig, args: argparse.Namespace) -> int:
    driver = _driver(config, args.stack, install=False, profile=args.target_profile)
    console.print(driver.logs(args.component, args.lines), markup=False, highlight=False)
    return 0


def cmd_runbook_check(config: StackConfig, args: argparse.Namespace) -> int:
    from aarya_chaos import runbook_check

    # the global --stack also picks the driver whose stack runbook-check --live adopts
    return runbook_check.main(_passthrough(args, {"--config": args.config, "--stack": args.stack,
                                                  "--target": args.target}))


def cmd_gameday(config: StackConfig, args: argparse.Namespace) -> int:
    from aarya_chaos import gameday

    # with --target, the game day's pytest runs `--stack attach --target PROFILE`
    return gameday.main(_passthrough(args, {"--config": args.config, "--target": args.target}))


def _passthrough(args: argparse.Namespace, forwarded: Mapping[str, object]) -> list[str]:
    """The subcommand's own arguments; each global option in `forwarded` that was given goes along unless the
    subcommand's arguments have their own."""
    rest: list[str] = list(args.rest)
    own = rest[:rest.index("--")] if "--" in rest else rest
    for option, value in forwarded.items():
        if value is not None and not any(a == option or a.startswith(f"{option}=") for a in own):
            rest = [option, str(value), *rest]
    return rest


PASSTHROUGH = ("runbook-check", "gameday")

COMMANDS: dict[str, Callable[[StackConfig, argparse.Namespace], int]] = {
    "install": cmd_install, "up": cmd_up, "down": cmd_down, "status": cmd_status, "logs": cmd_logs,
    "heal": cmd_heal, "runs": cmd_runs, "runbook-check": cmd_runbook_check, "gameday": cmd_gameday,
    "bite": cmd_bite, "new-scenario": cmd_new_scenario,
    "target": cmd_target,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aarya-chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="TOML config (default: $AARYA_CONFIG or ./aarya-chaos.toml)")
    parser.add_argument("--stack", choices=DRIVERS, default=None,
                        help="stack driver (default: the one that started the stack in the run dir, else local; "
                             "with --target, attach)")
    parser.add_argument("--target", type=Path, default=None, metavar="PROFILE",
                        help="a target profile (TOML, docs/target-profiles.md): drive the team's platform it "
                             f"describes ({', '.join(TARGET_COMMANDS)})")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="find or install the server binaries")
    up = sub.add_parser("up", help="start the stack and stay up")
    up.add_argument("--fresh", action="store_true", help="wipe the run directory first (new database)")
    up.add_argument("--start-platform", action="store_true",
                    help="with --target: start the team's compose project (`compose up`), and stop it (never "
                         "remove it) on `down`; without it, the platform must be running already")
    up.add_argument("--detach-check", action="store_true", help=argparse.SUPPRESS)
    sub.add_parser("status", help="show each component")
    logs = sub.add_parser("logs", help="show the end of a component's log")
    logs.add_argument("component")
    logs.add_argument("-n", "--lines", type=int, default=60)
    add_run_commands(sub)
    add_gate_command(sub)
    add_bite_command(sub)
    add_new_scenario_command(sub)
    add_target_command(sub)
    for name, text in (("runbook-check", "check a runbook's commands against the live stack"),
                       ("gameday", "run one scenario for the people in the room")):
        sub.add_parser(name, help=text, add_help=False).add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args, unknown = build_parser().parse_known_args(argv)
    if unknown and args.command not in PASSTHROUGH:
        build_parser().error(f"unrecognized arguments: {' '.join(unknown)}")
    if unknown:
        args.rest = unknown + list(args.rest)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        check_target_usage(args.command, args.stack, args.target)
    except ChaosError as exc:
        return _error(exc)
    if args.command == "gate":  # reads only a summary: a broken stack config must not break the gate
        return cmd_gate(None, args)
    try:
        config, args.stack, args.target_profile = target_config(load_config(args.config), args.stack, args.target)
        return COMMANDS[args.command](config, args)
    except ChaosError as exc:
        return _error(exc)
    except KeyboardInterrupt:
        err.print("interrupted; everything that had started was stopped")
        return 130


def _error(exc: ChaosError) -> int:
    err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)  # one line, unwrapped
    return 2


if __name__ == "__main__":
    sys.exit(main())
