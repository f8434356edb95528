"""One compaction pass: copy old stream entries to ``events_archive``, and only then trim them.

The invariant, per stream and per batch of at most ``batch_size`` entries::

    XRANGE <stream> <start> <cutoff> COUNT n          read entries at least min_age_s old
    INSERT INTO events_archive ... ON CONFLICT DO NOTHING; COMMIT
    XTRIM <stream> MINID <id just after the batch's last id>     exact, never "~"

Nothing is trimmed unless the transaction that archived it has committed, and the trim boundary never
passes the last archived id (stream ids only grow, so every id below it was in this batch or an earlier
one of the same pass). Any error stops the stream's compaction before its trim: at worst an entry is
archived twice (ON CONFLICT makes that a no-op) and trimmed on the next pass, never lost.

The age cutoff uses Redis' own clock (``TIME``), the clock that stamped the ids.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import redis

from stack.services.common.cache import Cache
from stack.services.common.db import Database
from stack.services.common.errors import DependencyUnavailable
from stack.services.common.settings import ServiceSettings

from .ids import consumer_safe_end, count_after, cutoff_id, plan_trim

__all__ = [
    "GROUP",
    "STREAMS",
    "CompactionFailed",
    "Compactor",
    "CompactorSettings",
    "StreamReport",
    "compact_stream",
]

STREAMS: tuple[str, ...] = ("user_events", "order_events", "analytics_events")
GROUP = "content_services"
BATCH_SIZE = 500

log = logging.getLogger("aarya.event_compactor")



class CompactorSettings(ServiceSettings):
    """ServiceSettings plus the compactor's own knobs (environment variables of the same names)."""

    compactor_batch_size: int = BATCH_SIZE
    compactor_keep_unconsumed: bool = False
    """Also never trim entries the content_services group has not been delivered or not acknowledged.
    Off by default: compaction is by age, as the runbook uses it to relieve a backlog. Either way an
    entry is archived before it is trimmed."""


ARCHIVE_SQL = """
INSERT INTO events_archive (stream, message_id, fields)
SELECT %s, t.message_id, t.fields::jsonb
FROM unnest(%s::text[], %s::text[]) AS t (message_id, fields)
ON CONFLICT (stream, message_id) DO NOTHING
"""


@dataclass
class StreamReport:
    archived: int = 0
    """Entries read and committed to events_archive in this pass (newly inserted or already there)."""
    trimmed: int = 0
    """Entries XTRIM removed. Equal to ``archived`` unless something else trimmed the stream meanwhile."""
    length_after: int | None = None
    new_rows: int = 0
    """Rows this pass inserted; ``archived - new_rows`` were archived earlier and not trimmed then."""
    undelivered: int = 0
    """Trimmed entries the consumer group had not been delivered yet: they live on only in the archive."""
    batches: int = 0
    last_trimmed_id: str | None = None
    duration_ms: float = 0.0


class CompactionFailed(Exception):
    """A dependency failed mid-pass. ``report`` holds what was done before (nothing unarchived trimmed)."""

    def __init__(self, stream: str, cause: DependencyUnavailable, report: dict[str, StreamReport]) -> None:
        super().__init__(f"compaction of {stream} stopped: {cause}")
        self.stream = stream
        self.cause = cause
        self.report = report


def _redis_now_ms(cache: Cache) -> int:
    seconds, micros = cache.run(lambda r: r.time())
    return int(seconds) * 1000 + int(micros) // 1000


def _group_last_delivered(cache: Cache, stream: str, group: str) -> str | None:
    def read(r: redis.Redis) -> str | None:
        try:
            groups = r.xinfo_groups(stream)
        except redis.ResponseError:  # no such key: nothing delivered
            return None
        for info in groups:
            if info.get("name") == group:
                value = info.get("last-delivered-id")
                return str(value) if value is not None else None
        return None

    return cache.run(read)


def _group_first_pending(cache: Cache, stream: str, group: str) -> str | None:
    def read(r: redis.Redis) -> str | None:
        try:
            summary = r.xpending(stream, group)
        except redis.ResponseError:  # no such key or group
            return None
        if not summary or not summary.get("pending"):
            return None
        first = summary.get("min")
        return None if first is None else str(first)

    return cache.run(read)


def compact_stream(
    db: Database,
    cache: Cache,
    stream: str,
    *,
    cutoff: str,
    batch_size: int = BATCH_SIZE,
    group: str = GROUP,
    stop: threading.Event | None = None,
    keep_unconsumed: bool = False,
) -> StreamReport:
    """Archive then trim every entry of ``stream`` with an id <= ``cutoff``. Raises DependencyUnavailable.

    With ``keep_unconsumed``, also stop before anything ``group`` has not been delivered or has pending.
    """
    report = StreamReport()
    started = time.perf_counter()
    start = "-"
    try:
        if keep_unconsumed:
            # The group only moves forward, so an end computed now stays safe for the whole pass.
            cutoff = consumer_safe_end(
                cutoff, _group_last_delivered(cache, stream, group), _group_first_pending(cache, stream, group)
            )
        while stop is None or not stop.is_set():
            range_start = start
            entries = cache.run(lambda r: r.xrange(stream, range_start, cutoff, count=batch_size)) or []
            ids = [str(entry_id) for entry_id, _ in entries]
            plan = plan_trim(ids, start=range_start, batch_size=batch_size)
            if plan is None:
                break
            payloads = [json.dumps(fields, ensure_ascii=False) for _, fields in entries]
            with db.connection() as conn:
                cursor = conn.execute(ARCHIVE_SQL, (stream, ids, payloads))
                inserted = max(cursor.rowcount, 0)
            # The transaction has committed: these ids are in events_archive for good. Only now trim.
            report.archived += plan.count
            report.new_rows += inserted
            delivered = _group_last_delivered(cache, stream, group)
            trimmed = cache.run(lambda r: r.xtrim(stream, minid=plan.minid, approximate=False))
            report.trimmed += int(trimmed)
            report.undelivered += count_after(ids, delivered)
            report.batches += 1
            report.last_trimmed_id = plan.last_id
            if not plan.maybe_more:
                break
            start = plan.next_start
        report.length_after = int(cache.run(lambda r: r.xlen(stream)))
    finally:
        report.duration_ms = round((time.perf_counter() - started) * 1000, 1)
    return report


@dataclass
class PassResult:
    min_age_s: float
    cutoff: str
    keep_unconsumed: bool = False
    streams: dict[str, StreamReport] = field(default_factory=dict)

    def as_dict(self) -> dict[str, dict[str, object]]:
        return {name: asdict(report) for name, report in self.streams.items()}


class Compactor:
    """Runs passes on demand and every ``compactor_interval_s`` in a daemon thread; one pass at a time."""

    def __init__(
        self, settings: CompactorSettings, db: Database, cache: Cache, streams: Iterable[str] = STREAMS
    ) -> None:
        self.settings = settings
        self.db = db
        self.cache = cache
        self.streams = tuple(streams)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0
        self.failures = 0
        self.last_report: dict[str, dict[str, object]] | None = None
        self.last_error: str | None = None

    def run_pass(
        self,
        min_age_s: float | None = None,
        streams: Iterable[str] | None = None,
        *,
        keep_unconsumed: bool | None = None,
        lock_timeout_s: float = -1,
    ) -> PassResult:
        """One pass over ``streams``. Raises CompactionFailed (with the partial report) or TimeoutError."""
        age = self.settings.compactor_min_age_s if min_age_s is None else min_age_s
        keep = self.settings.compactor_keep_unconsumed if keep_unconsumed is None else keep_unconsumed
        names = self.streams if streams is None else tuple(streams)
        if not self._lock.acquire(timeout=lock_timeout_s):
            raise TimeoutError("another compaction pass is running")
        try:
            result = PassResult(min_age_s=age, cutoff="", keep_unconsumed=keep)
            try:
                result.cutoff = cutoff_id(_redis_now_ms(self.cache), age)
            except DependencyUnavailable as exc:
                self._failed(exc)
                raise CompactionFailed("*", exc, {}) from exc
            for name in names:
                try:
                    result.streams[name] = compact_stream(
                        self.db, self.cache, name, cutoff=result.cutoff, stop=self._stop,
                        batch_size=self.settings.compactor_batch_size, keep_unconsumed=keep,
                    )
                except DependencyUnavailable as exc:
                    self._failed(exc)
                    raise CompactionFailed(name, exc, result.streams) from exc
            self.passes += 1
            self.last_report = result.as_dict()
            self.last_error = None
            total_trimmed = sum(r.trimmed for r in result.streams.values())
            log.log(
                logging.INFO if total_trimmed else logging.DEBUG,
                "compaction pass: archived %d, trimmed %d entries older than %.1fs",
                sum(r.archived for r in result.streams.values()),
                total_trimmed,
                age,
                extra={"report": self.last_report, "cutoff": result.cutoff},
            )
            undelivered = {n: r.undelivered for n, r in result.streams.items() if r.undelivered}
            if undelivered:
                log.warning(
                    "compaction trimmed entries the %s group had not consumed yet (kept in events_archive): %s",
                    GROUP,
                    undelivered,
                )
            return result
        finally:
            self._lock.release()

    def _failed(self, exc: DependencyUnavailable) -> None:
        self.failures += 1
        self.last_error = str(exc)
        log.error("compaction pass failed, nothing unarchived was trimmed: %s", exc, extra={"dependency": exc.dependency})

    # -- background ------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="event-compactor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def _loop(self) -> None:
        interval = max(self.settings.compactor_interval_s, 0.1)
        while not self._stop.wait(interval):
            try:
                self.run_pass()
            except CompactionFailed:
                pass  # already logged; the next interval tries again
            except Exception:  # the loop must survive anything, a bug included
                self.failures += 1
                log.exception("compaction pass crashed")
