"""Reading summary.json for the gate (docs/summary-json.md): validation with one-line errors, and the few
facts of a record the gate rules, the history and the metrics share (its driver, its markers, its figures).

Exit codes of the gate (reports/gate.py) live here so every gate module raises with the same ones.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aarya_chaos.errors import ChaosError
from reports.attempts import FLAKY as FLAKY  # pass after a failed attempt (docs/summary-json.md, "Flaky records")

SCHEMA = 1
VERDICTS = ("pass", "fail", "error", "skipped", "aborted", FLAKY)  # aborted: a guardrail tripped (docs/guardrails.md)
METRICS = (("mttd_s", "MTTD"), ("rto_s", "RTO"))

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_MISSING = 3
EXIT_INVALID = 4
EXIT_PUSH_FAILED = 5

#: The runbook's sections as the pytest markers of fixtures/plugin.py's RUNBOOK_AREAS (reports may not import
#: fixtures; tests/unit/test_gate_profiles.py checks the two agree): a record's id "3.2" is marked `service`.
SECTION_MARKERS = {"1": "database", "2": "cache", "3": "service", "4": "events", "5": "infrastructure",
                   "6": "security", "7": "cascade", "8": "rollback"}


class GateInputError(ChaosError):
    """A summary, baseline, history or quarantine file the gate cannot read; `exit_code` is EXIT_MISSING or
    EXIT_INVALID."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def number(value: object) -> float | None:
    """A finite number as a float, else None (null, text, booleans, NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def validate(data: object, what: str = "summary") -> dict[str, Any]:
    """`data` as a summary.json dict, or GateInputError(EXIT_INVALID) saying what is wrong with it."""

    def invalid(problem: str) -> GateInputError:
        return GateInputError(f"{what} is not a summary.json the gate can read: {problem}", EXIT_INVALID)

    if not isinstance(data, dict):
        raise invalid(f"expected a JSON object, got {type(data).__name__}")
    schema = data.get("schema")
    if schema is None:
        raise invalid("no `schema` field")
    if schema != SCHEMA:
        raise invalid(f"schema {schema!r}, this gate reads schema {SCHEMA}")
    scenarios = data.get("scenarios")
    if not isinstance(scenarios, list):
        raise invalid("`scenarios` must be a list")
    for n, record in enumerate(scenarios, 1):
        _validate_record(record, n, invalid)
    return data


def _validate_record(record: object, n: int, invalid: Any) -> None:
    if not isinstance(record, dict):
        raise invalid(f"scenario #{n} is not an object")
    if not isinstance(record.get("id"), str) or not record["id"]:
        raise invalid(f"scenario #{n} has no `id`")
    where = f"scenario #{n} ({record['id']})"
    if record.get("verdict") not in VERDICTS:
        raise invalid(f"{where}: `verdict` must be one of {', '.join(VERDICTS)}, got {record.get('verdict')!r}")
    if record.get("control") is not None and not isinstance(record["control"], str):
        raise invalid(f"{where}: `control` must be null or a string")
    for key in ("measured", "targets"):
        if record.get(key) is not None and not isinstance(record[key], dict):
            raise invalid(f"{where}: `{key}` must be an object")
    attempts = record.get("attempts")
    if attempts is not None and (not isinstance(attempts, list)
                                 or not all(isinstance(a, dict) and a.get("verdict") in VERDICTS for a in attempts)):
        raise invalid(f"{where}: `attempts` must be a list of objects with a `verdict`")


def load_summary(path: Path, what: str = "summary") -> dict[str, Any]:
    """Read and validate a summary.json (a directory means its summary.json). Never writes anything."""
    if path.is_dir():
        path = path / "summary.json"
    label = f"{what} {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GateInputError(f"{label} does not exist (did the chaos run write it?)", EXIT_MISSING) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GateInputError(f"{label} cannot be read: {exc}", EXIT_MISSING) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        hint = " (empty file)" if not text.strip() else ""
        raise GateInputError(f"{label} is not JSON{hint}: {exc}", EXIT_INVALID) from None
    return validate(data, label)


# -- a record's facts ------------------------------------------------------------------------------


def telling_line(text: object, limit: int = 160) -> str:
    """The line of a pytest report that tells what went wrong (its first `E ` line, else its last line), cut
    to `limit` characters."""
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    # pytest's longrepr ends with "file:line: Error"; the most telling line is the last "E " one if any
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    chosen = errors[0] if errors else (lines[-1] if lines else "")
    return chosen if len(chosen) <= limit else chosen[: limit - 1] + "…"


def driver_of(record: Mapping[str, Any], summary: Mapping[str, Any] | None = None) -> str:
    """The driver's short name (`local`, `docker`, `attach`): the record's class name `LocalDriver` without
    `Driver`, else the run's `--stack`, else `unknown`."""
    cls = record.get("driver")
    if isinstance(cls, str) and cls:
        return cls.removesuffix("Driver").lower() or cls
    run_driver = ((summary or {}).get("run") or {}).get("driver")
    return str(run_driver) if run_driver else "unknown"


def markers_of(record: Mapping[str, Any]) -> set[str]:
    """The record's pytest markers: its own `markers` list if it has one, else the runbook area of its id's
    section, plus `control` for a negative control."""
    given = record.get("markers")
    if isinstance(given, list):
        marks = {str(m) for m in given}
    else:
        section = str(record.get("id") or "").split(".")[0]
        marks = {SECTION_MARKERS[section]} if section in SECTION_MARKERS else set()
    if record.get("control"):
        marks.add("control")
    return marks


def is_flaky(record: Mapping[str, Any]) -> bool:
    """Verdict `flaky`, or a `pass` whose `attempts` hold one that did not pass (never passed silently)."""
    if record.get("verdict") == FLAKY:
        return True
    attempts = record.get("attempts") or []
    return record.get("verdict") == "pass" and any(a.get("verdict") != "pass" for a in attempts)


def test_name(record: Mapping[str, Any]) -> str:
    """The test's name as its artifacts directory spells it, without the `-attemptN` of a re-run, so the
    attempts of one test and its runs over time keep one name."""
    return re.sub(r"-attempt\d+$", "", Path(str(record.get("artifacts") or "")).name)


def figure(record: Mapping[str, Any], metric: str) -> float | None:
    return number((record.get("measured") or {}).get(metric))


def orders_judged(record: Mapping[str, Any]) -> float | None:
    """Acknowledged writes the ledger judged (`measured.acknowledged_orders`, else `ledger.writes_judged`)."""
    judged = figure(record, "acknowledged_orders")
    return judged if judged is not None else number((record.get("ledger") or {}).get("writes_judged"))
