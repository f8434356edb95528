"""pretix's journeys: shoppers creating orders through pretix's REST API, every order in the run's write ledger.

The second platform's own load (examples/second-platform/pretix.toml names it; docs/journeys.md is the API).
By hand, from the aarya-chaos checkout, with pretix up (run_local.py start DIR):

    export PRETIX_API_TOKEN=$(sed -n 's/^AARYA_API_TOKEN=//p' DIR/secrets.env)
    AARYA_HISTORY_DIR=/tmp/pretix-history PYTHONPATH=. .venv/bin/locust \\
        -f examples/second-platform/locustfile.py --headless -u 4 -r 4 -t 20s --host http://127.0.0.1:26080

Settings (environment): PRETIX_API_TOKEN (or AARYA_API_TOKEN, as setup_pretix.py reads it), PRETIX_ORGANIZER
("aarya"), PRETIX_EVENT ("chaos"), PRETIX_ITEM (the item id; default: the event's item named "Ticket", looked
up once), PRETIX_LOAD_EMAIL ("chaos-load@example.org": every order's e-mail; the ledger query scopes phantoms by it).

The write, `order` in the history (the profile's ledger `op`), its key the ORDER CODE:
    POST /api/v1/organizers/<org>/events/<event>/orders/   {"code": <code>, ...}   X-Idempotency-Key: order-<code>
The code is the client's choice (12 characters of pretix's alphabet, random) and unique per organizer in the
database (order_organizer_code_uniq): a retry with the same code can never make a second order, whatever the
idempotency key did. The ledger query finds orders by code (pretix.toml).

What each answer means here (pretix's, not the default rule everywhere: docs/journeys.md allows a team its own):

    201                        acknowledged (ok)
    409 (with Retry-After)     unknown (info), retried with the SAME code after Retry-After (capped at 5 s).
                               pretix answers 409 for two things: "Concurrent request with idempotency key" (the
                               first request with this key is still running, or was cut off between the key's
                               lock and its unlock, e.g. a PostgreSQL crash: it may have committed) and "server too
                               busy" (its advisory-lock timeout, rolled back). Telling them apart by the body text
                               is brittle; both are retried, and an uncertain outcome is never a `fail`.
    400 "already in use"       unknown (info): a retry of this code found the order an earlier, unanswered attempt
                               stored. Not a refusal (the write happened); the retry stops.
    other 4xx                  refused (fail): certainly not stored (validation, auth, 429 rate limit); the next
                               order gets a new code.
    5xx, timeout, no answer    unknown (info), retried with the same code.

Before each retry the shopper first GETs the order by its code: 200 means an unanswered attempt was stored (the
retry stops: nothing is written twice); 404 means it was not (yet), so the POST is sent again. pretix keeps an
idempotency key locked if PostgreSQL died between the key's lock and its unlock (README.md, "Caveat"), so after
three 409s in a row with the order still absent the retry takes a new idempotency key for the same code; the
code still guards against a second order.

The read: GET the order by code (a shopper's own acknowledged orders), and the event's order list (page 1).
Reads are locust requests only, never in the ledger. Bounded by locust's -t; the host is locust's --host.
"""

from __future__ import annotations

import os
import random
import re
from typing import Any

import gevent
from locust import FastHttpUser, between, task

from load.journeys import ledger

#: The write's name in the history: pretix.toml's [ledger] op.
ORDER = "order"
#: pretix's order-code alphabet (pretix.api.serializers.order: no I, no O); a code is 5-16 of these.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ1234567890"
CODE_LENGTH = 12
ORGANIZER = os.environ.get("PRETIX_ORGANIZER", "aarya")
EVENT = os.environ.get("PRETIX_EVENT", "chaos")
LOAD_EMAIL = os.environ.get("PRETIX_LOAD_EMAIL", "chaos-load@example.org")
ORDERS = f"/api/v1/organizers/{ORGANIZER}/events/{EVENT}/orders/"
ITEMS = f"/api/v1/organizers/{ORGANIZER}/events/{EVENT}/items/"
#: consecutive 409s (order still absent) before an unknown order's retry takes a new idempotency key
LOCKED_KEY_AFTER = 3
MAX_RETRY_AFTER_S = 5.0

_item_id: int | None = int(os.environ["PRETIX_ITEM"]) if os.environ.get("PRETIX_ITEM") else None


def new_code() -> str:
    return "".join(random.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def api_token() -> str:
    token = os.environ.get("PRETIX_API_TOKEN") or os.environ.get("AARYA_API_TOKEN")
    if not token:
        raise RuntimeError("set PRETIX_API_TOKEN (run_local.py prints how; setup_pretix.py prints token=...)")
    return token


class Unknown:
    """An order whose outcome is unknown: its code is sent again until a definite answer."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.generation = 0  # the idempotency key's suffix; bumped when pretix keeps the key locked
        self.conflicts = 0   # consecutive 409s with the order absent

    @property
    def idempotency_key(self) -> str:
        return f"order-{self.code}" if self.generation == 0 else f"order-{self.code}-{self.generation}"


class Shopper(FastHttpUser):
    wait_time = between(0.2, 1.0)
    network_timeout = 10.0
    connection_timeout = 3.0

    def on_start(self) -> None:
        self.headers = {"Authorization": f"Token {api_token()}", "Accept": "application/json"}
        self.unknown: Unknown | None = None
        self.codes: list[str] = []  # this shopper's acknowledged (or found stored) orders

    # --- the write ----------------------------------------------------------------------------------------

    @task(3)
    def create_order(self) -> None:
        item = self.item()
        if item is None:
            return
        if self.unknown is not None and self.already_stored(self.unknown.code):
            self.codes.append(self.unknown.code)
            self.unknown = None
        pending = self.unknown or Unknown(new_code())
        code = pending.code
        body = {
            "code": code, "email": LOAD_EMAIL, "locale": "en", "sales_channel": "web",
            "payment_provider": "manual", "send_email": False,
            "positions": [{"item": item, "price": "10.00"}],
        }
        headers = {**self.headers, "X-Idempotency-Key": pending.idempotency_key}
        retry_after = 0.0
        # the block records `unknown` if anything raises before an outcome (GreenletExit when locust stops)
        with ledger.write(ORDER, key=code, value={"item": item, "attempt_key": pending.idempotency_key}) as write, \
                self.client.post(ORDERS, json=body, headers=headers, name="POST orders",
                                 catch_response=True) as response:
            status = response.status_code or 0
            text = _text(response)
            if status == 201:
                answer = _json(response) or {}
                write.acknowledged(status=201, value={"order": answer.get("code", code),
                                                      "total": answer.get("total")})
                response.success()
                self.codes.append(code)
                self.unknown = None
            elif status == 409:
                write.unknown(status=409, error=f"409 {text[:120]}")
                response.failure(f"unknown: 409 {text[:80]}")
                retry_after = min(_retry_after(response), MAX_RETRY_AFTER_S)
                pending.conflicts += 1
                self.unknown = pending
            elif status == 400 and "already in use" in text:
                write.unknown(status=400, error="400 code already in use: an earlier attempt of this code stored it")
                response.failure("unknown: 400 code already in use (stored by an earlier attempt)")
                self.codes.append(code)
                self.unknown = None
            elif 400 <= status < 500:
                write.refused(status=status, error=f"{status} {text[:120]}")
                response.failure(f"refused: {status} {text[:80]}")
                self.unknown = None
            else:  # 5xx, any other status, no answer (status 0: timeout, refused or reset connection)
                error = f"{status} {text[:120]}" if status else f"no answer: {getattr(response, 'error', None)}"
                write.unknown(status=status or None, error=error)
                response.failure(f"unknown: {error[:80]}")
                pending.conflicts = 0
                self.unknown = pending
        if self.unknown is not None and self.unknown.conflicts >= LOCKED_KEY_AFTER:
            # still absent after repeated 409s: pretix kept the key locked; the code alone prevents a double
            self.unknown.generation += 1
            self.unknown.conflicts = 0
        if retry_after:
            gevent.sleep(retry_after)

    def already_stored(self, code: str) -> bool:
        """Before a retry: is the order with this code there? (200 yes; 404 no; anything else: not known, retry.)"""
        with self.client.get(f"{ORDERS}{code}/", headers=self.headers, name="GET order (before retry)",
                             catch_response=True) as response:
            if response.status_code in (200, 404):
                response.success()
            return response.status_code == 200

    # --- the reads ----------------------------------------------------------------------------------------

    @task(2)
    def read_order(self) -> None:
        if self.codes:
            code = random.choice(self.codes[-20:])
            self.client.get(f"{ORDERS}{code}/", headers=self.headers, name="GET order")

    @task(1)
    def list_orders(self) -> None:
        self.client.get(f"{ORDERS}?ordering=-datetime&page=1", headers=self.headers, name="GET orders")

    def item(self) -> int | None:
        """The event's item named "Ticket" (PRETIX_ITEM overrides), looked up once per process."""
        global _item_id
        if _item_id is None:
            with self.client.get(ITEMS, headers=self.headers, name="GET items", catch_response=True) as response:
                for found in (_json(response) or {}).get("results", []):
                    if "Ticket" in (found.get("name") or {}).values():
                        _item_id = int(found["id"])
                        break
                else:
                    response.failure(f"no item named Ticket ({response.status_code})")
                    gevent.sleep(1)
        return _item_id


def _json(response: Any) -> dict | None:
    try:
        answer = response.json()
    except Exception:  # noqa: BLE001 - an unreadable body is no answer
        return None
    return answer if isinstance(answer, dict) else None


def _text(response: Any) -> str:
    """The body, short: an HTML error page by its <title>, whitespace collapsed."""
    try:
        text = response.text or ""
    except Exception:  # noqa: BLE001
        return ""
    title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    return " ".join((title.group(1) if title else text).split())


def _retry_after(response: Any) -> float:
    try:
        return float(response.headers.get("Retry-After") or 1)
    except (TypeError, ValueError, AttributeError):
        return 1.0
