"""A shopper of the reference shop, registered and logged in through the gateway's API (the self-tests,
the scenarios' canaries and the benchmark all need one).

    with httpx.Client(base_url=f"{config.gateway_url}/api/v1", timeout=10) as client:
        shopper = register_shopper(client)
        client.post("/cart/items", json={...}, headers=shopper.auth)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx

from aarya_chaos.errors import StackError


@dataclass(frozen=True)
class Shopper:
    email: str
    password: str
    user_id: int
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


def register_shopper(client: httpx.Client, prefix: str = "shopper",
                     password: str = "correct horse battery") -> Shopper:
    """A new account `<prefix>-<random>@example.test`, logged in. StackError (with the answer) otherwise."""
    email = f"{prefix}-{uuid.uuid4().hex[:12]}@example.test"
    credentials = {"email": email, "password": password}
    for path, expected in (("/auth/register", 201), ("/auth/login", 200)):
        answer = client.post(path, json=credentials)
        if answer.status_code != expected:
            raise StackError(f"POST {client.base_url}{path} answered {answer.status_code}, not {expected}: "
                             f"{answer.text[:300]}")
    body = answer.json()
    return Shopper(email, password, int(body["user_id"]), body["token"])
