"""The ledger writer's rules, without locust: a steady stream of checkouts with unique keys, each one an
INTENT (one product, one quantity) the writer sees through to a definite answer. `load/locustfile.py`
runs them as the `LedgerWriter` user; `checks.ledger` reconciles what they were told with PostgreSQL.

An intent goes: put its product in the cart (until the cart holds exactly that: a line the platform left
from an earlier order is removed first), then check out with the key `<intent>/<attempt>`. An unknown
answer (5xx, a timeout) keeps the key: the same checkout is sent again until it is answered. A definite
refusal (4xx) starts the next attempt, with a new key: if the platform refused a checkout it had in fact
done, the database then holds two orders for one intent, which the ledger reports as a duplicate.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from load.history import Outcome
from load.outcomes import PRODUCT_COUNT, Account, shopper_email

WRITERS = 8                # ledger writers beside the shoppers
WRITER_PACING_S = 0.4      # each writer starts an intent this often: 20 checkouts a second in all
MAX_QUANTITY = 3


@dataclass
class Intent:
    id: str
    product_id: int
    quantity: int
    attempt: int = 1
    in_cart: bool = False

    @property
    def key(self) -> str:
        return f"{self.id}/{self.attempt}"

    def items(self) -> dict[str, int]:
        return {str(self.product_id): self.quantity}


@dataclass(frozen=True)
class CartFix:
    """What the writer must do to its cart before checking out: lines to remove (left by the platform)."""

    remove: tuple[int, ...]


@dataclass
class WriterState(Account):
    email: str = field(default_factory=lambda: shopper_email("ledger"))
    password: str = "ledger writer password"
    intent: Intent | None = None
    done: int = 0

    def current_intent(self, rng: random.Random) -> Intent:
        if self.intent is None:
            self.intent = Intent(f"L{uuid.uuid4().hex[:16]}", rng.randint(1, PRODUCT_COUNT),
                                 rng.randint(1, MAX_QUANTITY))
        return self.intent

    def on_add(self, outcome: Outcome, cart: Mapping[int, int] | None) -> CartFix:
        """After putting the intent's product in the cart: ready when the cart holds exactly it."""
        intent = self.intent
        assert intent is not None
        if outcome != "ok" or cart is None:
            return CartFix(())
        stale = tuple(sorted(p for p in cart if p != intent.product_id))
        intent.in_cart = not stale and cart.get(intent.product_id) == intent.quantity
        return CartFix(stale)

    def on_checkout(self, outcome: Outcome, status: int | None) -> None:
        intent = self.intent
        assert intent is not None
        if outcome == "ok" or status == 402:  # answered with an order (a declined payment names its order)
            self.intent = None
            self.done += 1
        elif status == 401:  # the session is gone: log in again, the same key after
            self.token = None
        elif outcome == "fail":  # a definite refusal: the next attempt, with a new key
            intent.attempt += 1
            intent.in_cart = False
        # info: unknown, the same key again


def cart_products(body: Mapping[str, object] | None) -> dict[int, int] | None:
    """product id -> quantity of a cart answer, or None if the body is not a cart."""
    items = (body or {}).get("items")
    if not isinstance(items, list):
        return None
    cart: dict[int, int] = {}
    for item in items:
        if isinstance(item, Mapping):
            try:
                cart[int(str(item["product_id"]))] = int(str(item["quantity"]))
            except (KeyError, ValueError):
                return None
    return cart
