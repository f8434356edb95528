"""The write ledger, reconciled: every write the history asked for, against what the database holds.

A pure function over two inputs, after Jepsen's checkers:

  - the history's writes: every op whose value names an `idempotency_key` (the load's checkouts, the ledger
    writer's). Its invoke says what was asked (the key, the user, for the writer the items); its completion
    what the client was told (`ok` with an order id: acknowledged; `fail`: certainly not done; `info`: unknown);
  - the orders PostgreSQL holds for the users of those writes (`StoredOrder`, read straight, as the
    superuser, after the scenario).

An INTENT is what one shopper meant to buy once: the part of the key before its last `/` (the writer's keys
are `<intent>/<attempt>`: it starts a new attempt only after a definite refusal), or the whole key (a
shopper's key is its intent). Findings:

    lost                  acknowledged, and not in the database
    phantom               in the database under a key nobody ever sent
    duplicate             more than one order for one intent (a refusal that was not one, or a key ignored)
    charged twice         more than one captured payment for one order
    mismatched            an acknowledged order whose status, total or items differ from what was answered
                          (or asked), or whose total is not the sum of its items
    failed but happened   a key every write of which was answered "certainly not done", in the database
    unknown, resolved     each `info` write looked up: it happened, or it did not (never a finding)

RPO (`Reconciliation.rpo_s`), as a database engineer means it: how far back in time the acknowledged data
that survived reaches, at the moment of failure F: the age at F of the oldest acknowledged write that was
lost, F - ack. Only writes acknowledged at or before F count (at least `RPO_RESOLUTION_S`, so a loss never
reads 0); 0 when none was lost. Writes acknowledged after F and lost form the EXPOSURE window, reported
apart (a rollback to before F must drop them; after a crash there should be none).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from load.history import Op

RPO_RESOLUTION_S = 0.001

PAID, PENDING, PAYMENT_FAILED = "paid", "pending_payment", "payment_failed"
# What an acknowledged order may be found as, by the status it was acknowledged with: a pending order is
# paid later by the reconciler.
STATUS_MAY_BECOME = {PAID: {PAID}, PENDING: {PENDING, PAID}, PAYMENT_FAILED: {PAYMENT_FAILED}}


@dataclass(frozen=True)
class StoredOrder:
    """One order as PostgreSQL holds it: its items (product id -> quantity), the sum of its items' prices
    and the number of captured payments for it."""

    order_id: str
    user_id: int
    key: str
    status: str
    total_cents: int
    items: Mapping[int, int]
    items_total_cents: int
    charges: int


@dataclass(frozen=True)
class LedgerWrite:
    """One write of the history: what it asked for and what it was told."""

    key: str
    user_id: int | None
    outcome: str
    start: float
    end: float | None
    order_id: str | None
    status: str | None
    total_cents: int | None
    items: Mapping[int, int] | None

    @property
    def intent(self) -> str:
        return intent_of(self.key)

    @property
    def acknowledged(self) -> bool:
        """Answered with an order that exists: ok with an order id (a declined payment, 402, names its
        order too: the order exists as payment_failed)."""
        return self.order_id is not None and (self.outcome == "ok" or self.status == PAYMENT_FAILED)


@dataclass(frozen=True)
class Reconciliation:
    """What the ledger found; see the module docstring. Times are monotonic seconds."""

    judged: int
    acknowledged: Mapping[str, float]
    lost: tuple[tuple[str, float], ...]
    failure_at: float
    phantoms: tuple[str, ...]
    duplicates: Mapping[str, tuple[str, ...]]
    charged_twice: Mapping[str, int]
    mismatched: tuple[tuple[str, str], ...]
    failed_but_happened: tuple[str, ...]
    unknown_happened: int
    unknown_did_not_happen: int
    stored: int = 0
    mismatched_after_failure: tuple[str, ...] = ()  # of `mismatched`, the orders acknowledged after F
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def lost_before_failure(self) -> tuple[tuple[str, float], ...]:
        return tuple(item for item in self.lost if item[1] <= self.failure_at)

    @property
    def exposure(self) -> tuple[tuple[str, float], ...]:
        """Lost writes acknowledged after the failure moment."""
        return tuple(item for item in self.lost if item[1] > self.failure_at)

    @property
    def rpo_s(self) -> float:
        return recovery_point_age(at for _, at in self.lost)(self.failure_at)

    @property
    def exposure_s(self) -> float:
        """From the failure moment to the last acknowledgement that was lost after it (0 when none)."""
        after = self.exposure
        return max((at for _, at in after), default=self.failure_at) - self.failure_at

    def summary(self) -> dict[str, Any]:
        """The figures for a record (ids cut to a few examples)."""
        return {
            "writes_judged": self.judged, "acknowledged": len(self.acknowledged), "stored_orders": self.stored,
            "lost": len(self.lost), "lost_before_failure": len(self.lost_before_failure),
            "exposure": len(self.exposure), "exposure_s": round(self.exposure_s, 3), "rpo_s": round(self.rpo_s, 3),
            "phantoms": len(self.phantoms), "duplicate_intents": len(self.duplicates),
            "charged_twice": len(self.charged_twice), "mismatched": len(self.mismatched),
            "failed_but_happened": len(self.failed_but_happened),
            "unknown_resolved": {"happened": self.unknown_happened, "did_not_happen": self.unknown_did_not_happen},
            "examples": {
                "lost": [i for i, _ in self.lost[:5]], "phantoms": list(self.phantoms[:5]),
                "duplicates": {k: list(v) for k, v in list(self.duplicates.items())[:3]},
                "charged_twice": dict(list(self.charged_twice.items())[:5]),
                "mismatched": [f"{i}: {why}" for i, why in self.mismatched[:5]],
                "failed_but_happened": list(self.failed_but_happened[:5]),
            },
        }


def recovery_point_age(lost_acks: Iterable[float]) -> Callable[[float], float]:
    """Given the acknowledgement times of the lost writes: the RPO at a failure moment, i.e. the failure
    moment minus the oldest of them acknowledged at or before it (at least RPO_RESOLUTION_S); 0 when none."""
    times = sorted(lost_acks)

    def at(failure_at: float) -> float:
        if not times or times[0] > failure_at:
            return 0.0
        return max(failure_at - times[0], RPO_RESOLUTION_S)

    return at


def intent_of(key: str) -> str:
    """The intent of an idempotency key: the part before its last `/`, or the key itself."""
    return key.rsplit("/", 1)[0] if "/" in key else key


def refused_keys(outcomes: Iterable[tuple[str, str]]) -> set[str]:
    """The keys certainly not done, of (key, outcome) pairs (an acknowledged write's outcome "ok"): those every
    write of which was refused. A refused attempt retried with the same key (after a new login, say) may have
    been done by the retry."""
    seen: dict[str, set[str]] = defaultdict(set)
    for key, outcome in outcomes:
        seen[key].add(outcome)
    return {key for key, kinds in seen.items() if kinds == {"fail"}}


def _int(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def _items(value: Any) -> dict[int, int] | None:
    if not isinstance(value, Mapping):
        return None
    items = {_int(k): _int(v) for k, v in value.items()}
    return {k: v for k, v in items.items() if k is not None and v is not None}


def writes(ops: Iterable[Op]) -> list[LedgerWrite]:
    """Every op whose value names an idempotency key, as a ledger write, in invocation order."""
    found = []
    for op in ops:
        key = op.value.get("idempotency_key")
        if not isinstance(key, str) or not key:
            continue
        order_id = op.value.get("order_id")
        found.append(LedgerWrite(
            key=key, user_id=_int(op.value.get("user_id")), outcome=op.outcome, start=op.start, end=op.end,
            order_id=None if order_id is None else str(order_id),
            status=op.value.get("status") if isinstance(op.value.get("status"), str) else None,
            total_cents=_int(op.value.get("total_cents")), items=_items(op.value.get("items"))))
    return sorted(found, key=lambda w: w.start)


def ledger_users(ops: Iterable[Op]) -> set[int]:
    """The users whose orders the ledger judges: every user a write of the history names, and every user
    the load registered or logged in (their orders must all come from the history's writes)."""
    users: set[int] = set()
    for op in ops:
        user = _int(op.value.get("user_id"))
        if user is not None and (op.value.get("idempotency_key") or op.outcome == "ok"):
            users.add(user)
    return users


def _mismatch(write: LedgerWrite, order: StoredOrder) -> str | None:
    if write.status is not None and order.status not in STATUS_MAY_BECOME.get(write.status, {write.status}):
        return f"acknowledged {write.status}, stored {order.status}"
    if write.total_cents is not None and write.total_cents != order.total_cents:
        return f"acknowledged total {write.total_cents}, stored {order.total_cents}"
    if order.total_cents != order.items_total_cents:
        return f"total {order.total_cents} is not the sum of its items, {order.items_total_cents}"
    if write.items is not None and dict(write.items) != dict(order.items):
        return f"asked for items {dict(write.items)}, stored {dict(order.items)}"
    return None


def reconcile(history_writes: Sequence[LedgerWrite], stored: Sequence[StoredOrder], *,
              failure_at: float, cut_at: float | None = None) -> Reconciliation:
    """Reconcile the history's writes with the stored orders of their users (module docstring).

    The load may still run while the database is read: read the database first, from `cut_at` on, and the
    history after it. Then every stored order's write was invoked before the history was read (no false
    phantom), and only acknowledgements received before `cut_at` are judged (an order acknowledged later
    may have committed after the database was read)."""
    by_id = {order.order_id: order for order in stored}
    stored_keys = {order.key for order in stored}
    acknowledged: dict[str, float] = {}
    asked_for: dict[str, LedgerWrite] = {}
    for write in history_writes:
        at = write.end if write.end is not None else write.start
        if cut_at is not None and at >= cut_at:
            continue
        if write.acknowledged and write.order_id is not None:
            acknowledged[write.order_id] = min(at, acknowledged.get(write.order_id, at))
            asked_for.setdefault(write.order_id, write)
    lost = tuple(sorted(((i, at) for i, at in acknowledged.items() if i not in by_id), key=lambda x: x[1]))
    sent = {write.key for write in history_writes}
    per_intent: dict[str, list[str]] = defaultdict(list)
    for order in stored:
        per_intent[intent_of(order.key)].append(order.order_id)
    mismatched = []
    for order_id, write in asked_for.items():
        found = by_id.get(order_id)
        problem = None if found is None else _mismatch(write, found)
        if problem is not None:
            mismatched.append((order_id, problem))
    unknown = [w for w in history_writes if w.outcome == "info" and not w.acknowledged]
    happened = sum(1 for w in unknown if w.key in stored_keys)
    refused = refused_keys((w.key, "ok" if w.acknowledged else w.outcome) for w in history_writes)
    failed = [key for key in refused if key in stored_keys]
    return Reconciliation(
        judged=len(acknowledged), acknowledged=acknowledged, lost=lost, failure_at=failure_at,
        phantoms=tuple(sorted(o.order_id for o in stored if o.key not in sent)),
        duplicates={intent: tuple(sorted(ids)) for intent, ids in sorted(per_intent.items()) if len(ids) > 1},
        charged_twice={o.order_id: o.charges for o in sorted(stored, key=lambda o: o.order_id) if o.charges > 1},
        mismatched=tuple(sorted(mismatched)),
        failed_but_happened=tuple(sorted(failed)),
        unknown_happened=happened, unknown_did_not_happen=len(unknown) - happened, stored=len(stored),
        mismatched_after_failure=tuple(sorted(i for i, _ in mismatched if acknowledged[i] > failure_at)))
