"""Orders in PostgreSQL. An order, its items and its `order_placed` outbox row are written in one
transaction; the order id exists only once that transaction has committed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from ..common.db import Database
from ..common.errors import BadRequest
from .cart import CartItem
from .events import ORDER_EVENTS, utc_now

MAX_INT4 = 2_147_483_647
PENDING, PAID, PAYMENT_FAILED = "pending_payment", "paid", "payment_failed"
COLUMNS = "id AS order_id, user_id, status, total_cents, idempotency_key, payment_id, created_at, updated_at"


class OrderItem(BaseModel):
    product_id: int
    quantity: int
    price_cents: int


class Order(BaseModel):
    order_id: UUID
    user_id: int
    status: str
    total_cents: int
    idempotency_key: str
    payment_id: UUID | None
    created_at: datetime
    updated_at: datetime
    items: list[OrderItem] = []


Connection = psycopg.Connection[dict[str, object]]


def _add_outbox(conn: Connection, payload: dict[str, object]) -> int:
    row = conn.execute(
        "INSERT INTO outbox (stream, payload) VALUES (%s, %s) RETURNING id", (ORDER_EVENTS, Jsonb(payload))
    ).fetchone()
    assert row is not None  # INSERT ... RETURNING always returns the row
    return int(str(row["id"]))


def find_by_key(db: Database, user_id: int, key: str) -> Order | None:
    with db.connection() as conn:
        row = conn.execute(
            f"SELECT {COLUMNS} FROM orders WHERE user_id = %s AND idempotency_key = %s", (user_id, key)
        ).fetchone()
    return None if row is None else Order.model_validate(row)


def _price_items(conn: Connection, cart: Sequence[CartItem]) -> list[OrderItem]:
    rows = conn.execute(
        "SELECT id, price_cents FROM products WHERE id = ANY(%s)", ([item.product_id for item in cart],)
    ).fetchall()
    prices = {int(str(row["id"])): int(str(row["price_cents"])) for row in rows}
    missing = [item.product_id for item in cart if item.product_id not in prices]
    if missing:
        raise BadRequest(f"products no longer available: {missing}")
    return [OrderItem(product_id=i.product_id, quantity=i.quantity, price_cents=prices[i.product_id]) for i in cart]


def create_order(db: Database, user_id: int, key: str, cart: Sequence[CartItem]) -> tuple[Order, int]:
    """Insert the order (pending_payment), its items and its outbox row in one transaction.

    Returns the order and the outbox row id. Raises psycopg.errors.UniqueViolation if an order with this
    (user_id, idempotency_key) was committed concurrently.
    """
    with db.connection() as conn:
        items = _price_items(conn, cart)
        total = sum(item.price_cents * item.quantity for item in items)
        if total > MAX_INT4:
            raise BadRequest(f"order total {total} cents is too large")
        row = conn.execute(
            f"INSERT INTO orders (user_id, status, total_cents, idempotency_key) VALUES (%s, %s, %s, %s) "
            f"RETURNING {COLUMNS}",
            (user_id, PENDING, total, key),
        ).fetchone()
        assert row is not None
        order = Order.model_validate({**row, "items": items})
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO order_items (order_id, product_id, quantity, price_cents) VALUES (%s, %s, %s, %s)",
                [(order.order_id, i.product_id, i.quantity, i.price_cents) for i in items],
            )
        outbox_id = _add_outbox(conn, {"type": "order_placed", "order_id": str(order.order_id),
                                       "user_id": user_id, "total_cents": total, "at": utc_now()})
    return order, outbox_id


def mark_paid(db: Database, order: Order, payment_id: UUID) -> tuple[Order, int | None]:
    """pending_payment -> paid with an `order_paid` outbox row, once: a second caller changes nothing."""
    with db.connection() as conn:
        row = conn.execute(
            f"UPDATE orders SET status = %s, payment_id = %s, updated_at = now() "
            f"WHERE id = %s AND status = %s RETURNING {COLUMNS}",
            (PAID, payment_id, order.order_id, PENDING),
        ).fetchone()
        if row is None:
            current = conn.execute(f"SELECT {COLUMNS} FROM orders WHERE id = %s", (order.order_id,)).fetchone()
            assert current is not None  # orders are never deleted
            return Order.model_validate({**current, "items": order.items}), None
        outbox_id = _add_outbox(conn, {"type": "order_paid", "order_id": str(order.order_id),
                                       "user_id": order.user_id, "payment_id": str(payment_id),
                                       "total_cents": order.total_cents, "at": utc_now()})
    return Order.model_validate({**row, "items": order.items}), outbox_id


def mark_payment_failed(db: Database, order: Order) -> Order:
    with db.connection() as conn:
        row = conn.execute(
            f"UPDATE orders SET status = %s, updated_at = now() WHERE id = %s AND status = %s RETURNING {COLUMNS}",
            (PAYMENT_FAILED, order.order_id, PENDING),
        ).fetchone()
    return order if row is None else Order.model_validate({**row, "items": order.items})


def _attach_items(conn: Connection, orders: list[Order]) -> list[Order]:
    if not orders:
        return orders
    rows = conn.execute(
        "SELECT order_id, product_id, quantity, price_cents FROM order_items WHERE order_id = ANY(%s) "
        "ORDER BY product_id",
        ([order.order_id for order in orders],),
    ).fetchall()
    by_order: dict[str, list[OrderItem]] = {}
    for row in rows:
        by_order.setdefault(str(row["order_id"]), []).append(OrderItem.model_validate(row))
    return [order.model_copy(update={"items": by_order.get(str(order.order_id), [])}) for order in orders]


def get_order(db: Database, user_id: int, order_id: UUID) -> Order | None:
    with db.connection() as conn:
        row = conn.execute(
            f"SELECT {COLUMNS} FROM orders WHERE id = %s AND user_id = %s", (order_id, user_id)
        ).fetchone()
        if row is None:
            return None
        return _attach_items(conn, [Order.model_validate(row)])[0]


def list_orders(db: Database, user_id: int, limit: int = 50) -> list[Order]:
    with db.connection() as conn:
        rows = conn.execute(
            f"SELECT {COLUMNS} FROM orders WHERE user_id = %s ORDER BY created_at DESC LIMIT %s", (user_id, limit)
        ).fetchall()
        return _attach_items(conn, [Order.model_validate(row) for row in rows])


def stale_pending_orders(db: Database, older_than_s: float, limit: int) -> list[Order]:
    """Orders still waiting for their payment after `older_than_s`, oldest first."""
    with db.connection() as conn:
        rows = conn.execute(
            f"SELECT {COLUMNS} FROM orders WHERE status = %s AND created_at < now() - make_interval(secs => %s) "
            "ORDER BY created_at LIMIT %s",
            (PENDING, older_than_s, limit),
        ).fetchall()
    return [Order.model_validate(row) for row in rows]
