"""The load generator's rules, without locust: how an HTTP answer becomes a history outcome, which ids an
acknowledged write records, and the small per-shopper state of a journey. `load/locustfile.py` uses these;
they are unit-tested on their own (tests/unit/test_load_outcomes.py), since locust cannot be imported by
pytest.

Outcome rules (see load/history.py for what ok/fail/info mean):

    2xx (including 202 pending_payment)                        ok
    a read (GET) that errs in any way                          fail   (a read has no effect)
    a write answered 4xx                                       fail   (refused before any effect)
    a write answered 5xx (503 included) or anything else       info   (it may or may not have happened)
    a write that timed out, lost its connection, or whose 2xx body could not be read   info

A 503 is not "certainly not done": checkout answers 503 when marking a charged order paid fails, after the
order committed and the card was charged. So a shopper keeps an unknown checkout's idempotency key and
sends it again until it gets a definite answer; a new key for the same cart would be a second order.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from load.history import Outcome

#: The journey operations (the `f` of history records) and whether each one writes.
WRITES = frozenset({"register", "login", "add_to_cart", "remove_from_cart", "checkout"})
READS = frozenset({"browse", "product", "search", "view_cart"})
JOURNEY_FS = ("register", "login", "browse", "product", "search", "view_cart", "add_to_cart", "remove_from_cart",
              "checkout")

#: Words that occur in product names of the seed (stack/postgres/seed.sql: "<style> <colour> <category>").
SEARCH_WORDS = (
    "Classic", "Slim", "Relaxed", "Vintage", "Everyday", "Festive", "Summer", "Winter", "Urban", "Handloom",
    "Indigo", "Ivory", "Maroon", "Olive", "Saffron", "Charcoal", "Teal", "Rose", "Mustard", "Navy", "Sand",
    "Emerald", "Shirt", "T-Shirt", "Jeans", "Dress", "Jacket", "Sweater", "Kurta", "Saree",
)
PRODUCT_COUNT = 3000  # ids 1..3000 in the seed
PAGE_SIZE = 20
ERROR_MAX_CHARS = 200
# The shopper's HTTP client gives up on connecting / on an answer after these (locust's FastHttpUser
# `connection_timeout` / `network_timeout`); a scenario's answer-time check on the load cannot see beyond them.
CONNECT_TIMEOUT_S = 2.0
ANSWER_TIMEOUT_S = 5.0


def is_write(f: str) -> bool:
    return f in WRITES


def classify(*, write: bool, status: int | None, transport_error: str | None = None) -> Outcome:
    """The history outcome of one request.

    `status` is the HTTP status (None or 0 when no response arrived); `transport_error` is set when the
    request failed below HTTP (timeout, refused or reset connection, unreadable body).
    """
    if transport_error is not None or not status:
        return "info" if write else "fail"
    if 200 <= status < 300:
        return "ok"
    if not write:
        return "fail"
    if 400 <= status < 500:
        return "fail"
    return "info"


def short_error(status: int | None, body: str | None = None, exc: BaseException | str | None = None) -> str | None:
    """A one-line error text for a history record, or None for a success."""
    if exc is not None:
        text = exc if isinstance(exc, str) else exception_text(exc)
    elif status is not None and not 200 <= status < 300:
        text = f"HTTP {status}"
        if body:
            text += f": {' '.join(body.split())}"
    else:
        return None
    return text[:ERROR_MAX_CHARS]


def exception_text(exc: BaseException) -> str:
    """`Type: message`, with geventhttpclient's wrapper reduced to its cause
    ("RetriesExceeded: URL ...: 0, original=timed out" -> "RetriesExceeded: timed out")."""
    message = " ".join(str(exc).split())
    if "original=" in message:
        message = message.split("original=", 1)[1]
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def register_value(body: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"user_id": _int_or_none((body or {}).get("user_id"))}


def login_value(body: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"user_id": _int_or_none((body or {}).get("user_id"))}


def add_to_cart_value(user_id: int | None, product_id: int, quantity: int) -> dict[str, Any]:
    return {"user_id": user_id, "product_id": product_id, "quantity": quantity}


def checkout_value(body: Mapping[str, Any] | None, user_id: int | None, idempotency_key: str) -> dict[str, Any]:
    """Ack ids of a checkout. Without a body (unknown outcome) only user_id and idempotency_key."""
    value: dict[str, Any] = {"user_id": user_id, "idempotency_key": idempotency_key}
    if body:
        for key in ("order_id", "status", "payment_id", "total_cents"):
            if key in body:
                value[key] = body[key]
    return value


def cart_size(body: Mapping[str, Any] | None) -> int | None:
    """The number of lines of a cart answer, or None if the body is not a cart."""
    items = (body or {}).get("items")
    return len(items) if isinstance(items, Sequence) and not isinstance(items, str) else None


def browse_params(rng: random.Random) -> dict[str, int]:
    return {"limit": PAGE_SIZE, "offset": rng.randrange(0, PRODUCT_COUNT - PAGE_SIZE + 1)}


def product_id(rng: random.Random) -> int:
    return rng.randint(1, PRODUCT_COUNT)


def search_word(rng: random.Random) -> str:
    return rng.choice(SEARCH_WORDS)


def shopper_email(tag: str = "load") -> str:
    return f"{tag}-{uuid.uuid4().hex}@example.test"


@dataclass
class CheckoutPlan:
    """What the next checkout task does: a fresh attempt, a retry of an unknown one (same key), or nothing."""

    key: str
    retry: bool


@dataclass
class Account:
    """A simulated client's account and session, updated from its acknowledged answers."""

    email: str = field(default_factory=shopper_email)
    password: str = "correct horse battery"
    user_id: int | None = None
    token: str | None = None
    registered: bool = False

    def on_register(self, outcome: Outcome, status: int | None, value: Mapping[str, Any]) -> None:
        if outcome == "ok":
            self.registered = True
            self.user_id = value.get("user_id") or self.user_id
        elif status == 409:  # the e-mail exists: an earlier unknown register did land
            self.registered = True

    def on_login(self, outcome: Outcome, status: int | None, token: str | None, value: Mapping[str, Any]) -> None:
        if outcome == "ok" and token:
            self.token = token
            self.registered = True
            self.user_id = value.get("user_id") or self.user_id
        elif status == 401 and not self.user_id:
            self.registered = False  # the register we could not confirm did not land: register again

    def on_unauthorized(self) -> None:
        self.token = None


@dataclass
class ShopperState(Account):
    """The little a simulated shopper knows about itself: its account, its cart, an unknown checkout."""

    cart_lines: int = 0
    pending_checkout_key: str | None = None  # an unknown checkout, retried with its key until answered

    def on_cart(self, lines: int | None) -> None:
        if lines is not None:
            self.cart_lines = lines

    def next_checkout(self) -> CheckoutPlan | None:
        if self.pending_checkout_key is not None:
            key, self.pending_checkout_key = self.pending_checkout_key, None
            return CheckoutPlan(key, retry=True)
        if self.cart_lines > 0:
            return CheckoutPlan(str(uuid.uuid4()), retry=False)
        return None

    def on_checkout(self, plan: CheckoutPlan, outcome: Outcome, status: int | None = None) -> None:
        if outcome == "ok" or status in (400, 402):
            # ordered lines leave the cart (also when the payment was declined, 402); 400 = empty cart
            self.cart_lines = 0
        elif outcome == "info" or (status == 401 and plan.retry):
            # unknown: the same key again until a definite answer (a 401 retry never reached checkout)
            self.pending_checkout_key = plan.key
