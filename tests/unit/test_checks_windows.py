"""checks.windows on literal histories: selection, counts, nearest-rank percentiles, phases, timelines."""

from __future__ import annotations

import random

import pytest

from checks.windows import (Bucket, Window, WindowStats, in_window, latency_ms, percentile,
                            phase_windows, timeline, window_stats)
from load.history import Op
from tests.helpers.histories import call, calls, fail, history, hung, invoke, ok

# ---- percentiles ---------------------------------------------------------------------------------


def test_nearest_rank_on_ten_values() -> None:
    values = [float(v) for v in range(10, 101, 10)]  # 10 .. 100
    assert [percentile(values, p) for p in (0, 10, 50, 51, 90, 95, 99, 100)] == [
        10.0, 10.0, 50.0, 60.0, 90.0, 100.0, 100.0, 100.0]


def test_nearest_rank_on_a_hundred_shuffled_values() -> None:
    values = [float(v) for v in range(1, 101)]
    random.Random(7).shuffle(values)
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (50.0, 95.0, 99.0)
    assert percentile(values, 99.5) == 100.0  # rank ceil(99.5) = 100
    assert percentile(values, 0.5) == 1.0


def test_nearest_rank_on_twenty_values_is_always_an_observed_value() -> None:
    values = [float(v * 7) for v in range(1, 21)]  # 7 .. 140, n = 20
    assert percentile(values, 50) == 70.0  # rank 10
    assert percentile(values, 95) == 133.0  # rank 19: no interpolation towards 140
    assert percentile(values, 99) == 140.0  # rank ceil(19.8) = 20


def test_percentile_of_one_value_and_of_none() -> None:
    assert percentile([42.0], 50) == percentile([42.0], 99) == 42.0
    assert percentile([], 50) is None


def test_percentile_outside_0_100_is_refused() -> None:
    with pytest.raises(ValueError):
        percentile([1.0], 101)
    with pytest.raises(ValueError):
        percentile([1.0], -1)


# ---- selection and latency -----------------------------------------------------------------------


def test_windows_are_half_open_on_invocation_time() -> None:
    ops = history(calls("checkout", [0.999, 1.0, 1.5, 2.0], latency=5000.0))
    assert [op.start for op in in_window(ops, 1.0, 2.0)] == [1.0, 1.5]  # completion time is irrelevant


def test_probes_are_excluded_unless_listed() -> None:
    ops = history(call("checkout", 1.0), call("health:commerce", 1.1), call("probe:db", 1.2),
                  call("browse", 1.3))
    assert [op.f for op in in_window(ops, 0, 2)] == ["checkout", "browse"]
    assert [op.f for op in in_window(ops, 0, 2, fs={"health:commerce", "checkout"})] == [
        "checkout", "health:commerce"]
    assert in_window(ops, 0, 2, fs=()) == []


def test_latency_is_recorded_else_measured_else_none() -> None:
    [recorded, measured, never] = history(
        call("x", 1.0, latency=30.0),
        [invoke("m", "x", 2.0), ok("m", "x", 2.25)],  # no latency_ms on the record
        hung("x", 3.0))
    assert latency_ms(recorded) == 30.0
    assert latency_ms(measured) == 250.0
    assert latency_ms(never) is None


def test_window_refuses_to_end_before_it_starts() -> None:
    with pytest.raises(ValueError):
        Window("w", 2.0, 1.0)
    assert 1.0 in Window("w", 1.0, 2.0) and 2.0 not in Window("w", 1.0, 2.0)


# ---- window_stats --------------------------------------------------------------------------------


def test_window_stats_exact() -> None:
    ops = history(
        [call("checkout", 10.0 + i * 0.5, latency=float(lat)) for i, lat in enumerate(range(10, 81, 10))],
        call("checkout", 14.0, "fail", latency=90.0),
        call("checkout", 14.5, "info", latency=100.0),
        hung("checkout", 14.75),  # info, no latency
        call("health:commerce", 12.0, "fail", latency=9999.0),  # a probe: not load
        call("checkout", 9.5, latency=1.0), call("checkout", 15.0, latency=1.0),  # outside
    )
    assert window_stats(ops, Window("fault", 10.0, 15.0)) == WindowStats(
        name="fault", start=10.0, end=15.0, total=11, ok=8, fail=1, info=2, success_rate=8 / 11,
        p50_ms=50.0, p95_ms=100.0, p99_ms=100.0, max_latency_ms=100.0, throughput_per_s=8 / 5)


def test_window_stats_filters_by_name() -> None:
    ops = history(call("checkout", 1.0, latency=20.0), call("browse", 1.5, "fail", latency=40.0))
    stats = window_stats(ops, Window("w", 0.0, 2.0), fs={"browse"})
    assert (stats.total, stats.ok, stats.fail, stats.success_rate, stats.p50_ms) == (1, 0, 1, 0.0, 40.0)
    assert stats.throughput_per_s == 0.0


def test_window_stats_of_an_empty_window() -> None:
    stats = window_stats(history(call("checkout", 5.0)), Window("w", 0.0, 2.0))
    assert (stats.total, stats.success_rate, stats.p50_ms, stats.max_latency_ms, stats.throughput_per_s) == (
        0, None, None, None, 0.0)
    assert window_stats([], Window("point", 1.0, 1.0)).throughput_per_s is None


def test_window_stats_only_hung_ops_have_no_latency() -> None:
    stats = window_stats(history(hung("checkout", 1.0), hung("checkout", 1.5)), Window("w", 0, 2))
    assert (stats.info, stats.success_rate, stats.p99_ms) == (2, 0.0, None)


# ---- phases --------------------------------------------------------------------------------------


def test_phase_windows_with_a_restoration() -> None:
    assert phase_windows(0.0, 10.0, 17.5, 40.0) == [
        Window("baseline", 0.0, 10.0), Window("fault", 10.0, 17.5), Window("recovery", 17.5, 40.0)]


def test_phase_windows_without_a_restoration_the_fault_lasts_to_the_end() -> None:
    assert phase_windows(0.0, 10.0, None, 40.0) == [Window("baseline", 0.0, 10.0), Window("fault", 10.0, 40.0)]


@pytest.mark.parametrize("args", [(5.0, 1.0, None, 9.0), (0.0, 10.0, 5.0, 40.0), (0.0, 10.0, 50.0, 40.0),
                                  (0.0, 50.0, None, 40.0)])
def test_phase_windows_out_of_order_are_refused(args: tuple[float, float, float | None, float]) -> None:
    with pytest.raises(ValueError):
        phase_windows(*args)


# ---- timeline ------------------------------------------------------------------------------------


def test_timeline_buckets_exact_and_the_last_one_cut_at_end() -> None:
    ops = history(call("checkout", 0.0, latency=10.0), call("checkout", 0.5, "fail", latency=30.0),
                  call("checkout", 1.0, latency=20.0), hung("checkout", 1.75),
                  call("health:commerce", 1.2), call("checkout", 2.25, "info", latency=50.0),
                  call("checkout", 2.5, latency=1.0))  # at end: excluded
    assert timeline(ops, 0.0, 2.5, bucket_s=1.0) == [
        Bucket(0.0, 1.0, ok=1, fail=1, info=0, success_rate=0.5, p95_ms=30.0),
        Bucket(1.0, 2.0, ok=1, fail=0, info=1, success_rate=0.5, p95_ms=20.0),
        Bucket(2.0, 2.5, ok=0, fail=0, info=1, success_rate=0.0, p95_ms=50.0),
    ]


def test_timeline_empty_buckets_and_degenerate_ranges() -> None:
    buckets = timeline(history(call("checkout", 3.5)), 0.0, 4.0, bucket_s=2.0)
    assert [(b.start, b.end, b.total, b.success_rate, b.p95_ms) for b in buckets] == [
        (0.0, 2.0, 0, None, None), (2.0, 4.0, 1, 1.0, 10.0)]
    assert timeline([], 1.0, 1.0) == []
    with pytest.raises(ValueError):
        timeline([], 0.0, 1.0, bucket_s=0)
    with pytest.raises(ValueError):
        timeline([], 1.0, 0.0)


def test_timeline_buckets_tile_the_range_and_count_every_op_once() -> None:
    rng = random.Random(3)
    for _ in range(50):
        start, end, bucket = rng.uniform(0, 5), rng.uniform(5, 30), rng.choice([0.1, 0.3, 1.0, 7.0])
        ops: list[Op] = history(calls("x", [rng.uniform(0, 35) for _ in range(60)]))
        buckets = timeline(ops, start, end, bucket_s=bucket)
        assert buckets[0].start == start and buckets[-1].end == end
        assert all(a.end == b.start and a.start < a.end for a, b in zip(buckets, buckets[1:]))
        assert sum(b.total for b in buckets) == len(in_window(ops, start, end))


def test_fail_record_helper_is_a_failure() -> None:
    [op] = history(invoke("a", "x", 1.0), fail("a", "x", 1.5, 500.0))
    assert window_stats([op], Window("w", 0, 2)).fail == 1
