"""The shopper's journeys through the gateway, against the real reference stack."""

from __future__ import annotations

import concurrent.futures
import time
import uuid

import httpx
import pytest

from stack.drivers.local.driver import LocalDriver
from stack.services.common.cache import Cache
from stack.services.common.settings import ServiceSettings
from stack.services.core_platform.sessions import (RATELIMIT_PREFIX, FailureCount, failure_count, record_failure,
                                                   sweep_failure_counters)
from stack.shoppers import Shopper
from tests.helpers.shoppers import new_shopper

pytestmark = pytest.mark.integration


def test_gateway_and_every_service_report_ready(stack: LocalDriver, gateway: httpx.Client) -> None:
    assert httpx.get(f"{stack.config.gateway_url}/health", timeout=5).json()["status"] == "ok"
    for service in stack.config.services:
        response = gateway.get(f"/health/{service}")
        assert response.status_code == 200, (service, response.text)
        assert response.json()["status"] == "ready"


def test_register_login_validate_logout(gateway: httpx.Client) -> None:
    shopper = new_shopper(gateway)
    me = gateway.get("/auth/me", headers=shopper.auth)
    assert me.status_code == 200 and me.json()["email"] == shopper.email
    assert gateway.post("/auth/register", json={"email": shopper.email, "password": "another pass"}).status_code == 409
    assert gateway.post("/auth/logout", headers=shopper.auth).status_code == 204
    assert gateway.get("/auth/me", headers=shopper.auth).status_code == 401


def test_failed_logins_are_rate_limited_and_logged(stack: LocalDriver, gateway: httpx.Client) -> None:
    shopper = new_shopper(gateway)
    codes = [gateway.post("/auth/login", json={"email": shopper.email, "password": "wrong password"}).status_code
             for _ in range(8)]
    assert codes[0] == 401 and codes[-1] == 429, codes
    assert f"email={shopper.email}" in stack.logs("core_platform", 400)
    assert "authentication failed" in stack.logs("core_platform", 400)
    redis = stack.redis()
    key = RATELIMIT_PREFIX + shopper.email
    assert redis.ttl(key) == -1, "a lockout counter with a TTL can be evicted (2.1)"
    assert str(redis.get(key)).split(":")[0].isdigit()


def test_failed_login_counters_count_in_their_window_and_are_swept_after_it(stack: LocalDriver) -> None:
    """The counter's window lives in its value (no TTL): it restarts after the window, and the sweep deletes
    counters whose window has passed, and only those."""
    cache = Cache(ServiceSettings(service_name="test", redis_url=stack.config.redis_url))
    email = f"sweep-{uuid.uuid4().hex[:8]}@example.test"
    now = time.time()
    assert [record_failure(cache, email, 900, now=now + n) for n in range(3)] == [1, 2, 3]
    assert failure_count(cache, email, 900, now=now + 10) == FailureCount(3, 892)
    assert failure_count(cache, email, 900, now=now + 1000).count == 0
    assert record_failure(cache, email, 900, now=now + 1000) == 1  # a new window
    old = f"sweep-old-{uuid.uuid4().hex[:8]}@example.test"
    record_failure(cache, old, 900, now=now - 2000)
    redis = stack.redis()
    assert sweep_failure_counters(redis, 900, now=now + 1000) >= 1
    assert redis.exists(RATELIMIT_PREFIX + email) and not redis.exists(RATELIMIT_PREFIX + old)


def test_browse_product_detail_and_search(gateway: httpx.Client) -> None:
    page = gateway.get("/products", params={"limit": 5}).json()
    assert len(page["items"]) == 5
    product = page["items"][0]
    detail = gateway.get(f"/products/{product['id']}")
    assert detail.status_code == 200 and detail.json()["sku"] == product["sku"]
    assert gateway.get("/products/99999999").status_code == 404
    word = product["name"].split()[0]
    found = gateway.get("/search", params={"q": word}).json()
    assert found["count"] > 0 and all(word.lower() in i["name"].lower() for i in found["items"])
    recs = gateway.get(f"/recommendations/{product['id']}").json()
    assert recs["items"] and all(r["id"] != product["id"] for r in recs["items"])


def test_search_does_not_execute_injection(stack: LocalDriver, gateway: httpx.Client) -> None:
    before = stack.sql("SELECT count(*) FROM products")[0][0]
    for payload in ["' OR 1=1--", "x' UNION SELECT email, password_hash FROM users--", "'; DROP TABLE products;--"]:
        response = gateway.get("/search", params={"q": payload})
        assert response.status_code in (200, 422), response.text
        if response.status_code == 200:
            assert response.json()["count"] == 0
    assert stack.sql("SELECT count(*) FROM products")[0][0] == before


def _fill_cart(gateway: httpx.Client, shopper: Shopper, quantity: int = 2) -> int:
    product = gateway.get("/products", params={"limit": 1, "offset": 7}).json()["items"][0]
    added = gateway.post("/cart/items", json={"product_id": product["id"], "quantity": quantity}, headers=shopper.auth)
    assert added.status_code == 200, added.text
    assert {"product_id": product["id"], "quantity": quantity} in added.json()["items"]
    return int(product["price_cents"]) * quantity


def test_cart_and_checkout(stack: LocalDriver, gateway: httpx.Client, shopper: Shopper) -> None:
    total = _fill_cart(gateway, shopper)
    assert gateway.get("/cart", headers=shopper.auth).json()["items"]
    checkout = gateway.post("/checkout", headers={**shopper.auth, "Idempotency-Key": str(uuid.uuid4())})
    assert checkout.status_code == 201, checkout.text
    order = checkout.json()
    assert order["status"] == "paid" and order["total_cents"] == total and order["payment_id"]
    assert gateway.get("/cart", headers=shopper.auth).json()["items"] == []
    fetched = gateway.get(f"/orders/{order['order_id']}", headers=shopper.auth).json()
    assert fetched["status"] == "paid"
    rows = stack.sql("SELECT status, total_cents FROM orders WHERE id = %s", (order["order_id"],))
    assert rows == [("paid", total)]


def test_checkout_retried_with_the_same_key_charges_once(stack: LocalDriver, gateway: httpx.Client,
                                                        shopper: Shopper) -> None:
    _fill_cart(gateway, shopper)
    key = {**shopper.auth, "Idempotency-Key": str(uuid.uuid4())}
    first = gateway.post("/checkout", headers=key)
    again = gateway.post("/checkout", headers=key)
    assert first.status_code == 201 and again.status_code in (200, 201)
    assert again.json()["order_id"] == first.json()["order_id"]
    payments = stack.sql("SELECT count(*) FROM payments WHERE order_id = %s", (first.json()["order_id"],))
    assert payments == [(1,)]


def test_a_payment_repeated_concurrently_charges_once(stack: LocalDriver, gateway: httpx.Client) -> None:
    body = {"order_id": str(uuid.uuid4()), "amount_cents": 4999, "idempotency_key": f"test:{uuid.uuid4()}"}

    def pay() -> httpx.Response:
        return gateway.post("/payments", json=body)

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(lambda _: pay(), range(10)))
    assert sorted({r.status_code for r in responses}) in ([200, 201], [201])
    assert len({r.json()["payment_id"] for r in responses}) == 1
    assert sum(not r.json()["replayed"] for r in responses) == 1
    rows = stack.sql("SELECT count(*) FROM payments WHERE idempotency_key = %s", (body["idempotency_key"],))
    assert rows == [(1,)]


def test_order_event_reaches_postgres_through_the_consumer(stack: LocalDriver, gateway: httpx.Client,
                                                           shopper: Shopper) -> None:
    _fill_cart(gateway, shopper, quantity=1)
    order = gateway.post("/checkout", headers=shopper.auth).json()
    deadline = time.monotonic() + 20
    rows: list[tuple[object, ...]] = []
    while time.monotonic() < deadline and not rows:
        rows = stack.sql(
            "SELECT kind FROM notifications WHERE stream = 'order_events' AND body->>'order_id' = %s",
            (order["order_id"],))
        time.sleep(0.2)
    assert rows, f"no notification for order {order['order_id']} within 20s; content_services log:\n" + \
        stack.logs("content_services", 30)
