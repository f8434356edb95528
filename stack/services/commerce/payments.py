"""Charging an order through the payment service, idempotently: the key is `order:<order_id>`, so the
request path and the reconciler can retry as often as they like and the customer is charged once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

from ..common.app import Dependencies
from ..common.errors import DependencyUnavailable
from .orders import PENDING, Order, mark_paid, mark_payment_failed

log = logging.getLogger("aarya.commerce")

# 4xx answers that may succeed on a later attempt; any other 4xx is a permanent rejection.
TRANSIENT_CLIENT_ERRORS = frozenset({408, 425, 429})


@dataclass(frozen=True)
class PaymentOutcome:
    order: Order
    outbox_ids: list[int]
    payment_reachable: bool


def payment_key(order: Order) -> str:
    return f"order:{order.order_id}"


def pay_order(d: Dependencies, order: Order) -> PaymentOutcome:
    """Charge a pending order and record the result; an unreachable payment service leaves it pending."""
    if order.status != PENDING:
        return PaymentOutcome(order, [], True)
    body = {"order_id": str(order.order_id), "amount_cents": order.total_cents, "idempotency_key": payment_key(order)}
    try:
        response = d.service("payment").request("POST", "/payments", retry=True, json=body)
    except DependencyUnavailable as exc:
        log.warning("payment unavailable, order %s left pending_payment: %s", order.order_id, exc.reason)
        return PaymentOutcome(order, [], False)
    if response.status_code in (200, 201):
        paid, outbox_id = mark_paid(d.require_db(), order, UUID(response.json()["payment_id"]))
        log.info("order paid", extra={"order_id": str(order.order_id), "payment_id": str(paid.payment_id),
                                      "replayed": response.status_code == 200})
        return PaymentOutcome(paid, [] if outbox_id is None else [outbox_id], True)
    if 400 <= response.status_code < 500 and response.status_code not in TRANSIENT_CLIENT_ERRORS:
        log.error("payment error: order %s rejected with HTTP %s: %s", order.order_id, response.status_code,
                  response.text[:500])
        return PaymentOutcome(mark_payment_failed(d.require_db(), order), [], True)
    log.warning("payment error: order %s got HTTP %s, left pending_payment", order.order_id, response.status_code)
    return PaymentOutcome(order, [], False)
