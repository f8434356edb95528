"""Fixtures of the benchmarks: generated histories by size, and the timings the growth tests compare.

Run them with `make bench` (benchmarks/run.py); `pytest tests` never collects this directory (pyproject's
testpaths is ["tests"], and the Makefile names its directories).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from benchmarks.histories import History, generate, records
from load.history import Record

SIZES = (10_000, 100_000, 1_000_000)
# Rounds per size: enough, and spread over enough time, for a minimum that a burst of other work does not reach
# (at 10k and 100k); few at 1M, so that `make bench` stays within minutes.
ROUNDS = {10_000: 25, 100_000: 8, 1_000_000: 2}

#: (family, size) -> the fastest round in seconds, filled in by `judged` for benchmarks/test_growth.py.
FASTEST: dict[tuple[str, int], float] = {}


@pytest.hookimpl(trylast=True)  # after pytest has grouped the tests by the size of their history
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The growth tests read the other benchmarks' timings: they run last."""
    items.sort(key=lambda item: item.module.__name__.endswith("test_growth") if isinstance(item, pytest.Function)
               else False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Each checker family's fastest round per size, and its growth ratios (benchmarks/test_growth.py)."""
    families = sorted({family for family, _ in FASTEST})
    if not families:
        return
    terminalreporter.section("checker cost by history size (fastest round)")
    for family in families:
        timed = [FASTEST.get((family, size)) for size in SIZES]
        cells = "  ".join(f"{size // 1000:>5}k {t * 1000:9.1f} ms" if t is not None else f"{size // 1000:>5}k         -"
                          for size, t in zip(SIZES, timed))
        ratios = "  ".join(f"x{big / small:5.1f}" for small, big in zip(timed, timed[1:]) if small and big)
        terminalreporter.write_line(f"{family:<13} {cells}   growth {ratios}")


@pytest.fixture(scope="session", params=SIZES, ids=lambda n: f"{n // 1000}k")
def history(request: pytest.FixtureRequest) -> Iterator[History]:
    """One generated history per size; pytest groups the tests by size, so each is built once."""
    yield generate(request.param)


@pytest.fixture(scope="session")
def history_records(history: History) -> list[Record]:
    return list(records(history))


Judge = Callable[[str, int, Callable[[], Any]], Any]


@pytest.fixture
def judged(benchmark: Any) -> Judge:
    """Time `fn` over a history of `size` ops (few rounds at 1M), and keep its fastest round for the growth tests."""

    def run(family: str, size: int, fn: Callable[[], Any]) -> Any:
        benchmark.group = f"checker {family}"
        benchmark.extra_info["ops"] = size
        result = benchmark.pedantic(fn, rounds=ROUNDS[size], iterations=1, warmup_rounds=1 if size < 1_000_000 else 0)
        FASTEST[(family, size)] = benchmark.stats.stats.min
        return result

    return run
