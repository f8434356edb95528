"""A synthetic write of a team's own, as a health probe: every `interval_s` one request (method, path, JSON
body with `{unique}` replaced by a fresh id, headers from environment variables) to the journeys' host,
recorded as `health:<name>` when it ends, ok on an accepted status within `slo_s`. Steady state then
includes the write; 7.1's checkout probe does the same with the reference's cart and checkout."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from fixtures.scenario import ScenarioRun
from load.history import HistoryWriter

MAX_IN_FLIGHT = 4  # attempts overlap while the platform is slow; more than this are not sent


def fresh(value: Any, unique: str) -> Any:
    """`value` with every `{unique}` in its text replaced."""
    if isinstance(value, str):
        return value.replace("{unique}", unique)
    if isinstance(value, list):
        return [fresh(v, unique) for v in value]
    if isinstance(value, dict):
        return {k: fresh(v, unique) for k, v in value.items()}
    return value


def journeys_host(run: ScenarioRun) -> str:
    if run.target is not None and run.target.journeys.host:
        return run.target.journeys.host.rstrip("/")
    return f"{run.stack.config.gateway_url}/api/v1"


def send_write(host: str, method: str, path: str, *, json: Mapping[str, Any] | None,
               headers_env: Mapping[str, str], timeout_s: float) -> httpx.Response:
    """One write to `host`: headers from the environment variables named, `{unique}` in the JSON made fresh.
    Raises httpx.HTTPError when no answer came."""
    headers = {header: os.environ.get(variable, "") for header, variable in headers_env.items()}
    body = fresh(json, uuid.uuid4().hex[:10].upper()) if json is not None else None
    return httpx.request(method, f"{host.rstrip('/')}/{path.lstrip('/')}", json=body, headers=headers,
                         timeout=timeout_s)


def record_attempt(history: HistoryWriter, f: str, process: str, started: float, status: int | None,
                   error: str | None) -> None:
    """A synthetic attempt as an observation at its end (`took_ms` in its value): what it saw then, not when
    it was sent."""
    took_ms = round((time.monotonic() - started) * 1000, 1)
    op = history.invoke(f, process=process)
    history.complete(op, f, "fail" if error else "ok", status=status, error=error, value={"took_ms": took_ms},
                     process=process)


class RequestProbe:
    def __init__(self, run: ScenarioRun, *, name: str, method: str, path: str, accept: list[int],
                 json: Mapping[str, Any] | None = None, headers_env: Mapping[str, str] | None = None,
                 interval_s: float = 1.0, slo_s: float = 2.5) -> None:
        self.run, self.name, self.method, self.accept = run, name, method, set(accept)
        self.host, self.path = journeys_host(run), path
        self.json, self.headers_env = json, dict(headers_env or {})
        self.interval_s, self.slo_s = interval_s, slo_s
        self._slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)
        self._pool = ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT, thread_name_prefix=f"aarya-probe-{name}")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"aarya-probe-{name}", daemon=True)

    def __enter__(self) -> RequestProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self._slots.acquire(timeout=self.interval_s):
                self._pool.submit(self._attempt)
            self._stop.wait(self.interval_s)

    def _attempt(self) -> None:
        started = time.monotonic()
        status: int | None = None
        try:
            response = send_write(self.host, self.method, self.path, json=self.json, headers_env=self.headers_env,
                                  timeout_s=self.slo_s)
            status = response.status_code
            error = None if status in self.accept else (response.text[:200] or f"HTTP {status}")
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
        finally:
            self._slots.release()
        record_attempt(self.run.history, f"health:{self.name}", f"probe-{self.name}", started, status, error)
