"""Figures of the reference stack on this machine: cold start, warm restart, checkout throughput.

    python -m stack.bench [--seconds 20] [--workers 8] [--json out.json]

Not a test: it prints what it measured. Throughput is bounded in time and in requests, and goes only to the
gateway on loopback.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from stack.config import load_config
from stack.drivers.local.driver import LocalDriver
from stack.shoppers import register_shopper

MAX_REQUESTS = 200_000


@dataclass
class Figures:
    cold_start_s: float = 0.0
    warm_restart_s: dict[str, float] = field(default_factory=dict)
    checkout_journeys: int = 0
    checkout_failures: int = 0
    checkout_seconds: float = 0.0
    checkout_per_s: float = 0.0
    checkout_p50_ms: float = 0.0
    checkout_p95_ms: float = 0.0


def _checkout_loop(base: str, stop_at: float, latencies: list[float], failures: list[int], budget: list[int],
                   lock: threading.Lock) -> None:
    with httpx.Client(base_url=base, timeout=10) as client:
        auth = register_shopper(client, "bench", "benchmark password").auth
        product = 1 + uuid.uuid4().int % 2000
        while time.monotonic() < stop_at:
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            started = time.perf_counter()
            added = client.post("/cart/items", json={"product_id": product, "quantity": 1}, headers=auth)
            paid = client.post("/checkout", headers=auth) if added.status_code == 200 else added
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                (latencies.append(elapsed) if paid.status_code == 201 else failures.append(paid.status_code))


def measure_checkouts(base: str, seconds: float, workers: int, figures: Figures) -> None:
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()
    budget = [MAX_REQUESTS]
    stop_at = time.monotonic() + seconds
    threads = [threading.Thread(target=_checkout_loop, args=(base, stop_at, latencies, failures, budget, lock))
               for _ in range(workers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    figures.checkout_seconds = time.monotonic() - started
    figures.checkout_journeys = len(latencies)
    figures.checkout_failures = len(failures)
    figures.checkout_per_s = len(latencies) / figures.checkout_seconds
    if latencies:
        cuts = statistics.quantiles(latencies, n=20)
        figures.checkout_p50_ms, figures.checkout_p95_ms = statistics.median(latencies), cuts[18]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    config = load_config(run_dir="/tmp/aarya-chaos/bench")
    figures = Figures()
    driver = LocalDriver(config, fresh=True)
    started = time.monotonic()
    driver.start()
    try:
        figures.cold_start_s = time.monotonic() - started
        for name in ("commerce", "redis", "postgres"):
            began = time.monotonic()
            driver.restart(name)
            figures.warm_restart_s[name] = time.monotonic() - began
        measure_checkouts(f"{config.gateway_url}/api/v1", args.seconds, args.workers, figures)
    finally:
        driver.stop()
    print(json.dumps(asdict(figures), indent=2))
    if args.json:
        args.json.write_text(json.dumps(asdict(figures), indent=2))


if __name__ == "__main__":
    main()
