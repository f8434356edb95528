"""A scenario that failed is run once more (pytest-rerunfailures, `--chaos-reruns`); its attempts become one
record of summary.json. Pass after a failure is `flaky`, never a silent pass: the record keeps every
attempt's verdict and reason, and the gate lists it (docs/summary-json.md).

A pure function over records, so the rule is unit-tested with literal records (tests/unit/test_attempts.py).
"""

from __future__ import annotations

from typing import Any

FLAKY = "flaky"
#: What an attempt keeps of its record inside the final one: enough to read why it failed.
ATTEMPT_KEYS = ("attempt", "verdict", "reason", "started", "duration_s", "measured")


def attempt_summary(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record.get(key) for key in ATTEMPT_KEYS}


def merge_attempt(earlier: dict[str, Any], latest: dict[str, Any]) -> dict[str, Any]:
    """The record of a test after `latest` ran again behind `earlier` (same test): the latest record, with
    `attempts` listing every attempt in order, and the verdict `flaky` when it passed after a fail or an
    error. A later failure stays a failure; its reason says the earlier attempts failed too."""
    history = list(earlier.get("attempts") or [attempt_summary(earlier)])
    merged = {**latest, "attempts": [*history, attempt_summary(latest)]}
    failed_before = [a for a in history if a.get("verdict") in ("fail", "error", "aborted", FLAKY)]
    if latest.get("verdict") == "pass" and failed_before:
        first = failed_before[0]
        merged["verdict"] = FLAKY
        merged["reason"] = (f"passed on attempt {latest.get('attempt')} after {len(failed_before)} failed: "
                            f"{first.get('verdict')}: {first.get('reason') or 'no reason recorded'}")[:600]
    elif latest.get("verdict") in ("fail", "error") and failed_before:
        merged["reason"] = f"failed on all {len(merged['attempts'])} attempts; last: {latest.get('reason', '')}"[:600]
    return merged
