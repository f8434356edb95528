"""The trend the gate prints (`aarya-chaos gate --trend`): per scenario and driver, the verdicts and figures of
the last N runs of the history and this run, with pass/fail/flaky counts.

    7.1 Slow database [attach]   P P F ~ P    pass 3 fail 1 flaky 1   RTO 12.6 12.2 12.0 ... s
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reports.gate_input import FLAKY, driver_of, figure, is_flaky

DEFAULT_TREND_RUNS = 10
GLYPHS = {"pass": "P", "fail": "F", "error": "E", "skipped": "S", FLAKY: "~"}


@dataclass
class TrendLine:
    id: str
    name: str
    control: str | None
    driver: str
    verdicts: list[str] = field(default_factory=list)  # oldest first
    mttd_s: list[float | None] = field(default_factory=list)
    rto_s: list[float | None] = field(default_factory=list)

    def count(self, verdict: str) -> int:
        return self.verdicts.count(verdict)

    @property
    def glyphs(self) -> str:
        return " ".join(GLYPHS.get(v, "?") for v in self.verdicts)


def _verdict(record: Mapping[str, Any]) -> str:
    return FLAKY if is_flaky(record) else str(record.get("verdict"))


def trend_lines(runs: Sequence[Mapping[str, Any]], *, last: int = DEFAULT_TREND_RUNS) -> list[TrendLine]:
    """Lines over the summaries `runs` (oldest first; the last `last` that hold each line), sorted by id."""
    lines: dict[tuple[str, str, str], TrendLine] = {}
    for summary in runs:
        for record in summary.get("scenarios") or []:
            driver = driver_of(record, summary)
            key = (str(record["id"]), str(record.get("control") or ""), driver)
            line = lines.setdefault(key, TrendLine(key[0], str(record.get("name") or ""), record.get("control"),
                                                   driver))
            line.verdicts.append(_verdict(record))
            line.mttd_s.append(figure(record, "mttd_s"))
            line.rto_s.append(figure(record, "rto_s"))
    for line in lines.values():
        line.verdicts, line.mttd_s, line.rto_s = line.verdicts[-last:], line.mttd_s[-last:], line.rto_s[-last:]
    return [lines[key] for key in sorted(lines)]


def figures_text(values: Sequence[float | None]) -> str:
    return " ".join("—" if v is None else f"{v:.3g}" for v in values)
