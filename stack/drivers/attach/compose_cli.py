"""The `docker compose` command lines of an attached run, built and not run (the live driver runs them).

Every command names the team's own file first, so compose resolves the team's relative paths as the team
does, and the team's project (`-p`, when the profile gives one; else compose derives it as for the team).

    attach   up -d --no-deps --wait aarya-toxiproxy          the proxy first, healthy, its proxies loaded
             up -d --no-deps <rewired services>              recreated: their edge variables changed
    detach   up -d --no-deps <rewired services>  (team file only)   recreated again, with the team's values
             rm -s -f aarya-toxiproxy                        the one container the run added

"Starts nothing it was not told to start": `--no-deps` keeps compose from starting (or recreating) the
services the rewired ones depend on, and only the services whose environment the override changes are
named. Those must be recreated, a short restart of each, since a container's environment is fixed when it
is created. The proxy goes up before them, in its own command: with `--no-deps` compose would not wait for
its health, and a client started first would find no proxy behind its new address.

Only when the suite itself starts the team's platform (`suite_starts_platform`, which the profile does not
say yet: the caller passes it) is the whole stack brought up, with the override, and stopped at the end;
stopped, never removed. No command here passes `down`, `-v`, `--volumes`, `--rmi` or `--remove-orphans`:
the team's containers, networks and volumes are not the run's to remove.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .labels import TOXIPROXY_SERVICE

Argv = list[str]


@dataclass(frozen=True)
class ComposeTarget:
    """The team's compose file and project, and where the run's override is written."""

    team_file: Path
    override_file: Path
    project: str | None = None
    docker: str = "docker"


def compose_argv(target: ComposeTarget, *, with_override: bool = True) -> Argv:
    """`docker compose -f <team file> [-f <override>] [-p <project>]`: the start of every command."""
    argv = [target.docker, "compose", "-f", str(target.team_file)]
    if with_override:
        argv += ["-f", str(target.override_file)]
    if target.project is not None:
        argv += ["-p", target.project]
    return argv


def up_proxy_argv(target: ComposeTarget) -> Argv:
    return compose_argv(target) + ["up", "-d", "--no-deps", "--wait", TOXIPROXY_SERVICE]


def rewire_argv(target: ComposeTarget, services: Sequence[str]) -> Argv:
    """Recreate `services` with the override: their edge variables now point at the proxy."""
    return compose_argv(target) + ["up", "-d", "--no-deps", *_names(services)]


def restore_argv(target: ComposeTarget, services: Sequence[str]) -> Argv:
    """Recreate `services` from the team's file alone: their own values again. Compose notes the proxy's
    container as an orphan of this model; that is expected, and it is removed next by `rm_proxy_argv`."""
    return compose_argv(target, with_override=False) + ["up", "-d", "--no-deps", *_names(services)]


def rm_proxy_argv(target: ComposeTarget) -> Argv:
    """Stop and remove the proxy's container, only it (it has no volume to remove)."""
    return compose_argv(target) + ["rm", "-s", "-f", TOXIPROXY_SERVICE]


def up_platform_argv(target: ComposeTarget) -> Argv:
    """The whole team stack with the override, for a platform the suite starts itself."""
    return compose_argv(target) + ["up", "-d", "--wait"]


def stop_platform_argv(target: ComposeTarget) -> Argv:
    """Stop (not remove) the team's stack the suite started: its containers and volumes stay as they are."""
    return compose_argv(target, with_override=False) + ["stop"]


def attach_commands(target: ComposeTarget, rewired: Sequence[str], *, suite_starts_platform: bool) -> list[Argv]:
    """The commands that put the proxy in the edges' paths, in order."""
    if suite_starts_platform:
        return [up_platform_argv(target)]
    commands = [up_proxy_argv(target)]
    if rewired:
        commands.append(rewire_argv(target, rewired))
    return commands


def detach_commands(target: ComposeTarget, rewired: Sequence[str], *, suite_starts_platform: bool) -> list[Argv]:
    """The commands that take the proxy out again, in order: the clients back on their own addresses before
    the proxy goes, so none dials an address that no longer resolves."""
    commands = [restore_argv(target, rewired)] if rewired else []
    commands.append(rm_proxy_argv(target))
    if suite_starts_platform:
        commands.append(stop_platform_argv(target))
    return commands


def _names(services: Sequence[str]) -> list[str]:
    names = sorted(set(services))
    if TOXIPROXY_SERVICE in names:
        raise ValueError(f"{TOXIPROXY_SERVICE} is the proxy, not a rewired service of the team")
    return names
