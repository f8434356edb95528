"""The write ledger of a team's own writes, reconciled: the history's writes named `f` against the rows a
read-only query of the team's store returned. No schema assumed: a row is a mapping holding the write's key.

A pure function over two inputs, like checks/ledger.py (whose figures, `Reconciliation`, it gives):

  - the history's ops named `f` whose value holds the key (load/journeys.py writes them, the key under `key`;
    the reference checkouts hold theirs under `idempotency_key`): what each asked, what its client was told
    (ok: acknowledged, fail: certainly not done, info: unknown);
  - the rows: one per stored write, `{key_field: key, ...}`; an `id` column, when the query returns one,
    names the row in the findings (else the key does). Other columns are not read.

Findings, by key (the team's key identifies one intended write: a retry of an unknown answer sends it again):

    lost                  acknowledged, and no row holds its key
    duplicate             more than one row for one key
    phantom               a row under a key no write of `f` ever sent
    failed but happened   a row under a key every write of which was refused (a refusal that was not one)
    unknown, resolved     each `info` write looked up: a row holds its key, or none does (never a finding)

RPO and exposure are checks/ledger.py's: from the acknowledgement times of the lost writes (the history's
clock) and the failure moment; the rows need no timestamp.

Why not checks.ledger.reconcile with a schema-free row: the reference judges an acknowledged order by the id the
platform answered, groups duplicates by the writer's intent and compares totals, items and charges; a team's
store is only known to hold keys. The rules both need are shared: `refused_keys`, `recovery_point_age` (through
`Reconciliation`), and the cut (only acknowledgements before the database was read are judged).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checks.ledger import Reconciliation, refused_keys
from load.history import Op, Outcome
from load.journeys import KEY_FIELD as JOURNEY_KEY_FIELD

#: The column that names a row in the findings, when the query returns it.
ROW_ID_FIELD = "id"


@dataclass(frozen=True)
class SentWrite:
    """One write of the history: its key, what its client was told, when (monotonic seconds)."""

    key: str
    outcome: Outcome
    start: float
    end: float | None

    @property
    def answered_at(self) -> float:
        return self.end if self.end is not None else self.start


@dataclass(frozen=True)
class StoredRow:
    """One row of the store: the key it holds, and what names it in a finding."""

    key: str
    name: str


def sent_writes(ops: Iterable[Op], f: str, *, key_field: str = JOURNEY_KEY_FIELD) -> list[SentWrite]:
    """The ops named `f` whose value holds a non-empty key, in invocation order."""
    found = []
    for op in ops:
        key = op.value.get(key_field)
        if op.f == f and key is not None and key != "":
            found.append(SentWrite(str(key), op.outcome, op.start, op.end))
    return sorted(found, key=lambda w: w.start)


def stored_rows(rows: Iterable[Mapping[str, Any]], *, key_field: str = JOURNEY_KEY_FIELD,
                id_field: str = ROW_ID_FIELD) -> list[StoredRow]:
    """The query's rows as stored rows. A row without its key is a query that does not fit the profile."""
    found = []
    for number, row in enumerate(rows, 1):
        key = row.get(key_field)
        if key is None:
            raise ValueError(f"row {number} of the ledger query has no {key_field!r}: {dict(row)}")
        name = row.get(id_field)
        found.append(StoredRow(str(key), str(key) if name is None else str(name)))
    return found


def reconcile_writes(writes: Sequence[SentWrite], rows: Sequence[StoredRow], *, failure_at: float,
                     cut_at: float | None = None) -> Reconciliation:
    """Reconcile the history's writes with the stored rows (module docstring).

    As for checks.ledger.reconcile: run the query first, from `cut_at` on, and read the history after it; only
    acknowledgements before `cut_at` are judged (a later one may have committed after the query ran)."""
    acknowledged = _acknowledged(writes, cut_at)
    by_key: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_key[row.key].append(row.name)
    sent = {write.key for write in writes}
    unknown = [write for write in writes if write.outcome == "info"]
    happened = sum(1 for write in unknown if write.key in by_key)
    refused = refused_keys((write.key, write.outcome) for write in writes)
    return Reconciliation(
        judged=len(acknowledged), acknowledged=acknowledged,
        lost=tuple(sorted(((k, at) for k, at in acknowledged.items() if k not in by_key), key=lambda x: x[1])),
        failure_at=failure_at,
        phantoms=tuple(sorted(name for key, names in by_key.items() if key not in sent for name in names)),
        duplicates={key: tuple(sorted(names)) for key, names in sorted(by_key.items()) if len(names) > 1},
        charged_twice={}, mismatched=(),
        failed_but_happened=tuple(sorted(key for key in refused if key in by_key)),
        unknown_happened=happened, unknown_did_not_happen=len(unknown) - happened, stored=len(rows))


def reconcile_named_writes(ops: Iterable[Op], f: str, rows: Iterable[Mapping[str, Any]], *, failure_at: float,
                           key_field: str = JOURNEY_KEY_FIELD, id_field: str = ROW_ID_FIELD,
                           cut_at: float | None = None) -> Reconciliation:
    """The whole check from its inputs: the ops of a history, the write's name (the ledger profile's `op`), the
    query's rows as mappings of column name to value."""
    return reconcile_writes(sent_writes(ops, f, key_field=key_field),
                            stored_rows(rows, key_field=key_field, id_field=id_field),
                            failure_at=failure_at, cut_at=cut_at)


def _acknowledged(writes: Iterable[SentWrite], cut_at: float | None) -> dict[str, float]:
    """key -> when it was first acknowledged, of the acknowledgements before the cut."""
    acknowledged: dict[str, float] = {}
    for write in writes:
        at = write.answered_at
        if write.outcome == "ok" and (cut_at is None or at < cut_at):
            acknowledged[write.key] = min(at, acknowledged.get(write.key, at))
    return acknowledged
