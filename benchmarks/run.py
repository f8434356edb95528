"""`make bench`: run the benchmarks, save them, and compare them with the previous save of this machine.

    .venv/bin/python benchmarks/run.py [--no-compare] [pytest arguments, e.g. -k writer]

The saves go to reports/benchmarks/<machine id>/NNNN_<commit>_<time>.json (pytest-benchmark's --benchmark-autosave).
The first run has nothing to compare with: it only saves. Later runs compare every benchmark's fastest round with
the previous save's and fail beyond MARGIN_PERCENT. A run that fails (a regression, a growth test, a broken
benchmark) is moved to reports/benchmarks/rejected/, so the baseline stays the last run that passed: a regression
fails every run until it is fixed, or until it is accepted with `--no-compare` (which saves without comparing: the
new baseline, after a change that is meant to cost more). A run given pytest arguments (a selection) compares but
does not save: the baseline is always a whole run. A regression must show twice: the regressed benchmarks, and the
families whose growth test failed, are run again alone against the same save, and the run fails only if they fail
again (a run that passes only on the second look passes, and is not saved as the baseline).
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


def to_confirm(output: str) -> list[str]:
    """The node ids to run again when the run failed only on timings: each benchmark pytest-benchmark reported as
    regressed (`\ttest_pair[10k] (0002_...) - Field 'min' ...`), and each checker family whose growth test failed
    (its benchmarks at every size, and that growth test). [] when anything else failed: nothing to confirm."""
    failed = re.findall(r"^_{3,} (\S+) _{3,}$", output, re.MULTILINE)
    growth = [name for name in failed if name.startswith("test_cost_grows_linearly[")]
    if len(growth) < len(failed) or re.search(r"^benchmarks/\S+\.py [.sxXF]*E", output, re.MULTILINE):
        return []
    files = {match: path.relative_to(ROOT).as_posix() for path in sorted((ROOT / "benchmarks").glob("test_*.py"))
             for match in re.findall(r"^def (test_\w+)\(", path.read_text(), re.MULTILINE)}
    ids = [f"{files[name.split('[')[0]]}::{name}"
           for name in re.findall(r"^\t(\S+) \(\S+\) - Field", output, re.MULTILINE) if name.split("[")[0] in files]
    for name in growth:
        family = name[len("test_cost_grows_linearly["):-1]
        ids += [f"{files['test_' + family]}::test_{family}", f"{files['test_cost_grows_linearly']}::{name}"]
    whole = {node for node in ids if "[" not in node}
    return sorted({node for node in ids if node.split("[")[0] not in whole or node in whole})


def main(argv: list[str]) -> int:
    compare = "--no-compare" not in argv
    passed_on = [arg for arg in argv if arg != "--no-compare"]
    before = saves()
    pytest = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
              # the end-of-run report plugin acts on reports/latest (another session's run): not ours to touch
              "-p", "no:reports.report_plugin",
              # the collector's cost at 1M live objects is not the checkers' (benchmarks/test_growth.py)
              "--benchmark-disable-gc",
              f"--benchmark-storage=file://{STORAGE}"]
    comparing = compare and bool(before)
    fail_on = [f"--benchmark-compare-fail=min:{MARGIN_PERCENT}%"]
    if compare and not before:
        print(f"benchmarks: no previous save in {STORAGE / machine_id()}: this run is the first baseline")
    status, output = run([*pytest, "benchmarks", *(["--benchmark-compare", *fail_on] if comparing else []),
                          *([] if passed_on else ["--benchmark-autosave"]), *passed_on])
    written = [path for path in saves() if path not in before]
    again = to_confirm(output) if status != 0 else []
    if again:
        # A burst of other work on a shared machine can slow every round of one benchmark: a regression, or a growth
        # test over such a round, counts when it shows again in a second run of just those tests (same save).
        print(f"benchmarks: confirming on a second run: {' '.join(again)}")
        baseline = before[-1].name.split("_")[0] if comparing else None
        status, _ = run([*pytest, *([f"--benchmark-compare={baseline}", *fail_on] if baseline else []), *again])
    if (status != 0 or again) and written:
        REJECTED.mkdir(parents=True, exist_ok=True)
        for path in written:
            shutil.move(str(path), REJECTED / path.name)
        verdict = "failed" if status != 0 else "passed on the second look, but its first figures are noisy"
        print(f"benchmarks: {verdict}; the save is kept aside in {REJECTED} and the baseline is unchanged")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
