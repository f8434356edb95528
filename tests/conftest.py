"""Fixtures shared by the self-tests: clients for the gateway of the session's stack (see fixtures/plugin.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
import httpx
import pytest

from stack.drivers.local import LocalDriver


@pytest.fixture
def gateway(stack: LocalDriver) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{stack.config.gateway_url}/api/v1", timeout=10) as client:
        yield client


@dataclass(frozen=True)
class Shopper:
    email: str
    password: str
    user_id: int
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


def new_shopper(client: httpx.Client) -> Shopper:
    email = f"shopper-{uuid.uuid4().hex[:12]}@example.test"
    password = "correct horse battery"
    registered = client.post("/auth/register", json={"email": email, "password": password})
    assert registered.status_code == 201, registered.text
    login = client.post("/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    body = login.json()
    return Shopper(email, password, int(body["user_id"]), body["token"])


@pytest.fixture
def shopper(gateway: httpx.Client) -> Shopper:
    return new_shopper(gateway)
