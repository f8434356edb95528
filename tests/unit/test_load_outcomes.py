"""Unit tests for load.outcomes: the outcome rules and the shopper's journey state, without locust."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from load import outcomes as rules
from load.outcomes import CheckoutPlan, ShopperState, classify

SEED = Path(__file__).resolve().parents[2] / "stack" / "postgres" / "seed.sql"


@pytest.mark.parametrize("status", [200, 201, 202, 204])
@pytest.mark.parametrize("write", [False, True])
def test_any_2xx_is_ok(write: bool, status: int) -> None:
    assert classify(write=write, status=status) == "ok"


@pytest.mark.parametrize("status", [None, 0, 301, 400, 401, 404, 409, 422, 429, 500, 502, 503, 504])
def test_a_read_that_errs_in_any_way_fails(status: int | None) -> None:
    assert classify(write=False, status=status) == "fail"


def test_a_read_with_a_transport_error_fails() -> None:
    assert classify(write=False, status=None, transport_error="timed out") == "fail"
    assert classify(write=False, status=200, transport_error="body cut short") == "fail"


@pytest.mark.parametrize("status", [400, 401, 402, 404, 409, 422, 429])
def test_a_write_refused_before_any_effect_fails(status: int) -> None:
    assert classify(write=True, status=status) == "fail"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599, 302])
def test_a_write_with_an_uncertain_answer_is_info(status: int) -> None:
    """503 too: checkout answers 503 when marking a charged order paid fails, after the order committed."""
    assert classify(write=True, status=status) == "info"


@pytest.mark.parametrize("status", [None, 0, 200, 201])
def test_a_write_that_timed_out_or_lost_its_connection_is_info(status: int | None) -> None:
    assert classify(write=True, status=status, transport_error="connection reset") == "info"
    if not status:
        assert classify(write=True, status=status) == "info"


def test_writes_and_reads() -> None:
    assert rules.WRITES == {"register", "login", "add_to_cart", "remove_from_cart", "checkout"}
    assert all(rules.is_write(f) for f in rules.WRITES)
    assert not any(rules.is_write(f) for f in rules.READS)
    assert set(rules.JOURNEY_FS) == rules.WRITES | rules.READS


def test_short_error() -> None:
    assert rules.short_error(200) is None
    assert rules.short_error(502, '{"error":\n "bad_gateway"}') == 'HTTP 502: {"error": "bad_gateway"}'
    assert rules.short_error(None, None, "GreenletExit") == "GreenletExit"
    wrapped = ConnectionError("URL http://127.0.0.1:8000/api/v1/cart: 0, original=timed out")
    assert rules.short_error(None, None, wrapped) == "ConnectionError: timed out"
    assert rules.short_error(None, None, TimeoutError()) == "TimeoutError"
    long = rules.short_error(500, "x" * 1000)
    assert long is not None and len(long) == rules.ERROR_MAX_CHARS


def test_ack_values() -> None:
    assert rules.register_value({"user_id": "7"}) == {"user_id": 7}
    assert rules.register_value(None) == {"user_id": None}
    assert rules.login_value({"user_id": 7, "token": "t"}) == {"user_id": 7}
    assert rules.add_to_cart_value(7, 12, 2) == {"user_id": 7, "product_id": 12, "quantity": 2}
    body = {"order_id": "o-1", "status": "paid", "payment_id": "p-1", "total_cents": 999, "replayed": False}
    assert rules.checkout_value(body, 7, "k") == {"user_id": 7, "idempotency_key": "k", "order_id": "o-1",
                                                  "status": "paid", "payment_id": "p-1", "total_cents": 999}
    assert rules.checkout_value(None, 7, "k") == {"user_id": 7, "idempotency_key": "k"}


def test_cart_size() -> None:
    assert rules.cart_size({"items": [{"product_id": 1, "quantity": 1}]}) == 1
    assert rules.cart_size({"items": []}) == 0
    assert rules.cart_size({"error": "x"}) is None
    assert rules.cart_size(None) is None


def test_random_requests_stay_in_the_catalogue() -> None:
    rng = random.Random(1)
    for _ in range(1000):
        params = rules.browse_params(rng)
        assert 0 <= params["offset"] <= rules.PRODUCT_COUNT - rules.PAGE_SIZE
        assert 1 <= rules.product_id(rng) <= rules.PRODUCT_COUNT
        assert rules.search_word(rng) in rules.SEARCH_WORDS


def test_every_search_word_is_in_the_seed() -> None:
    words = set(re.findall(r"'([A-Za-z-]+)'", SEED.read_text(encoding="utf-8")))
    missing = [w for w in rules.SEARCH_WORDS if w not in words]
    assert not missing


def test_shopper_email_is_unique() -> None:
    assert len({rules.shopper_email() for _ in range(100)}) == 100


def test_session_state() -> None:
    state = ShopperState()
    state.on_register("ok", 201, {"user_id": 5})
    assert state.registered and state.user_id == 5
    state.on_login("ok", 200, "tok", {"user_id": 5})
    assert state.token == "tok"
    state.on_unauthorized()
    assert state.token is None and state.registered


def test_an_unknown_register_is_confirmed_by_409_or_undone_by_401() -> None:
    state = ShopperState()
    state.on_register("info", 502, {})
    assert not state.registered
    state.on_register("fail", 409, {})
    assert state.registered  # it did land
    other = ShopperState()
    other.on_register("info", None, {})
    other.on_login("fail", 401, None, {})
    assert not other.registered  # it did not land: register again


def test_checkout_only_with_a_cart() -> None:
    state = ShopperState()
    assert state.next_checkout() is None
    state.on_cart(2)
    plan = state.next_checkout()
    assert plan is not None and not plan.retry
    state.on_checkout(plan, "ok", 201)
    assert state.cart_lines == 0 and state.next_checkout() is None


def test_an_unknown_checkout_is_retried_with_the_same_key_until_it_is_answered() -> None:
    state = ShopperState()
    state.on_cart(1)
    first = state.next_checkout()
    assert first is not None
    state.on_checkout(first, "info", 503)
    state.on_cart(0)  # the cart may have been emptied by the checkout that did land
    for _ in range(3):  # a new key here would be a second order for the same cart
        retry = state.next_checkout()
        assert retry == CheckoutPlan(first.key, retry=True)
        state.on_checkout(retry, "info", 504)
    answered = state.next_checkout()
    assert answered is not None
    state.on_checkout(answered, "ok", 200)  # the replay of the order that did land
    assert state.next_checkout() is None


def test_a_retry_refused_by_401_is_kept_for_after_login() -> None:
    state = ShopperState()
    state.pending_checkout_key = "k"
    retry = state.next_checkout()
    assert retry == CheckoutPlan("k", retry=True)
    state.on_checkout(retry, "fail", 401)
    assert state.pending_checkout_key == "k"


@pytest.mark.parametrize("status", [400, 402])
def test_empty_cart_or_declined_payment_forgets_the_cart(status: int) -> None:
    state = ShopperState()
    state.on_cart(3)
    plan = state.next_checkout()
    assert plan is not None
    state.on_checkout(plan, "fail", status)
    assert state.cart_lines == 0
