"""commerce's pure parts: stream fields, cart parsing, payment outcomes and the reconciler thread."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from stack.services.commerce import payments, reconciler
from stack.services.commerce.cart import _to_cart
from stack.services.commerce.events import stream_fields
from stack.services.commerce.orders import PAID, PAYMENT_FAILED, PENDING, Order
from stack.services.common.app import Dependencies
from stack.services.common.errors import DependencyUnavailable
from stack.services.common.settings import ServiceSettings


def make_deps() -> Dependencies:
    return Dependencies(settings=ServiceSettings(service_name="commerce"), log=logging.getLogger("test"))


def make_order(status: str = PENDING) -> Order:
    now = datetime.now(timezone.utc)
    return Order(order_id=uuid4(), user_id=7, status=status, total_cents=1999, idempotency_key="k",
                 payment_id=None, created_at=now, updated_at=now)


def test_stream_fields_are_flat_strings_or_numbers() -> None:
    fields = stream_fields({"type": "order_placed", "n": 3, "ok": True, "none": None, "nested": {"a": 1}})
    assert fields == {"type": "order_placed", "n": 3, "ok": "true", "none": "", "nested": '{"a": 1}'}


def test_cart_is_sorted_and_skips_malformed_entries() -> None:
    cart = _to_cart(5, {"42": "2", "7": "1", "x": "1", "9": "0", b"11": b"3"})
    assert cart.user_id == 5
    assert [(item.product_id, item.quantity) for item in cart.items] == [(7, 1), (11, 3), (42, 2)]


class FakeClient:
    def __init__(self, answer: httpx.Response | Exception) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    def request(self, method: str, path: str, *, retry: bool, **kwargs: Any) -> httpx.Response:
        self.calls.append({"method": method, "path": path, "retry": retry, **kwargs})
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def with_payment(answer: httpx.Response | Exception) -> tuple[Dependencies, FakeClient]:
    d = make_deps()
    client = FakeClient(answer)
    d.services["payment"] = client  # type: ignore[assignment]
    return d, client


def test_unreachable_payment_leaves_the_order_pending() -> None:
    d, client = with_payment(DependencyUnavailable("payment", "connection refused"))
    order = make_order()
    outcome = payments.pay_order(d, order)
    assert outcome.order.status == PENDING and not outcome.payment_reachable and outcome.outbox_ids == []
    call = client.calls[0]
    assert call["retry"] is True and call["json"]["idempotency_key"] == f"order:{order.order_id}"


def test_captured_payment_marks_the_order_paid(monkeypatch: pytest.MonkeyPatch) -> None:
    payment_id = uuid4()
    d, _ = with_payment(httpx.Response(201, json={"payment_id": str(payment_id)}))
    order = make_order()

    def mark_paid(db: object, order: Order, pid: UUID) -> tuple[Order, int]:
        return order.model_copy(update={"status": PAID, "payment_id": pid}), 99

    monkeypatch.setattr(payments, "mark_paid", mark_paid)
    d.db = object()  # type: ignore[assignment]
    outcome = payments.pay_order(d, order)
    assert outcome.order.status == PAID and outcome.order.payment_id == payment_id
    assert outcome.outbox_ids == [99]


def test_permanent_rejection_fails_the_order_and_5xx_keeps_it_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(payments, "mark_payment_failed",
                        lambda db, order: order.model_copy(update={"status": PAYMENT_FAILED}))
    d, _ = with_payment(httpx.Response(409, json={"error": "idempotency_conflict"}))
    d.db = object()  # type: ignore[assignment]
    assert payments.pay_order(d, make_order()).order.status == PAYMENT_FAILED
    d, _ = with_payment(httpx.Response(503, json={"error": "dependency_unavailable"}))
    outcome = payments.pay_order(d, make_order())
    assert outcome.order.status == PENDING and not outcome.payment_reachable


def test_paid_orders_are_not_charged_again() -> None:
    d, client = with_payment(DependencyUnavailable("payment", "unused"))
    assert payments.pay_order(d, make_order(PAID)).order.status == PAID
    assert client.calls == []


def test_reconciler_survives_errors_and_stops_promptly(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks: list[float] = []

    def failing_tick(self: reconciler.Reconciler) -> None:
        ticks.append(time.monotonic())
        if len(ticks) % 2:
            raise RuntimeError("boom")
        raise DependencyUnavailable("postgres", "down")

    monkeypatch.setattr(reconciler.Reconciler, "tick", failing_tick)
    relay = reconciler.Reconciler(make_deps(), interval_s=0.01)
    relay.start()
    deadline = time.monotonic() + 2
    while len(ticks) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(ticks) >= 4
    started = time.monotonic()
    relay.stop()
    assert time.monotonic() - started < 1
    assert not any(t.name == "commerce-reconciler" for t in threading.enumerate())
