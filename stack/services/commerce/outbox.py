"""The outbox relay: unpublished rows, oldest first, are XADDed to their stream and then marked published.

At-least-once: a crash (or a PostgreSQL failure) between the XADD and the UPDATE publishes the row again
later; each stream entry carries `outbox_id` so a consumer can recognise the duplicate.
`FOR UPDATE SKIP LOCKED` lets several relays (request threads, the reconciler, other replicas) run at once
without publishing the same row concurrently.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..common.cache import Cache
from ..common.db import Database
from ..common.errors import DependencyUnavailable
from .events import stream_fields

log = logging.getLogger("aarya.commerce")

_SELECT = "SELECT id, stream, payload FROM outbox WHERE published_at IS NULL"


def publish_outbox(db: Database, cache: Cache, ids: Sequence[int] | None = None, batch: int = 100) -> int:
    """Publish unpublished rows (only `ids` if given); stops at the first Redis failure. Returns the count."""
    published: list[int] = []
    with db.connection() as conn:
        if ids is None:
            rows = conn.execute(f"{_SELECT} ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED", (batch,)).fetchall()
        else:
            rows = conn.execute(
                f"{_SELECT} AND id = ANY(%s) ORDER BY id FOR UPDATE SKIP LOCKED", (list(ids),)
            ).fetchall()
        for row in rows:
            payload = row["payload"]
            fields = stream_fields({**(payload if isinstance(payload, dict) else {}), "outbox_id": row["id"]})
            stream = str(row["stream"])
            try:
                cache.run(lambda client: client.xadd(stream, fields))
            except DependencyUnavailable as exc:
                log.warning("outbox relay paused, redis unavailable: %s", exc.reason)
                break
            published.append(int(str(row["id"])))
        if published:
            conn.execute("UPDATE outbox SET published_at = now() WHERE id = ANY(%s)", (published,))
    return len(published)


def publish_outbox_best_effort(db: Database, cache: Cache | None, ids: Sequence[int]) -> None:
    """Right after a commit: publish these rows now if we can; the reconciler catches up otherwise."""
    if cache is None or not ids:
        return
    try:
        publish_outbox(db, cache, ids)
    except DependencyUnavailable as exc:
        log.warning("outbox rows %s left for the relay: %s", list(ids), exc)
