"""One contract, three drivers: the fake (stack/drivers/fake.py), the local driver (the session's stack) and
the docker driver (a stack of its own on other ports; skipped with the reason when no Docker engine can be
used). Adding a driver adds a parameter here."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from stack.config import StackConfig
from stack.drivers.base import StackDriver
from stack.drivers.fake import EVERY_COMPONENT, FakeDriver
from tests.helpers.docker import docker_config_beside
from tests.helpers.driver_contract import CONTRACT


@pytest.fixture(scope="module")
def docker_stack(stack_config: StackConfig) -> Iterator[StackDriver]:
    from stack.drivers.docker.engine import ensure_all
    from stack.drivers.registry import make_driver

    reason = ensure_all()
    if reason is not None:
        pytest.skip(f"no usable Docker engine: {reason}")
    driver = make_driver(docker_config_beside(stack_config), "docker", fresh=True)
    driver.start()
    try:
        yield driver
    finally:
        driver.stop()


@pytest.fixture(params=["fake", "local", "docker"])
def driver(request: pytest.FixtureRequest, stack_config: StackConfig) -> StackDriver:
    if request.param == "fake":
        return FakeDriver(EVERY_COMPONENT, config=stack_config)
    stack: StackDriver = request.getfixturevalue("stack" if request.param == "local" else "docker_stack")
    return stack


@pytest.mark.parametrize("check", CONTRACT, ids=lambda check: check.__name__)
def test_driver_keeps_the_contract(driver: StackDriver, check: Callable[[StackDriver], None]) -> None:
    check(driver)
