"""reports.figures: the README's table from literal summary.json files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reports.figures import load_real_records, main, table, totals


def record(sid: str, name: str, mttd: float, rto: float, orders: int, *, control: str | None = None,
           verdict: str = "pass", lost: int = 0) -> dict[str, Any]:
    return {"id": sid, "name": name, "control": control, "verdict": verdict,
            "measured": {"mttd_s": mttd, "rto_s": rto, "rpo_s": 0.0, "lost_acknowledged_writes": lost,
                         "acknowledged_orders": orders}}


def summary(tmp_path: Path, driver: str, records: list[dict[str, Any]]) -> Path:
    path = tmp_path / f"{driver}.json"
    path.write_text(json.dumps({"schema": 1, "run": {"driver": driver}, "scenarios": records}))
    return path


def test_one_row_per_scenario_in_runbook_order_with_each_driver_side_by_side(tmp_path: Path) -> None:
    local = summary(tmp_path, "local", [record("10.1", "later", 1.0, 2.0, 300), record("2.2", "Redis", 0.06, 5.4, 255),
                                        record("2.2", "Redis", 9.0, 99.0, 1, control="skip-recovery")])
    docker = summary(tmp_path, "docker", [record("2.2", "Redis", 0.19, 5.5, 256)])
    text = table([load_real_records(local), load_real_records(docker)])
    lines = text.splitlines()
    assert lines[0].startswith("| scenario | MTTD local / docker (s)")
    assert lines[2] == "| 2.2 Redis | 0.06 / 0.19 | 5.40 / 5.50 | 255 / 256 |"  # the control is not a row
    assert lines[3] == "| 10.1 later | 1.00 / — | 2.00 / — | 300 / — |"  # natural order; missing on docker


def test_totals_count_passes_losses_and_the_spread_of_orders(tmp_path: Path) -> None:
    runs = [load_real_records(summary(tmp_path, "local", [record("1.1", "a", 0.1, 1.0, 200),
                                                          record("1.2", "b", 0.1, 1.0, 400, verdict="fail", lost=2)]))]
    assert totals(runs) == ("local: 1 of 2 real records passed, orders judged 200 / median 300 / max 400, "
                            "acknowledged writes lost 2, worst RPO 0 s.")


def test_an_unreadable_summary_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "summary.json"
    bad.write_text("{not json")
    assert main([str(bad)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {bad}: not a readable summary.json")
