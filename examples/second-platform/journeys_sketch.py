"""Journeys on pretix, the second platform: create one order through the REST API, read it back.

A sketch of what load/ would drive (httpx, as the project's own load generator uses; a locust user
would make the same two calls). Every order carries a client-chosen order code, which is
  * the ledger key: pretix stores it as pretixbase_order.code, unique per organizer by a database
    constraint (order_organizer_code_uniq), so a lost-then-retried write can never make two orders;
  * echoed by X-Idempotency-Key: pretix's IdempotencyMiddleware replays the stored response of a
    key it has seen (201 and the same body), deletes the key when the first answer was 409/429/500/503
    so that a retry runs again, and answers 409 "Concurrent request with idempotency key" while the
    first request holds it.

As a script it is the small load loop used for the README's rate figures:

    python journeys_sketch.py --base http://127.0.0.1:26080 --token <token> --item 1 \
        --seconds 20 --concurrency 4 --tag AB
Prints one JSON line: attempts, created, errors by kind, orders/s, latency percentiles, and the codes
it believes were created (acknowledged 201) so a ledger can compare them with the database.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections import Counter

import httpx

# pretix order codes: 5..16 characters from this alphabet (pretix.api.serializers.order.validate_code)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ1234567890"


def order_code(tag: str, n: int) -> str:
    """A run tag (2 letters from CODE_ALPHABET) + an 8-digit counter: 10 characters, unique per run."""
    assert all(c in CODE_ALPHABET for c in tag)
    return f"{tag}{n:08d}"


def create_order(client: httpx.Client, organizer: str, event: str, item: int, code: str) -> httpx.Response:
    """Journey 1, the write: POST one pending order (manual payment) with one ticket position."""
    body = {
        "code": code,
        "email": f"{code.lower()}@example.org",
        "locale": "en",
        "sales_channel": "web",
        "payment_provider": "manual",
        "send_email": False,
        "positions": [{"item": item, "price": "10.00",
                       "attendee_name_parts": {"full_name": f"Load {code}"}}],
    }
    return client.post(f"/api/v1/organizers/{organizer}/events/{event}/orders/", json=body,
                       headers={"X-Idempotency-Key": f"order-{code}"})


def read_order(client: httpx.Client, organizer: str, event: str, code: str) -> httpx.Response:
    """Journey 2, the read-back: GET the order by its code (200 with status "n" = pending)."""
    return client.get(f"/api/v1/organizers/{organizer}/events/{event}/orders/{code}/")


def health(client: httpx.Client) -> httpx.Response:
    """pretix's /healthcheck/: one DB query, a Redis SET+EXISTS, a cache set/get."""
    return client.get("/healthcheck/")


def make_client(base: str, token: str, timeout: float = 10.0) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=timeout,
                        headers={"Authorization": f"Token {token}", "Accept": "application/json"})


def _load(args: argparse.Namespace) -> dict:
    lock = threading.Lock()
    counter = iter(range(1, 10**8))
    lat: list[float] = []
    errors: Counter = Counter()
    created: list[str] = []
    deadline = time.monotonic() + args.seconds

    def worker() -> None:
        with make_client(args.base, args.token) as c:
            while time.monotonic() < deadline:
                with lock:
                    code = order_code(args.tag, next(counter))
                t0 = time.monotonic()
                try:
                    r = create_order(c, args.organizer, args.event, args.item, code)
                    kind = str(r.status_code)
                except httpx.HTTPError as e:
                    kind = type(e).__name__
                dt = time.monotonic() - t0
                with lock:
                    lat.append(dt)
                    if kind == "201":
                        created.append(code)
                    else:
                        errors[kind] += 1
                if args.read_back and kind == "201":
                    rr = read_order(c, args.organizer, args.event, code)
                    if rr.status_code != 200:
                        with lock:
                            errors[f"read-{rr.status_code}"] += 1

    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    t_start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t_start
    lat.sort()

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else 0.0

    return {"attempts": len(lat), "created": len(created), "errors": dict(errors),
            "elapsed_s": round(elapsed, 2), "orders_per_s": round(len(created) / elapsed, 2),
            "latency_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99), "max": pct(1.0),
                           "mean": round(statistics.fmean(lat) * 1000, 1) if lat else 0.0},
            "codes": created if args.codes else len(created)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="http://127.0.0.1:26080")
    ap.add_argument("--token", required=True)
    ap.add_argument("--organizer", default="aarya")
    ap.add_argument("--event", default="chaos")
    ap.add_argument("--item", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--tag", default="AB")
    ap.add_argument("--read-back", action="store_true")
    ap.add_argument("--codes", action="store_true", help="print every acknowledged code")
    print(json.dumps(_load(ap.parse_args())))
