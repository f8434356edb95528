"""`make bench`: run the benchmarks, save them, and compare them with the previous save of this machine.

    .venv/bin/python benchmarks/run.py [--no-compare] [pytest arguments, e.g. -k writer]

The saves go to reports/benchmarks/<machine id>/NNNN_<commit>_<time>.json (pytest-benchmark's --benchmark-autosave).
The first run has nothing to compare with: it only saves. Later runs compare every benchmark's fastest round with
the previous save's and fail beyond MARGIN_PERCENT. A run that fails (a regression, a growth test, a broken
benchmark) is moved to reports/benchmarks/rejected/, so the baseline stays the last run that passed: a regression
fails every run until it is fixed, or until it is accepted with `--no-compare` (which saves without comparing: the
new baseline, after a change that is meant to cost more). A run given pytest arguments (a selection) compares but
does not save: the baseline is always a whole run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from pytest_benchmark.utils import get_machine_id as _get_machine_id

ROOT = Path(__file__).resolve().parents[1]
STORAGE = ROOT / "reports" / "benchmarks"
REJECTED = STORAGE / "rejected"
# The fastest round, not the mean: on a shared 2-core machine the mean moves with whatever else runs, the minimum
# less. 50 %: over three back-to-back runs on this machine the fastest rounds still differed by up to 29 %
# (checks.standard at 10k and 100k; 20 % for checks.timing at 100k), so 30 % would fail on noise alone; a real
# regression costs far more (a checker turned quadratic: 10x at 1M; a report reading every history twice: 2x).
MARGIN_PERCENT = 50


def machine_id() -> str:
    """pytest-benchmark's name for this machine's saves (system, interpreter, version, bits)."""
    return str(_get_machine_id())  # type: ignore[no-untyped-call]


def saves() -> list[Path]:
    return sorted((STORAGE / machine_id()).glob("[0-9][0-9][0-9][0-9]_*.json"))


def main(argv: list[str]) -> int:
    compare = "--no-compare" not in argv
    passed_on = [arg for arg in argv if arg != "--no-compare"]
    before = saves()
    command = [sys.executable, "-m", "pytest", "benchmarks", "-p", "no:cacheprovider",
               # the end-of-run report plugin acts on reports/latest (another session's run): not ours to touch
               "-p", "no:reports.report_plugin",
               # the collector's cost at 1M live objects is not the checkers' (benchmarks/test_growth.py)
               "--benchmark-disable-gc",
               f"--benchmark-storage=file://{STORAGE}"]
    if not passed_on:
        command.append("--benchmark-autosave")
    if compare and before:
        command += ["--benchmark-compare", f"--benchmark-compare-fail=min:{MARGIN_PERCENT}%"]
    elif compare:
        print(f"benchmarks: no previous save in {STORAGE / machine_id()}: this run is the first baseline")
    status = subprocess.call([*command, *passed_on], cwd=ROOT)
    written = [path for path in saves() if path not in before]
    if status != 0 and written:
        REJECTED.mkdir(parents=True, exist_ok=True)
        for path in written:
            shutil.move(str(path), REJECTED / path.name)
        print(f"benchmarks: failed; the save is kept aside in {REJECTED} and the baseline is unchanged")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
