"""The consumer-group worker: reads the three event streams, writes their effects, acknowledges.

At-least-once, with idempotent effects::

    XREADGROUP GROUP content_services <me> COUNT n BLOCK 1000 STREAMS user_events order_events analytics_events > > >
    for each message:  sleep cost_ms;  one transaction: event_deliveries row + effect (ON CONFLICT DO NOTHING);
                       COMMIT;  XACK

A crash between COMMIT and XACK redelivers the message: a second event_deliveries row (counted as a
duplicate), no second effect.

Recovery, all inside the one daemon thread, which never exits on an error:

* Any error (Redis or PostgreSQL down, slow, or a bug) is logged at ERROR, followed by a capped,
  jittered backoff (0.1 s doubling to 5 s). The thread then carries on by itself.
* After an error, a pause, or at start, the worker first re-reads its OWN pending entries (the history,
  id ``0``), so a message whose transaction failed is retried before new ones are read.
* A missing group (NOGROUP: the stream was deleted or Redis lost its data) is recreated from id ``0``.
* Every ~5 s, ``XAUTOCLAIM ... <consumer_claim_idle_ms> 0-0`` takes over entries another consumer has left
  pending for that long (it died), and processes them. Entries trimmed from the stream before anybody
  processed them come back as deleted ids (or as entries without fields): logged and acknowledged.
* A message that PostgreSQL rejects for its data (psycopg.DataError) is retried 3 times, then logged at
  ERROR and acknowledged (dropped), so one bad message cannot stop the stream.

The read size shrinks when the per-message cost is high, so a batch is always processed well within the
claim idle time: a live consumer's entries are never claimed from under it.

Its own Redis client: XREADGROUP blocks for up to a second, which the shared client's 0.5 s socket
timeout would turn into errors. This client's socket timeout is the block time plus a margin.
"""

from __future__ import annotations

import logging
import os
import random
import re
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from stack.services.common.db import Database
from stack.services.common.settings import ServiceSettings

from .effects import STREAMS, plan_effect

__all__ = ["GROUP", "ContentSettings", "Worker"]

GROUP = "content_services"

log = logging.getLogger("aarya.content_services")


class ContentSettings(ServiceSettings):
    """ServiceSettings plus the worker's own knobs (environment variables of the same names)."""

    consumer_block_ms: int = 1000
    consumer_batch_size: int = 20
    consumer_claim_interval_s: float = 5.0
    consumer_lag_check_interval_s: float = 5.0
    consumer_lag_warn: int = 100
    """Log "consumer lag behind" at WARNING when a stream's lag + pending exceeds this."""
    consumer_max_attempts: int = 3
    """Attempts on a message PostgreSQL rejects for its data before it is dropped."""


@dataclass
class Counters:
    processed: int = 0
    duplicates: int = 0
    """Processed messages whose effect already existed (redeliveries)."""
    errors: int = 0
    claimed: int = 0
    deleted: int = 0
    """Pending entries found trimmed from the stream before they were processed; acknowledged."""
    dropped: int = 0
    last_error: str | None = None
    per_stream: dict[str, int] = field(default_factory=lambda: {name: 0 for name in STREAMS})


class _Backoff:
    def __init__(self, base_s: float = 0.1, cap_s: float = 5.0) -> None:
        self.base_s, self.cap_s, self.attempt = base_s, cap_s, 0

    def next(self) -> float:
        delay = min(self.cap_s, self.base_s * 2**self.attempt)
        self.attempt = min(self.attempt + 1, 16)
        return random.uniform(delay / 2, delay)

    def reset(self) -> None:
        self.attempt = 0


class _Interrupted(Exception):
    """Stop or pause requested in the middle of a batch."""


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Worker:
    def __init__(self, settings: ContentSettings, db: Database) -> None:
        if not settings.redis_url:
            raise ValueError("content_services needs REDIS_URL")
        self.settings = settings
        self.db = db
        self.consumer = settings.consumer_name or default_consumer_name()
        self.cost_ms = max(0.0, settings.consumer_cost_ms)
        self.counters = Counters()
        self.redis: redis.Redis = redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.consumer_block_ms / 1000 + 1.5,
            socket_connect_timeout=max(settings.redis_socket_timeout_s, 1.0),
            retry=Retry(NoBackoff(), 0),
            max_connections=2,
            health_check_interval=0,
            decode_responses=True,
            protocol=2,
            # CLIENT SETNAME refuses spaces: a bad name must not make every connection fail.
            client_name="content_services:" + re.sub(r"[^A-Za-z0-9_.:@-]", "_", self.consumer),
        )
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="content-consumer", daemon=True)
        self._groups_ready = False
        self._own_pending = True
        self._attempts: dict[tuple[str, str], int] = {}
        self._next_claim = 0.0
        self._next_lag_check = 0.0
        self.last_lag: dict[str, dict[str, int | None]] = {}

    # -- control ---------------------------------------------------------------------------------------

    def start(self) -> None:
        log.info("consumer %s starting on %s", self.consumer, ", ".join(STREAMS), extra={"consumer": self.consumer})
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        if self._thread.is_alive():
            log.warning("consumer thread still busy after 2s; abandoning it (daemon)")
        self.redis.close()

    def pause(self, wait_s: float = 2.0) -> bool:
        """Stop consuming (after the current message); True once the worker is idle."""
        self._idle.clear()
        self._paused.set()
        log.info("consumer %s paused", self.consumer)
        return self._idle.wait(wait_s) if self._thread.is_alive() else True

    def resume(self) -> None:
        self._paused.clear()
        log.info("consumer %s resumed", self.consumer)

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def set_cost(self, ms: float) -> None:
        self.cost_ms = max(0.0, ms)
        log.info("consumer cost set to %.1f ms per message", self.cost_ms)

    def batch_size(self) -> int:
        """At most consumer_batch_size, and few enough that a batch takes under half the claim idle time."""
        size = self.settings.consumer_batch_size
        if self.cost_ms > 0:
            size = min(size, int(self.settings.consumer_claim_idle_ms / 2 / self.cost_ms))
        return max(1, size)

    # -- the loop --------------------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = _Backoff()
        while not self._stop.is_set():
            if self._paused.is_set():
                self._own_pending = True
                self._idle.set()
                self._stop.wait(0.2)
                continue
            try:
                self._step()
                backoff.reset()
            except _Interrupted:
                self._own_pending = True
            except Exception as exc:  # the worker survives every failure and resumes by itself
                # NOGROUP: Redis answers but the group is gone (stream deleted, data lost): recreate it at
                # once. Anything else: back off.
                self._stop.wait(0.1 if self._failed(exc) else backoff.next())
        log.info("consumer %s stopped", self.consumer)

    def _failed(self, exc: Exception) -> bool:
        """Count and log a failure; True if it was a missing group (to be recreated without delay)."""
        self.counters.errors += 1
        self.counters.last_error = f"{type(exc).__name__}: {exc}"
        self._own_pending = True
        log.error("consumer error: %s", self.counters.last_error, extra={"consumer": self.consumer})
        nogroup = isinstance(exc, redis.ResponseError) and str(exc).startswith("NOGROUP")
        if nogroup:
            self._groups_ready = False
        return nogroup

    def _step(self) -> None:
        if not self._groups_ready:
            self._ensure_groups()
        now = time.monotonic()
        if now >= self._next_claim:
            self._next_claim = now + self.settings.consumer_claim_interval_s
            self._claim_stale()
        if now >= self._next_lag_check:
            self._next_lag_check = now + self.settings.consumer_lag_check_interval_s
            self._check_lag()
        if self._own_pending:
            # Our own unacknowledged entries first (a failed transaction, a restart under the same name).
            if self._read("0", block=None) == 0:
                self._own_pending = False
            return
        self._read(">", block=self.settings.consumer_block_ms)

    def _ensure_groups(self) -> None:
        for stream in STREAMS:
            try:
                # From 0, not $: nothing produced before the group existed is skipped.
                self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
                log.info("created consumer group %s on %s", GROUP, stream)
            except redis.ResponseError as exc:
                if not str(exc).startswith("BUSYGROUP"):
                    raise
        self._groups_ready = True

    def _read(self, start: str, block: int | None) -> int:
        response: Any = self.redis.xreadgroup(
            GROUP, self.consumer, {stream: start for stream in STREAMS}, count=self.batch_size(), block=block
        )
        handled = 0
        for stream, entries in _stream_entries(response):
            for message_id, fields in entries:
                self._check_interrupt()
                self._handle(stream, message_id, fields)
                handled += 1
        return handled

    def _check_interrupt(self) -> None:
        if self._stop.is_set() or self._paused.is_set():
            raise _Interrupted()

    def _handle(self, stream: str, message_id: str, fields: Mapping[str, str] | None) -> None:
        if not fields:
            self._ack_deleted(stream, [message_id])
            return
        if self.cost_ms > 0 and self._stop.wait(self.cost_ms / 1000):
            raise _Interrupted()
        effect = plan_effect(stream, message_id, fields, self.consumer)
        try:
            with self.db.connection() as conn:
                new = conn.execute(effect.sql, effect.params).rowcount == 1
        except psycopg.DataError as exc:
            self._poison(stream, message_id, exc)
            return
        self.redis.xack(stream, GROUP, message_id)
        self._attempts.pop((stream, message_id), None)
        self.counters.processed += 1
        self.counters.per_stream[stream] = self.counters.per_stream.get(stream, 0) + 1
        if not new:
            self.counters.duplicates += 1

    def _poison(self, stream: str, message_id: str, exc: psycopg.DataError) -> None:
        key = (stream, message_id)
        attempts = self._attempts.get(key, 0) + 1
        self._attempts[key] = attempts
        if attempts < self.settings.consumer_max_attempts:
            raise exc
        self._attempts.pop(key, None)
        self.counters.dropped += 1
        log.error(
            "dropping message %s on %s after %d attempts: postgres rejected its data: %s",
            message_id, stream, attempts, exc, extra={"stream": stream, "message_id": message_id},
        )
        self.redis.xack(stream, GROUP, message_id)

    def _ack_deleted(self, stream: str, ids: Sequence[str]) -> None:
        if not ids:
            return
        self.redis.xack(stream, GROUP, *ids)
        self.counters.deleted += len(ids)
        log.warning(
            "%d pending entries of %s were trimmed before being processed (in events_archive if the compactor "
            "trimmed them); acknowledged: %s",
            len(ids), stream, ", ".join(ids[:20]), extra={"stream": stream, "deleted_ids": list(ids[:100])},
        )

    def _claim_stale(self) -> None:
        """Take over entries left pending by a dead consumer for longer than consumer_claim_idle_ms."""
        for stream in STREAMS:
            cursor = "0-0"
            for _ in range(5):  # at most 5 pages per stream per round; the next round continues
                response: Any = self.redis.xautoclaim(
                    stream, GROUP, self.consumer, self.settings.consumer_claim_idle_ms, cursor,
                    count=self.batch_size(),
                )
                cursor = str(response[0])
                messages: list[tuple[str, dict[str, str] | None]] = list(response[1] or [])
                deleted = [str(i) for i in response[2]] if len(response) > 2 and response[2] else []
                self._ack_deleted(stream, deleted)
                if messages:
                    self.counters.claimed += len(messages)
                    log.warning(
                        "claimed %d stale pending entries of %s (idle > %d ms)",
                        len(messages), stream, self.settings.consumer_claim_idle_ms,
                        extra={"stream": stream, "first_id": messages[0][0]},
                    )
                for message_id, fields in messages:
                    self._check_interrupt()
                    self._handle(stream, str(message_id), fields)
                if cursor == "0-0":
                    break

    def _check_lag(self) -> None:
        self.last_lag = group_lag(self.redis)
        for stream, info in self.last_lag.items():
            lag, pending = info["lag"], info["pending"] or 0
            backlog = (lag or 0) + pending
            if backlog > self.settings.consumer_lag_warn:
                log.warning(
                    "consumer lag behind on %s: lag=%s pending=%d length=%s (cost %.1f ms/message)",
                    stream, lag, pending, info["length"], self.cost_ms,
                    extra={"stream": stream, "lag": lag, "pending": pending, "consumer": self.consumer},
                )

    def stats(self) -> dict[str, object]:
        c = self.counters
        return {
            "consumer": self.consumer,
            "cost_ms": self.cost_ms,
            "batch_size": self.batch_size(),
            "paused": self.paused,
            "alive": self.alive,
            "processed": c.processed,
            "duplicates": c.duplicates,
            "errors": c.errors,
            "claimed": c.claimed,
            "deleted": c.deleted,
            "dropped": c.dropped,
            "processed_per_stream": dict(c.per_stream),
            "last_error": c.last_error,
        }


def _stream_entries(response: Any) -> list[tuple[str, list[tuple[str, dict[str, str] | None]]]]:
    """XREADGROUP's answer as [(stream, [(id, fields)])], whatever shape redis-py gave it."""
    if not response:
        return []
    items = response.items() if isinstance(response, dict) else response
    out: list[tuple[str, list[tuple[str, dict[str, str] | None]]]] = []
    for stream, entries in items:
        out.append((str(stream), [(str(mid), fields) for mid, fields in (entries or []) if mid is not None]))
    return out


def _id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def effective_lag(
    raw_lag: int | None, length: int, last_delivered: str | None, first_id: str | None, last_generated: str | None
) -> int | None:
    """The group's real backlog: entries in the stream not yet delivered to it.

    Redis 7.0 computes XINFO GROUPS' ``lag`` as entries-added minus entries-read. Entries trimmed
    (by the compactor or XTRIM MAXLEN) before the group read them are never "read", so that number stays
    too high forever, even once the group has caught up. Corrected here with what is known exactly:
    caught up (last delivered >= last generated) means 0; a group behind the first entry still in the
    stream has ``length`` to go; in between, the backlog is at most ``length`` (an upper bound: see
    lag_is_exact, group_lag counts the entries in that case).
    """
    if length == 0:
        return 0
    if last_delivered is not None and last_generated is not None:
        if _id_key(last_delivered) >= _id_key(last_generated):
            return 0
        if first_id is not None and _id_key(last_delivered) < _id_key(first_id):
            return length
    return None if raw_lag is None else min(raw_lag, length)


def lag_is_exact(length: int, last_delivered: str | None, first_id: str | None, last_generated: str | None) -> bool:
    """Whether effective_lag is exact (caught up, empty, or behind the whole stream), not an upper bound."""
    if length == 0:
        return True
    if last_delivered is None or last_generated is None or first_id is None:
        return False
    delivered = _id_key(last_delivered)
    return delivered >= _id_key(last_generated) or delivered < _id_key(first_id)


LAG_SCAN_CAP = 2000
"""group_lag counts up to this many undelivered entries exactly; beyond it, the upper bound stands."""


def group_lag(client: redis.Redis, group: str = GROUP) -> dict[str, dict[str, int | None]]:
    """{stream: {length, lag, lag_raw, pending, consumers}} from XINFO STREAM and XINFO GROUPS.

    ``lag`` is corrected for trimming (see effective_lag), ``lag_raw`` is what Redis reports; lag is None
    when Redis cannot tell, pending/consumers None when the group does not exist (yet).
    """
    pipe = client.pipeline(transaction=False)
    for stream in STREAMS:
        pipe.xinfo_stream(stream)
        pipe.xinfo_groups(stream)
    results = pipe.execute(raise_on_error=False)
    out: dict[str, dict[str, int | None]] = {}
    scans: dict[str, str] = {}
    for index, stream in enumerate(STREAMS):
        info_stream, groups = results[2 * index], results[2 * index + 1]
        info: dict[str, int | None] = {"length": 0, "lag": None, "lag_raw": None, "pending": None, "consumers": None}
        out[stream] = info
        if isinstance(info_stream, redis.ResponseError) or isinstance(groups, redis.ResponseError):
            continue  # no such key: no stream, no group yet
        if isinstance(info_stream, Exception):
            raise info_stream
        if isinstance(groups, Exception):
            raise groups
        length = int(info_stream.get("length") or 0)
        first = info_stream.get("first-entry")
        first_id = str(first[0]) if first and first[0] is not None else None
        last_generated = info_stream.get("last-generated-id")
        info["length"] = length
        for entry in groups:
            if entry.get("name") != group:
                continue
            raw = entry.get("lag")
            delivered = entry.get("last-delivered-id")
            info["lag_raw"] = None if raw is None else int(raw)
            info["lag"] = effective_lag(
                info["lag_raw"], length, None if delivered is None else str(delivered), first_id,
                None if last_generated is None else str(last_generated),
            )
            info["pending"] = int(entry.get("pending") or 0)
            info["consumers"] = int(entry.get("consumers") or 0)
            lag = info["lag"]
            if delivered is not None and lag and not lag_is_exact(
                length, str(delivered), first_id, None if last_generated is None else str(last_generated)
            ):
                scans[stream] = str(delivered)
    if scans:
        # The group is somewhere inside the stream: count what follows its position (bounded).
        pipe = client.pipeline(transaction=False)
        for stream, delivered_id in scans.items():
            pipe.xrange(stream, f"({delivered_id}", "+", count=LAG_SCAN_CAP)
        for (stream, _), entries in zip(scans.items(), pipe.execute()):
            counted = len(entries or [])
            if counted < LAG_SCAN_CAP:
                out[stream]["lag"] = counted
    return out
