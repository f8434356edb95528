"""A new shopper, registered and logged in through the gateway (the `shopper` fixture of tests/conftest.py makes
one per test; a test that needs more, or one on another stack's gateway, calls `new_shopper`)."""

from __future__ import annotations

import httpx

from stack.shoppers import Shopper, register_shopper


def new_shopper(client: httpx.Client) -> Shopper:
    """A shopper registered on the gateway `client` talks to (its base URL ending in /api/v1)."""
    return register_shopper(client)
