"""The attached run's `docker compose` command lines (stack/drivers/attach/compose_cli.py): the proxy first,
then only the rewired services, with --no-deps; the reverse on detach; nothing that removes a team's
container, network or volume. Built, never run."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.drivers.attach.compose_cli import (
    ComposeTarget,
    attach_commands,
    compose_argv,
    detach_commands,
    rewire_argv,
)

TEAM = Path("/srv/shop/docker-compose.yml")
OVERRIDE = Path("/srv/aarya-runs/shop/attach/override.yml")
TARGET = ComposeTarget(TEAM, OVERRIDE, project="shop")
WITH_OVERRIDE = ["docker", "compose", "-f", str(TEAM), "-f", str(OVERRIDE), "-p", "shop"]
TEAM_ONLY = ["docker", "compose", "-f", str(TEAM), "-p", "shop"]
FORBIDDEN = {"down", "-v", "--volumes", "--rmi", "--remove-orphans", "kill"}


def test_attach_starts_the_proxy_then_recreates_only_the_rewired_services() -> None:
    assert attach_commands(TARGET, ["web", "worker", "web"], suite_starts_platform=False) == [
        WITH_OVERRIDE + ["up", "-d", "--no-deps", "--wait", "aarya-toxiproxy"],
        WITH_OVERRIDE + ["up", "-d", "--no-deps", "web", "worker"],
    ]


def test_detach_restores_the_clients_from_the_team_file_then_removes_only_the_proxy() -> None:
    assert detach_commands(TARGET, ["web"], suite_starts_platform=False) == [
        TEAM_ONLY + ["up", "-d", "--no-deps", "web"],
        WITH_OVERRIDE + ["rm", "-s", "-f", "aarya-toxiproxy"],
    ]


def test_a_platform_the_suite_starts_is_brought_up_whole_and_only_stopped_at_the_end() -> None:
    assert attach_commands(TARGET, ["web"], suite_starts_platform=True) == [WITH_OVERRIDE + ["up", "-d", "--wait"]]
    assert detach_commands(TARGET, ["web"], suite_starts_platform=True)[-1] == TEAM_ONLY + ["stop"]


def test_no_rewired_service_means_only_the_proxy() -> None:
    assert attach_commands(TARGET, [], suite_starts_platform=False) == [
        WITH_OVERRIDE + ["up", "-d", "--no-deps", "--wait", "aarya-toxiproxy"]]
    assert detach_commands(TARGET, [], suite_starts_platform=False) == [
        WITH_OVERRIDE + ["rm", "-s", "-f", "aarya-toxiproxy"]]


@pytest.mark.parametrize("starts", [False, True])
def test_no_command_removes_anything_of_the_team(starts: bool) -> None:
    commands = attach_commands(TARGET, ["web"], suite_starts_platform=starts) + \
        detach_commands(TARGET, ["web"], suite_starts_platform=starts)
    for argv in commands:
        assert not FORBIDDEN & set(argv), argv
        assert argv[:3] == ["docker", "compose", "-f"] and argv[3] == str(TEAM)


def test_without_a_project_compose_derives_it_as_for_the_team() -> None:
    assert compose_argv(ComposeTarget(TEAM, OVERRIDE, docker="/usr/bin/docker")) == [
        "/usr/bin/docker", "compose", "-f", str(TEAM), "-f", str(OVERRIDE)]


def test_the_proxy_is_not_a_service_to_rewire() -> None:
    with pytest.raises(ValueError, match="aarya-toxiproxy"):
        rewire_argv(TARGET, ["web", "aarya-toxiproxy"])
