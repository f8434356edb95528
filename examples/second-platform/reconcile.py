"""Reconcile a pretix run's history with pretix's database, as the engine would from the target profile.

    PRETIX_PG_DSN=postgresql://postgres@127.0.0.1:26032/pretix PYTHONPATH=. .venv/bin/python \\
        examples/second-platform/reconcile.py HISTORY_DIR [--profile examples/second-platform/pretix.toml]
        [--failure-at MONO]   # the fault's moment on the history's clock (CLOCK_MONOTONIC); default: the end

Steps, in the order docs/journeys.md asks: the profile's ledger query runs first (READ ONLY, rolled back) with
every key the history sent as %(keys)s, its start is the cut; then the history is read (load.history) and
checks.write_ledger.reconcile_named_writes judges it. Prints one JSON object: the Reconciliation summary plus
the history's outcome counts.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from checks.write_ledger import reconcile_named_writes
from load.history import history_files, pair_ops, read_records
from stack.target.load import load_profile

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("history_dir", type=Path)
    parser.add_argument("--profile", type=Path, default=HERE / "pretix.toml")
    parser.add_argument("--failure-at", type=float, default=None)
    args = parser.parse_args()

    profile = load_profile(args.profile)
    ledger = profile.ledger
    store = profile.stores[ledger.store]

    # the keys the history sent (read once for the keys; the judged history is read again after the query)
    sent = sorted({str(op.value[ledger.key_field]) for op in pair_ops(read_records(history_files(args.history_dir)))
                   if op.f == ledger.op and op.value.get(ledger.key_field)})
    cut_at = time.monotonic()
    with psycopg.connect(store.connection_string(os.environ), connect_timeout=5, row_factory=dict_row) as conn:
        conn.read_only = True
        rows = conn.execute(ledger.query, {"keys": sent}).fetchall()
        conn.rollback()

    ops = pair_ops(read_records(history_files(args.history_dir)))
    writes = [op for op in ops if op.f == ledger.op]
    failure_at = args.failure_at if args.failure_at is not None else (writes[-1].start if writes else cut_at)
    found = reconcile_named_writes(ops, ledger.op, rows, failure_at=failure_at, key_field=ledger.key_field,
                                   cut_at=cut_at)
    unknown_keys = {str(op.value[ledger.key_field]) for op in writes if op.outcome == "info"}
    acked_keys = {str(op.value[ledger.key_field]) for op in writes if op.outcome == "ok"}
    stored_keys = {str(row[ledger.key_field]) for row in rows}
    statuses = Counter(f"{op.outcome}:{op.status or 'none'}" for op in writes)
    print(json.dumps({"writes": len(writes), "distinct_keys": len(sent), "rows": len(rows),
                      "outcomes": dict(Counter(op.outcome for op in writes)), "by_status": dict(statuses),
                      "unknown_keys": {"keys": len(unknown_keys),
                                       "later_acknowledged": len(unknown_keys & acked_keys),
                                       "stored_never_acknowledged": len((unknown_keys & stored_keys) - acked_keys),
                                       "not_stored": len(unknown_keys - stored_keys)},
                      "reconciliation": found.summary()}, indent=1, default=str))


if __name__ == "__main__":
    main()
