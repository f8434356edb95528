"""The write ledger of one record (summary.json's `ledger`, checks/ledger.py), for the HTML report: what was
judged, what was found, and a few ids of each finding."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

ROWS = (
    ("writes_judged", "acknowledged writes judged"),
    ("stored_orders", "orders stored for the load's users"),
    ("lost", "lost (acknowledged, not stored)"),
    ("lost_before_failure", "of them acknowledged before the moment of failure"),
    ("rpo_s", "RPO: age at the failure of the oldest lost (s)"),
    ("exposure", "exposure: lost, acknowledged after the failure"),
    ("exposure_s", "exposure window (s)"),
    ("phantoms", "phantoms (stored under a key nobody sent)"),
    ("duplicate_intents", "intents with more than one order"),
    ("charged_twice", "orders charged more than once"),
    ("mismatched", "stored otherwise than answered or asked"),
    ("failed_but_happened", "refused, and yet stored"),
)


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def ledger_block(record: Mapping[str, Any]) -> str:
    """A table of the ledger's figures (red when a finding is not zero), the unknowns as resolved, and the
    baseline's size; a short note when the record has no ledger."""
    ledger = record.get("ledger")
    if not isinstance(ledger, Mapping):
        return '<p class="muted">no write ledger in this record</p>'
    findings = {"lost", "phantoms", "duplicate_intents", "charged_twice", "mismatched", "failed_but_happened"}
    rows = []
    for key, label in ROWS:
        value = ledger.get(key)
        bad = key in findings and isinstance(value, int) and value > 0
        rows.append(f'<tr><th>{_esc(label)}</th><td class="num"><span class="{"over" if bad else ""}">'
                    f"{_esc('—' if value is None else value)}</span></td></tr>")
    unknown = ledger.get("unknown_resolved") or {}
    rows.append(f"<tr><th>unknown outcomes, looked up</th><td>{_esc(unknown.get('happened', 0))} happened, "
                f"{_esc(unknown.get('did_not_happen', 0))} did not</td></tr>")
    baseline = record.get("baseline") or {}
    if baseline:
        thin = " (too thin to compare with)" if baseline.get("thin") else ""
        rows.append(f"<tr><th>baseline window</th><td>{_esc(baseline.get('ops'))} load operations{_esc(thin)}"
                    "</td></tr>")
    examples = {k: v for k, v in (ledger.get("examples") or {}).items() if v}
    listed = "".join(f"<li><strong>{_esc(k)}</strong>: {_esc(v)}</li>" for k, v in examples.items())
    return f"<table>{''.join(rows)}</table>" + (f"<ul>{listed}</ul>" if listed else "")
