"""`make bench`: run the benchmarks, save them, and compare them with the previous save of this machine.

    .venv/bin/python benchmarks/run.py [--no-compare] [pytest arguments, e.g. -k writer]

The saves go to reports/benchmarks/<machine id>/NNNN_<commit>_<time>.json (pytest-benchmark's --benchmark-autosave).
The first run has nothing to compare with: it only saves. Later runs compare every benchmark's fastest round with
the previous save's and fail beyond MARGIN_PERCENT. A run that fails (a regression, a growth test, a broken
benchmark) is moved to reports/benchmarks/rejected/, so the baseline stays the last run that passed: a regression
fails every run until it is fixed, or until it is accepted with `--no-compare` (which saves without comparing: the
new baseline, after a change that is meant to cost more). A run given pytest arguments (a selection) compares but
does not save: the baseline is always a whole run. A regression must show twice: the regressed benchmarks are run
again alone against the same save, and only if they regress again does the run fail (a run that passes only on
the second look passes, and is not saved as the baseline).
"""

from __future__ import annotations

import re
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


def run(command: list[str]) -> tuple[int, str]:
    """Run `command` in the project, its output shown as it comes; (exit status, the output)."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        print(line, end="", flush=True)
        lines.append(line)
    return process.wait(), "".join(lines)


def regressed(output: str) -> list[str]:
    """The benchmarks pytest-benchmark reported as regressed (`\ttest_pair[10k] (0002_...) - Field 'min' ...`), when
    that is the run's only failure; else [] (a test failed too: nothing to confirm)."""
    # the regression is raised from pytest's terminal summary, before its last line: the progress lines tell
    progress = re.findall(r"^benchmarks/\S+\.py ([.sxXFE]+)", output, re.MULTILINE)
    if not progress or any("F" in marks or "E" in marks for marks in progress):
        return []
    return sorted(set(re.findall(r"^\t(\S+) \(\S+\) - Field", output, re.MULTILINE)))


def selection(names: list[str]) -> str:
    """A -k expression for benchmark names: `test_pair[10k]` -> `(test_pair and 10k)`."""
    return " or ".join("(" + " and ".join(name.replace("]", "").split("[")) + ")" for name in names)


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
    checks = ["--benchmark-compare", f"--benchmark-compare-fail=min:{MARGIN_PERCENT}%"]
    if compare and not before:
        print(f"benchmarks: no previous save in {STORAGE / machine_id()}: this run is the first baseline")
    status, output = run([*command, *(checks if compare and before else []),
                          *([] if passed_on else ["--benchmark-autosave"]), *passed_on])
    written = [path for path in saves() if path not in before]
    confirmed = True
    if status != 0 and compare and before and regressed(output):
        # A burst of other work on a shared machine can slow one benchmark's every round: a regression counts when
        # it shows again, in a second run of just those benchmarks against the same save.
        names = regressed(output)
        print(f"benchmarks: confirming the regression of {', '.join(names)} (a second run of them alone)")
        again, _ = run([*command, f"--benchmark-compare={before[-1].name.split('_')[0]}", *checks[1:],
                        "-k", selection(names)])
        confirmed = again != 0
        status = again
    if (status != 0 or not confirmed) and written:
        REJECTED.mkdir(parents=True, exist_ok=True)
        for path in written:
            shutil.move(str(path), REJECTED / path.name)
        verdict = "failed" if status != 0 else "passed on the second look, but its first figures are noisy"
        print(f"benchmarks: {verdict}; the save is kept aside in {REJECTED} and the baseline is unchanged")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
