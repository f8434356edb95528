"""The README's figures table from one or more runs' summary.json (one per driver), real records only:

    python -m reports.figures reports/latest/summary.json reports/docker/summary.json

One row per scenario (runbook id and name): MTTD, RTO and the acknowledged orders judged on each driver,
`a / b` in the order the files were given; then a line with the records, verdicts, RPO and losses."""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aarya_chaos.errors import ConfigError
from aarya_chaos.natural import natural_key
from reports.formatting import fmt_s

Record = Mapping[str, Any]


def load_real_records(path: Path) -> tuple[str, list[Record]]:
    """The run's driver and its real records (no controls); ConfigError naming the file when unreadable."""
    try:
        data = json.loads(path.read_text())
        records = [r for r in data["scenarios"] if r.get("control") is None]
        return str(data["run"].get("driver", path.parent.name)), records
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a readable summary.json ({type(exc).__name__}: {exc})") from None


def _measured(record: Record | None, key: str) -> object:
    return None if record is None else (record.get("measured") or {}).get(key)


def _cell(records: Sequence[Record | None], key: str) -> str:
    """The figure on each driver, `a / b`; seconds as the reports write them, counts as they are."""
    return " / ".join(fmt_s(_measured(r, key), unit="") for r in records)


def table(runs: Sequence[tuple[str, list[Record]]]) -> str:
    drivers = " / ".join(driver for driver, _ in runs)
    keyed = [{(r["id"], r["name"]): r for r in records} for _, records in runs]
    rows = sorted({key for by_key in keyed for key in by_key}, key=lambda k: (natural_key(k[0]), k[1]))
    lines = [f"| scenario | MTTD {drivers} (s) | RTO {drivers} (s) | acknowledged orders judged |",
             "|---|---|---|---|"]
    for key in rows:
        records = [by_key.get(key) for by_key in keyed]
        lines.append(f"| {key[0]} {key[1]} | {_cell(records, 'mttd_s')} | {_cell(records, 'rto_s')} | "
                     f"{_cell(records, 'acknowledged_orders')} |")
    return "\n".join(lines)


def totals(runs: Sequence[tuple[str, list[Record]]]) -> str:
    parts = []
    for driver, records in runs:
        passed = sum(1 for r in records if r.get("verdict") == "pass")
        judged = [int(n) for r in records if isinstance(n := _measured(r, "acknowledged_orders"), int)]
        lost = sum(n for r in records if isinstance(n := _measured(r, "lost_acknowledged_writes"), int))
        rpo = max((float(v) for r in records if isinstance(v := _measured(r, "rpo_s"), (int, float))), default=0.0)
        spread = (f"orders judged {min(judged)} / median {statistics.median(judged):.0f} / max {max(judged)}"
                  if judged else "no orders judged")
        parts.append(f"{driver}: {passed} of {len(records)} real records passed, {spread}, acknowledged writes "
                     f"lost {lost}, worst RPO {fmt_s(rpo)}")
    return "; ".join(parts) + "."


def main(argv: Sequence[str] | None = None) -> int:
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        runs = [load_real_records(path) for path in paths]
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(table(runs))
    print()
    print(totals(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
