"""Without a Docker engine the docker driver raises its own StackError (EngineUnavailable), not the SDK's
exception, so callers that catch StackError (heal's gateway check) keep going."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker.errors import DockerException

from aarya_chaos.errors import StackError
from stack.config import load_config
from stack.drivers.docker import core
from stack.drivers.registry import make_driver


def test_no_engine_is_a_stack_error_naming_the_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def refuse(timeout_s: int = 60) -> None:
        raise DockerException("Error while fetching server API version: connection refused")

    monkeypatch.setattr(core, "docker_client", refuse)
    driver = make_driver(load_config(run_dir=tmp_path / "run"), "docker", install=False)
    with pytest.raises(StackError, match="the Docker engine does not answer: .*connection refused"):
        driver.pause("payment")
    assert not any(s.running for s in driver.status())  # a status report says so, it never raises
