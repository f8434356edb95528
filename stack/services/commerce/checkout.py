"""Checkout and order history.

POST /checkout is idempotent per (user, Idempotency-Key): a retried request returns the first order, and
its payment uses the key `order:<order_id>`, so no path can charge the customer twice.
"""

from __future__ import annotations

import logging
from typing import Annotated
from uuid import UUID, uuid4

import psycopg
from fastapi import APIRouter, Depends, Header, Response
from pydantic import BaseModel

from ..common.app import Dependencies, deps
from ..common.auth import User, current_user
from ..common.errors import BadRequest, DependencyUnavailable, NotFound
from .cart import read_cart, remove_items
from .orders import PAID, PENDING, Order, create_order, find_by_key, get_order, list_orders
from .outbox import publish_outbox_best_effort
from .payments import pay_order

log = logging.getLogger("aarya.commerce")
router = APIRouter(tags=["checkout"])

DepsParam = Annotated[Dependencies, Depends(deps)]
UserParam = Annotated[User, Depends(current_user)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
STATUS_CODES = {PAID: 201, PENDING: 202}
PAYMENT_DECLINED = 402


class CheckoutOut(BaseModel):
    order_id: UUID
    status: str
    total_cents: int
    payment_id: UUID | None
    idempotency_key: str
    replayed: bool


class OrderList(BaseModel):
    items: list[Order]


def _answer(order: Order, response: Response, replayed: bool) -> CheckoutOut:
    response.status_code = 200 if replayed else STATUS_CODES.get(order.status, PAYMENT_DECLINED)
    return CheckoutOut(order_id=order.order_id, status=order.status, total_cents=order.total_cents,
                       payment_id=order.payment_id, idempotency_key=order.idempotency_key, replayed=replayed)


def _replay(d: Dependencies, order: Order, response: Response) -> CheckoutOut:
    """A checkout already placed with this key: finish its payment if it is still pending, then return it."""
    outcome = pay_order(d, order)
    publish_outbox_best_effort(d.require_db(), d.cache, outcome.outbox_ids)
    log.info("checkout replayed", extra={"order_id": str(order.order_id), "status": outcome.order.status})
    return _answer(outcome.order, response, replayed=True)


@router.post("/checkout", status_code=201)
def checkout(response: Response, user: UserParam, d: DepsParam, idempotency_key: IdempotencyKey = None) -> CheckoutOut:
    """201 paid, 202 pending_payment (the reconciler finishes it), 200 replay, 400 empty cart."""
    key = idempotency_key or str(uuid4())
    db, cache = d.require_db(), d.require_cache()
    existing = find_by_key(db, user.user_id, key)
    if existing is not None:
        return _replay(d, existing, response)
    cart = read_cart(cache, user.user_id)
    if not cart.items:
        raise BadRequest("cart is empty")
    try:
        order, placed_id = create_order(db, user.user_id, key, cart.items)
    except psycopg.errors.UniqueViolation:  # the same key, committed concurrently by another request
        existing = find_by_key(db, user.user_id, key)
        if existing is None:
            raise
        return _replay(d, existing, response)
    log.info("order placed", extra={"order_id": str(order.order_id), "user_id": user.user_id,
                                    "total_cents": order.total_cents, "idempotency_key": key})
    outcome = pay_order(d, order)
    _clear_cart(d, user.user_id, [item.product_id for item in order.items])
    publish_outbox_best_effort(db, cache, [placed_id, *outcome.outbox_ids])
    return _answer(outcome.order, response, replayed=False)


def _clear_cart(d: Dependencies, user_id: int, product_ids: list[int]) -> None:
    """Best-effort: remove the ordered products (items added meanwhile stay in the cart)."""
    try:
        remove_items(d.require_cache(), user_id, product_ids, d.settings.cart_ttl_s)
    except DependencyUnavailable as exc:
        log.warning("cart of user %s not cleared after checkout: %s", user_id, exc.reason)


@router.get("/orders")
def orders(user: UserParam, d: DepsParam) -> OrderList:
    return OrderList(items=list_orders(d.require_db(), user.user_id, limit=50))


@router.get("/orders/{order_id}")
def order(order_id: UUID, user: UserParam, d: DepsParam) -> Order:
    found = get_order(d.require_db(), user.user_id, order_id)
    if found is None:
        raise NotFound(f"order {order_id} not found")
    return found
