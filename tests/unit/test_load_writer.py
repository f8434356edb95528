"""load.writer: the ledger writer's intents, seen through to a definite answer."""

from __future__ import annotations

import random

from load.writer import CartFix, WriterState, cart_products


def writer() -> WriterState:
    state = WriterState()
    state.current_intent(random.Random(7))
    return state


def test_an_intent_is_in_the_cart_only_when_the_cart_holds_exactly_it() -> None:
    state = writer()
    intent = state.intent
    assert intent is not None and intent.key == f"{intent.id}/1"
    assert state.on_add("ok", {intent.product_id: intent.quantity, 9999: 1}) == CartFix((9999,))
    assert not intent.in_cart  # a line an earlier order left must go first
    assert state.on_add("info", None) == CartFix(())
    state.on_add("ok", {intent.product_id: intent.quantity})
    assert intent.in_cart


def test_an_unknown_checkout_keeps_its_key_a_refusal_starts_a_new_attempt() -> None:
    state = writer()
    intent = state.intent
    assert intent is not None
    state.on_add("ok", {intent.product_id: intent.quantity})
    state.on_checkout("info", 503)
    assert state.intent is intent and intent.key.endswith("/1") and intent.in_cart
    state.on_checkout("fail", 401)  # logged out: the same key after a new login
    assert intent.key.endswith("/1") and state.token is None
    state.on_checkout("fail", 400)  # refused: a new key, the product put back first
    assert intent.key.endswith("/2") and not intent.in_cart
    state.on_checkout("ok", 201)
    assert state.intent is None and state.done == 1


def test_a_declined_payment_ends_the_intent() -> None:
    state = writer()
    state.on_checkout("fail", 402)
    assert state.intent is None


def test_cart_products() -> None:
    assert cart_products({"items": [{"product_id": 4, "quantity": 2}]}) == {4: 2}
    assert cart_products({"items": "nope"}) is None and cart_products(None) is None
    assert cart_products({"items": [{"product_id": "x", "quantity": 1}]}) is None
