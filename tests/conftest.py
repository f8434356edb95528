"""Fixtures shared by the self-tests: clients for the gateway of the session's stack (see fixtures/plugin.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from stack.drivers.local.driver import LocalDriver
from stack.shoppers import Shopper
from tests.helpers.shoppers import new_shopper


@pytest.fixture
def gateway(stack: LocalDriver) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{stack.config.gateway_url}/api/v1", timeout=10) as client:
        yield client


@pytest.fixture
def shopper(gateway: httpx.Client) -> Shopper:
    return new_shopper(gateway)
