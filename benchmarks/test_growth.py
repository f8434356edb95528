"""The checkers' cost must grow linearly with the history: ratios of one run, never absolute times.

Each family's fastest round at 1M operations over its fastest at 100k, and at 100k over 10k, must stay below
GROWTH_BOUND. Linear is 10; 20 leaves room for what is not the checker's algorithm: sorting (n log n: log n alone
adds 20 % from 100k to 1M, so 12), and memory: a 10k history (a few MB) stays in the CPU's caches, a 100k or 1M one
does not, so every op costs more. Measured over three runs on the 2-core machine of docs/benchmarks.md: pair_ops,
one pass over a dict, grows 9.8 to 10.9; the other families 9.3 to 18.1, the highest where a checker builds a list,
a dict and a set per key (checks.write_ledger, 1M/100k). A quadratic checker gives 100 and an n^1.5 one 32: both
fail, with room to spare.

The collector is disabled while a benchmark is timed (benchmarks/run.py passes --benchmark-disable-gc): with a
million live operations, CPython's full collections double the time and grow faster than the checkers (40x from
100k to 1M for checks.write_ledger; see docs/benchmarks.md): the interpreter's growth, not the checker's.
"""

from __future__ import annotations

import pytest

from benchmarks.conftest import FASTEST, SIZES

GROWTH_BOUND = 20.0
FAMILIES = ("pair", "windows", "timing", "ledger", "write_ledger", "standard")


@pytest.mark.parametrize("family", FAMILIES)
def test_cost_grows_linearly(family: str) -> None:
    timed = {size: FASTEST.get((family, size)) for size in SIZES}
    missing = [size for size, seconds in timed.items() if seconds is None]
    if missing:
        pytest.skip(f"{family}: not benchmarked at {missing} in this run (a -k selection?)")
    ratios = {f"{big // 1000}k/{small // 1000}k": timed[big] / timed[small]  # type: ignore[operator]
              for small, big in zip(SIZES, SIZES[1:])}
    shown = ", ".join(f"{name} = {ratio:.1f}" for name, ratio in ratios.items())
    print(f"{family}: {shown}")
    assert all(ratio < GROWTH_BOUND for ratio in ratios.values()), f"{family} grows faster than linearly: {shown}"
