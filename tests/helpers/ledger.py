"""Builders for the ledger tests (checks.ledger): a checkout op as the load writer records it, and an order row
as the database stores it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from checks.ledger import StoredOrder
from load.history import Outcome, Record
from tests.helpers.histories import call


def checkout(t: float, key: str, outcome: Outcome = "ok", *, order: str | None = None, status: str = "paid",
             total: int = 1000, items: Mapping[str, int] | None = None, user: int = 7,
             latency: float = 100.0) -> list[Record]:
    asks: dict[str, Any] = {"idempotency_key": key, "user_id": user}
    if items is not None:
        asks["items"] = dict(items)
    value: dict[str, Any] = {"order_id": order, "status": status, "total_cents": total} if order else {}
    return call("checkout", t, outcome, latency, value=value, asks=asks)


def stored(order: str, key: str, *, status: str = "paid", total: int = 1000, items: Mapping[int, int] | None = None,
           items_total: int | None = None, charges: int = 1, user: int = 7) -> StoredOrder:
    return StoredOrder(order, user, key, status, total, dict(items or {42: 1}),
                       total if items_total is None else items_total, charges)
