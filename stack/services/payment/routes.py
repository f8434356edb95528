"""payment's API: idempotent charges. The UNIQUE constraint on payments.idempotency_key is the guarantee:
however many times (and however concurrently) a charge is retried, at most one row is ever written."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..common.app import Dependencies, deps
from ..common.db import Database
from ..common.errors import Conflict, NotFound

log = logging.getLogger("aarya.payment")
router = APIRouter(tags=["payments"])

MAX_INT4 = 2_147_483_647
COLUMNS = "id AS payment_id, order_id, amount_cents, status, idempotency_key, created_at"


class PaymentSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    payment_processor_latency_ms: float = 0.0


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class ChargeIn(BaseModel):
    order_id: UUID
    amount_cents: int = Field(gt=0, le=MAX_INT4)
    idempotency_key: str = Field(min_length=1, max_length=200)


class Payment(BaseModel):
    payment_id: UUID
    order_id: UUID
    amount_cents: int
    status: str
    idempotency_key: str
    created_at: datetime


class ChargeOut(Payment):
    replayed: bool = False


class PaymentList(BaseModel):
    items: list[Payment]


DepsParam = Annotated[Dependencies, Depends(deps)]
PROCESSOR = PaymentSettings()


@router.post("/payments", status_code=201)
def charge(body: ChargeIn, response: Response, d: DepsParam) -> ChargeOut:
    """201 for a new charge, 200 with replayed=true for a repeat, 409 if the key was used for another charge."""
    db = d.require_db()
    existing = _by_key(db, body.idempotency_key)
    if existing is None:
        _call_card_processor()
        created = _insert_or_get(db, body)
        if created.replayed is False:
            _log_charge(created)
            return created
        existing = created
    if existing.order_id != body.order_id or existing.amount_cents != body.amount_cents:
        log.warning(
            "payment rejected: idempotency_key=%s already used for order_id=%s amount_cents=%s",
            body.idempotency_key, existing.order_id, existing.amount_cents,
        )
        raise IdempotencyConflict(f"idempotency key {body.idempotency_key!r} was used for a different payment")
    response.status_code = 200
    replay = ChargeOut(**existing.model_dump(exclude={"replayed"}), replayed=True)
    _log_charge(replay)
    return replay


def _call_card_processor() -> None:
    """The simulated card network; runs outside any transaction so it holds no pooled connection."""
    if PROCESSOR.payment_processor_latency_ms > 0:
        time.sleep(PROCESSOR.payment_processor_latency_ms / 1000)


def _by_key(db: Database, key: str) -> ChargeOut | None:
    with db.connection() as conn:
        row = conn.execute(f"SELECT {COLUMNS} FROM payments WHERE idempotency_key = %s", (key,)).fetchone()
    return None if row is None else ChargeOut.model_validate(row)


def _insert_or_get(db: Database, body: ChargeIn) -> ChargeOut:
    """Insert the charge; if a concurrent request won the race, the winner's row (marked replayed)."""
    with db.connection() as conn:
        row = conn.execute(
            "INSERT INTO payments (order_id, idempotency_key, amount_cents, status) "
            f"VALUES (%s, %s, %s, 'captured') ON CONFLICT (idempotency_key) DO NOTHING RETURNING {COLUMNS}",
            (body.order_id, body.idempotency_key, body.amount_cents),
        ).fetchone()
        if row is not None:
            return ChargeOut.model_validate(row)
        # READ COMMITTED: this statement's snapshot includes the conflicting row, committed by now.
        row = conn.execute(
            f"SELECT {COLUMNS} FROM payments WHERE idempotency_key = %s", (body.idempotency_key,)
        ).fetchone()
    if row is None:
        raise RuntimeError(f"payment {body.idempotency_key!r} conflicted but cannot be read")
    return ChargeOut.model_validate({**row, "replayed": True})


def _log_charge(payment: ChargeOut) -> None:
    log.info(
        "payment %s idempotency_key=%s replayed=%s",
        "replayed" if payment.replayed else "captured",
        payment.idempotency_key,
        str(payment.replayed).lower(),
        extra={"payment_id": str(payment.payment_id), "order_id": str(payment.order_id),
               "amount_cents": payment.amount_cents, "idempotency_key": payment.idempotency_key,
               "replayed": payment.replayed},
    )


@router.get("/payments/{payment_id}")
def get_payment(payment_id: UUID, d: DepsParam) -> Payment:
    with d.require_db().connection() as conn:
        row = conn.execute(f"SELECT {COLUMNS} FROM payments WHERE id = %s", (payment_id,)).fetchone()
    if row is None:
        raise NotFound(f"payment {payment_id} not found")
    return Payment.model_validate(row)


@router.get("/payments")
def list_payments(order_id: Annotated[UUID, Query()], d: DepsParam) -> PaymentList:
    with d.require_db().connection() as conn:
        rows = conn.execute(
            f"SELECT {COLUMNS} FROM payments WHERE order_id = %s ORDER BY created_at LIMIT 100", (order_id,)
        ).fetchall()
    return PaymentList(items=[Payment.model_validate(row) for row in rows])
