"""Pure arithmetic on Redis stream ids (``<ms>-<seq>``) and the compactor's batch planning.

Nothing here talks to Redis or PostgreSQL, so all of it is unit-tested (tests/services/unit/test_compactor.py).

Why the trim boundary is "the id just after the last archived id": ``XTRIM key MINID <id>`` removes
every entry whose id is *strictly lower* than ``<id>``. Trimming at the last archived id itself would
keep that entry (harmless but untidy); trimming at anything higher than its successor could remove an
entry that arrived after the XRANGE and was never archived. The successor of ``ms-seq`` is
``ms-(seq+1)``, or ``(ms+1)-0`` when seq is already the largest 64-bit value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "MAX_SEQ",
    "StreamId",
    "TrimPlan",
    "UnorderedBatch",
    "consumer_safe_end",
    "count_after",
    "cutoff_id",
    "format_id",
    "next_id",
    "parse_id",
    "plan_trim",
    "prev_id",
]

MAX_SEQ = 2**64 - 1
MAX_MS = 2**64 - 1

StreamId = tuple[int, int]


def parse_id(text: str) -> StreamId:
    """``"1700000000000-3"`` -> ``(1700000000000, 3)``. A bare ``"<ms>"`` means ``<ms>-0``."""
    ms_text, sep, seq_text = text.partition("-")
    if not ms_text.isdigit() or (sep and not seq_text.isdigit()):
        raise ValueError(f"not a stream id: {text!r}")
    ms, seq = int(ms_text), int(seq_text) if sep else 0
    if ms > MAX_MS or seq > MAX_SEQ:
        raise ValueError(f"stream id out of range: {text!r}")
    return ms, seq


def format_id(stream_id: StreamId) -> str:
    ms, seq = stream_id
    return f"{ms}-{seq}"


def next_id(text: str) -> str:
    """The smallest id strictly greater than ``text``: same ms and seq+1, or the next ms at seq 0."""
    ms, seq = parse_id(text)
    if seq < MAX_SEQ:
        return format_id((ms, seq + 1))
    if ms < MAX_MS:
        return format_id((ms + 1, 0))
    raise ValueError(f"{text!r} is the largest possible stream id")


def prev_id(text: str) -> str | None:
    """The largest id strictly lower than ``text``; None below ``0-1`` (``0-0`` is never an entry id)."""
    ms, seq = parse_id(text)
    if seq > 0:
        return format_id((ms, seq - 1))
    if ms > 0:
        return format_id((ms - 1, MAX_SEQ))
    return None


def consumer_safe_end(cutoff: str, last_delivered: str | None, first_pending: str | None) -> str:
    """The inclusive XRANGE end that also keeps what a consumer group has not finished with.

    The lowest of: the age cutoff, the group's last-delivered-id (nothing it was never given), and the id
    just before its oldest pending entry (nothing it was given but has not acknowledged). No group
    (``last_delivered`` None) means nothing was consumed: ``"0-0"``, an empty range.
    """
    candidates = [parse_id(cutoff), parse_id(last_delivered) if last_delivered is not None else (0, 0)]
    if first_pending is not None:
        before = prev_id(first_pending)
        candidates.append(parse_id(before) if before is not None else (0, 0))
    return format_id(min(candidates))


def cutoff_id(now_ms: int, min_age_s: float) -> str:
    """The largest id of an entry at least ``min_age_s`` old at ``now_ms`` (an inclusive XRANGE end)."""
    if min_age_s < 0:
        raise ValueError(f"min_age_s must be >= 0, got {min_age_s}")
    if now_ms < 0:
        raise ValueError(f"now_ms must be >= 0, got {now_ms}")
    cutoff_ms = now_ms - int(round(min_age_s * 1000))
    if cutoff_ms < 0:
        # Nothing can be that old; "0-0" is not a valid entry id, so this range is empty.
        return "0-0"
    return format_id((cutoff_ms, MAX_SEQ))


class UnorderedBatch(ValueError):
    """XRANGE answered ids that are not strictly increasing (or not after the range start): never trim."""


@dataclass(frozen=True)
class TrimPlan:
    """What to do with one XRANGE batch once it is safely archived."""

    first_id: str
    last_id: str
    count: int
    minid: str
    """``XTRIM <stream> MINID <minid>``: removes exactly the archived ids and anything older."""
    next_start: str
    """The inclusive XRANGE start of the next batch."""
    maybe_more: bool
    """A full batch: the range may hold more entries."""


def plan_trim(ids: Sequence[str], *, start: str, batch_size: int) -> TrimPlan | None:
    """Plan the trim after archiving ``ids`` (one XRANGE answer, read from the inclusive ``start``).

    None for an empty batch. Raises UnorderedBatch unless the ids are strictly increasing and none is
    below ``start`` (``"-"`` means the beginning), because the trim is only safe if every id below the
    boundary was part of what got archived.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not ids:
        return None
    if len(ids) > batch_size:
        raise UnorderedBatch(f"XRANGE returned {len(ids)} entries for COUNT {batch_size}")
    parsed = [parse_id(i) for i in ids]
    floor = None if start == "-" else parse_id(start)
    if floor is not None and parsed[0] < floor:
        raise UnorderedBatch(f"first id {ids[0]} is before the range start {start}")
    for before, after, text in zip(parsed, parsed[1:], ids[1:]):
        if not after > before:
            raise UnorderedBatch(f"ids out of order at {text}")
    minid = next_id(ids[-1])
    return TrimPlan(
        first_id=ids[0],
        last_id=ids[-1],
        count=len(ids),
        minid=minid,
        next_start=minid,
        maybe_more=len(ids) == batch_size,
    )


def count_after(ids: Sequence[str], boundary: str | None) -> int:
    """How many ``ids`` are strictly greater than ``boundary`` (None: all of them).

    With the consumer group's last-delivered-id as the boundary: the entries the group never saw.
    """
    if boundary is None:
        return len(ids)
    limit = parse_id(boundary)
    return sum(1 for i in ids if parse_id(i) > limit)
