"""Realistic histories of N operations, generated (never stored) for the benchmarks.

The shape is a scenario's: shoppers (browse, product, search, cart, checkout with an idempotency key),
ledger writers (checkouts `<intent>/<attempt>` with items, a refusal starting the next attempt), three
health probes every 0.5 s, and one fault window. The fault covers the same fraction of the history at every
size (injected at 40 %, the stack back at 50 %), so a checker's work grows with N and nothing else: the
growth ratios of benchmarks/test_growth.py then compare like with like.

Rates are those of a loaded run (200 load ops/s), so 1M operations span about 80 minutes of monotonic time.
Deterministic: the same N and seed give the same history.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks.ledger import StoredOrder
from load.history import Op, Record

LOAD_OPS_PER_S = 200.0
PROBES = ("health:commerce", "health:payment", "health:gateway")
PROBE_INTERVAL_S = 0.5
USERS = 400
WRITERS = 8
PRODUCTS = 200
PRICE_CENTS = 1999
# (f, weight): the locustfile's task weights, plus the ledger writers' checkouts.
LOAD_MIX = (("browse", 4), ("product", 3), ("search", 2), ("view_cart", 2), ("add_to_cart", 2),
            ("checkout", 1), ("ledger_checkout", 2))
# (ok, fail) probabilities; the rest is info (unknown).
STEADY_ODDS = (0.995, 0.003)
FAULT_ODDS = (0.60, 0.30)
NEVER_COMPLETED = 0.0001   # an invoke whose worker died: pair_ops reads it as info
LOST_IN_FAULT = 0.01       # acknowledged checkouts in the fault window the database lost
UNKNOWN_HAPPENED = 0.5     # info checkouts that in fact made an order
WALL_OFFSET_S = 1_795_878_000.0  # wall clock minus monotonic, as on the machine of tests/data/sample-run


@dataclass(frozen=True)
class History:
    """A generated history and its ground truth (monotonic seconds)."""

    ops: list[Op]
    first: float
    injected: float
    landed: float
    detected: float
    recovery_started: float
    back: float          # when the generated stack works again (the checkers find the first probe after it)
    last: float          # just after the last invocation (exclusive end of the phases)
    stored: list[StoredOrder]

    @property
    def size(self) -> int:
        return len(self.ops)

    def key_rows(self) -> list[dict[str, Any]]:
        """The stored orders as a team's ledger query returns them (checks.write_ledger)."""
        return [{"idempotency_key": order.key, "id": order.order_id} for order in self.stored]


class _Writer:
    """A ledger writer's intent: a definite refusal starts the next attempt. An unknown answer ends the intent here
    (the real writer sends the same key again until it is answered; the platform then answers with the order
    of the first one, which this generator does not model: moving on keeps the history free of false
    duplicates)."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.intents = 0
        self.attempt = 1
        self.product = 1

    def key(self) -> str:
        return f"L{self.number}-{self.intents}/{self.attempt}"

    def answered(self, outcome: str, rng: random.Random) -> None:
        if outcome != "fail":
            self.intents, self.attempt, self.product = self.intents + 1, 1, rng.randint(1, PRODUCTS)
        elif outcome == "fail":
            self.attempt += 1


def generate(n: int, seed: int = 14) -> History:
    """A history of exactly `n` operations (load and probes)."""
    rng = random.Random(seed)
    probe_share = len(PROBES) / PROBE_INTERVAL_S / (LOAD_OPS_PER_S + len(PROBES) / PROBE_INTERVAL_S)
    span = n * (1 - probe_share) / LOAD_OPS_PER_S
    first = 1000.0
    injected, back = first + 0.4 * span, first + 0.5 * span
    dt = span / n
    names = [f for f, _ in LOAD_MIX]
    weights = [w for _, w in LOAD_MIX]
    writers = [_Writer(i) for i in range(WRITERS)]
    ops: list[Op] = []
    stored: list[StoredOrder] = []
    next_probe, probe_turn = first, 0
    for i in range(n):
        start = first + i * dt
        in_fault = injected <= start < back
        if start >= next_probe:
            f = PROBES[probe_turn % len(PROBES)]
            probe_turn += 1
            if probe_turn % len(PROBES) == 0:
                next_probe += PROBE_INTERVAL_S
            ok = not (in_fault and f == "health:commerce")
            latency = rng.uniform(1.0, 5.0)
            ops.append(Op(f"probe-{i}", f, "prober", start, start + latency / 1000, start + WALL_OFFSET_S,
                          "ok" if ok else "fail", round(latency, 3), 200 if ok else 503))
            continue
        f = rng.choices(names, weights)[0]
        ok_odds, fail_odds = FAULT_ODDS if in_fault else STEADY_ODDS
        draw = rng.random()
        outcome = "ok" if draw < ok_odds else "fail" if draw < ok_odds + fail_odds else "info"
        latency = rng.expovariate(1 / 8.0) if outcome != "info" else rng.uniform(5000.0, 10000.0)
        end: float | None = start + latency / 1000
        if rng.random() < NEVER_COMPLETED:
            outcome, end = "info", None
        user = rng.randrange(USERS)
        value: dict[str, Any] = {}
        if f in ("checkout", "ledger_checkout"):
            value, order = _checkout(f, i, user, outcome, start, end, in_fault, writers, rng)
            f = "checkout"
            if order is not None:
                stored.append(order)
        status = {"ok": 200, "fail": 503 if in_fault else 400, "info": None}[outcome]
        ops.append(Op(f"{user % 4}-{i}", f, f"w{user % 4}", start, end, start + WALL_OFFSET_S,
                      outcome,  # type: ignore[arg-type]
                      None if end is None else round(latency, 3), status, None if outcome == "ok" else "HTTP error",
                      value))
    last = ops[-1].start + 1e-6
    return History(ops, first, injected, injected + 0.2, injected + 1.0, injected + 0.05 * span, back, last, stored)


def _checkout(f: str, i: int, user: int, outcome: str, start: float, end: float | None, in_fault: bool,
              writers: list[_Writer], rng: random.Random) -> tuple[dict[str, Any], StoredOrder | None]:
    """The value of a checkout op, and the order the database holds for it (None: no order)."""
    if f == "ledger_checkout":
        writer = writers[i % WRITERS]
        key, quantity = writer.key(), 1 + i % 3
        items = {writer.product: quantity}
        value: dict[str, Any] = {"idempotency_key": key, "user_id": USERS + writer.number, "intent": key.split("/")[0],
                                 "items": {str(writer.product): quantity}}
        writer.answered(outcome, rng)
        user = USERS + writer.number
    else:
        key, items = f"k{i}", {1 + i % PRODUCTS: 1}
        value = {"idempotency_key": key, "user_id": user}
    total = PRICE_CENTS * sum(items.values())
    order_id = f"o{i}"
    if outcome == "ok":
        value.update(order_id=order_id, status="paid", total_cents=total)
        if in_fault and rng.random() < LOST_IN_FAULT:
            return value, None
    elif outcome == "fail" or rng.random() >= UNKNOWN_HAPPENED:
        return value, None
    return value, StoredOrder(order_id, int(value["user_id"]), key, "paid", total, items, total, 1)


def records(history: History) -> Iterator[Record]:
    """The records the writers would have written for `history`'s ops: an invoke and its completion (none for an
    op that never completed), ordered by monotonic time as `read_records` returns them."""
    found: list[Record] = []
    for op in history.ops:
        asks = {k: v for k, v in op.value.items() if k in ("idempotency_key", "user_id", "intent", "items")}
        found.append(Record("invoke", op.f, op.start_time, op.start, id=op.id, process=op.process, value=asks or None))
        if op.end is not None:
            answer = {k: v for k, v in op.value.items() if k not in asks}
            found.append(Record(op.outcome, op.f, op.start_time + (op.end - op.start), op.end, id=op.id,
                                process=op.process, latency_ms=op.latency_ms, status=op.status, error=op.error,
                                value=answer or None))
    found.sort(key=lambda r: r.mono)
    return iter(found)


def write_jsonl(history: History, path: Path) -> Path:
    """`history` as one JSONL history file (what `read_records` reads), written with plain json.dumps."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records(history):
            data = {k: v for k, v in record.__dict__.items() if v is not None}
            handle.write(json.dumps(data, separators=(",", ":")) + "\n")
    return path
