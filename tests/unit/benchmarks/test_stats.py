"""Statistics of the benchmark harness: expectations computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _stats import Spread, Verdict, latency_summary, overshoot_steps, pick_effort, ratio_of_medians, ratio_of_totals, ratio_unpaired, subtract_intervals, verdict, verdict_exact, window_of

NAN = math.nan


def test_latency_summary_percentiles_and_qps() -> None:
    s = latency_summary([0.001, 0.002, 0.003, 0.004])
    assert s["n"] == 4
    assert s["p50_ms"] == pytest.approx(2.5)
    assert s["max_ms"] == pytest.approx(4.0)
    assert s["qps"] == pytest.approx(4 / 0.010)
    assert latency_summary([]) == {"n": 0}


def test_ratio_of_medians_pairs_queries_and_reports_each_repetition() -> None:
    # peer (num) twice as slow as vecnest (den) in rep 0, three times in rep 1
    num = np.array([[2.0, 4.0, 6.0], [3.0, 6.0, 9.0]])
    den = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    s = ratio_of_medians(num, den, bootstrap=0)
    assert s is not None
    assert s.per_rep == pytest.approx((2.0, 3.0))
    # per query: median over reps = 2.5, 5, 7.5 vs 1, 2, 3 -> medians 5 / 2
    assert s.point == pytest.approx(2.5)
    assert (s.lo, s.hi) == pytest.approx((2.0, 3.0))
    assert s.n == 3


def test_ratio_of_medians_ignores_queries_one_side_did_not_answer() -> None:
    num = np.array([[1.0, 1.0, 100.0]])
    den = np.array([[1.0, 1.0, NAN]])  # the slow query was not answered by den: not compared
    s = ratio_of_medians(num, den, bootstrap=0)
    assert s is not None and s.point == pytest.approx(1.0) and s.n == 2
    assert ratio_of_medians(np.array([[NAN]]), np.array([[1.0]])) is None


def test_bootstrap_interval_contains_the_point_and_widens_the_envelope() -> None:
    rng = np.random.default_rng(1)
    den = rng.lognormal(0.0, 0.3, size=(3, 200))
    num = den * 1.5 * rng.lognormal(0.0, 0.3, size=(3, 200))
    s = ratio_of_medians(num, den)
    assert s is not None and s.ci_lo is not None and s.ci_hi is not None
    assert s.ci_lo < s.point < s.ci_hi
    assert s.lo <= min(s.per_rep) and s.lo <= s.ci_lo
    assert s.hi >= max(s.per_rep) and s.hi >= s.ci_hi
    assert 1.2 < s.point < 1.8


def test_ratio_unpaired_compares_repetitions_and_pools() -> None:
    idle = [np.array([1.0, 1.0, 1.0]), np.array([2.0, 2.0, 2.0, 2.0])]
    busy = [np.array([2.0, 2.0]), np.array([3.0, 3.0, 3.0])]
    s = ratio_unpaired(idle, busy, bootstrap=0)  # idle / busy latency = busy QPS / idle QPS
    assert s is not None
    assert s.per_rep == pytest.approx((0.5, 2 / 3))
    # pooled medians: idle [1,1,1,2,2,2,2] -> 2; busy [2,2,3,3,3] -> 3
    assert s.point == pytest.approx(2 / 3)
    assert (s.lo, s.hi) == pytest.approx((0.5, 2 / 3))
    assert ratio_unpaired([np.array([])], [np.array([1.0])]) is None


def test_ratio_of_totals_pairs_rounds() -> None:
    s = ratio_of_totals([13.0, 12.0, 14.0], [10.0, 10.0, 10.0])
    assert s is not None
    assert s.per_rep == pytest.approx((1.3, 1.2, 1.4))
    assert s.point == pytest.approx(1.3)
    assert (s.lo, s.hi) == pytest.approx((1.2, 1.4))


def _spread(lo: float, hi: float) -> Spread:
    return Spread((lo + hi) / 2, lo, hi, (lo, hi), None, None, 10)


@pytest.mark.parametrize(
    ("lo", "hi", "higher", "expected"),
    [
        (1.05, 1.20, True, Verdict.MET),
        (0.80, 0.95, True, Verdict.NOT_MET),
        (0.95, 1.05, True, Verdict.NOISE),
        (1.00, 1.08, False, Verdict.MET),  # cost <= 1.1
        (1.12, 1.30, False, Verdict.NOT_MET),
        (1.05, 1.15, False, Verdict.NOISE),
    ],
)
def test_verdict_needs_the_whole_spread(lo: float, hi: float, higher: bool, expected: Verdict) -> None:
    target = 1.0 if higher else 1.1
    assert verdict(_spread(lo, hi), target, higher_is_better=higher) is expected


def test_verdict_without_data_and_exact() -> None:
    assert verdict(None, 1.0, higher_is_better=True) is Verdict.NO_DATA
    assert verdict_exact(0.951, 0.95, higher_is_better=True) is Verdict.MET
    assert verdict_exact(0.949, 0.95, higher_is_better=True) is Verdict.NOT_MET
    assert verdict_exact(None, 0.95, higher_is_better=True) is Verdict.NO_DATA


def test_pick_effort_takes_the_first_setting_reaching_the_target() -> None:
    recalls = [0.80, None, 0.94, 0.951, 0.99, 0.999]
    assert pick_effort(recalls, 0.95) == 3
    assert pick_effort(recalls, 0.99) == 4
    assert pick_effort(recalls, 0.9999) is None


def test_overshoot_steps_counts_grid_steps_above_the_needed_effort() -> None:
    grid = [16, 24, 32, 48, 64, 96, 128, 192, 256]
    assert overshoot_steps(grid, 96, 96) == 0
    assert overshoot_steps(grid, 96, 64) == 0
    assert overshoot_steps(grid, 96, 120) == 1
    assert overshoot_steps(grid, 96, 128) == 1
    assert overshoot_steps(grid, 96, 149) == 2  # the example: ef 149 where 96 suffices
    assert overshoot_steps(grid, 192, 1000) == 2  # beyond the grid (256 would be 1)
    with pytest.raises(ValueError, match="not a value of the sweep grid"):
        overshoot_steps(grid, 100, 120)


def test_window_of_labels_times() -> None:
    edges = [(0.0, 1.0, "idle"), (1.0, 2.0, "busy")]
    assert window_of(np.array([0.5, 1.0, 1.99, 2.5]), edges) == ["idle", "busy", "busy", None]


def test_subtract_intervals_removes_every_covered_part() -> None:
    assert subtract_intervals((0.0, 10.0), [(2.0, 3.0), (8.0, 12.0)]) == [(0.0, 2.0), (3.0, 8.0)]
    assert subtract_intervals((0.0, 10.0), [(-1.0, 11.0)]) == []
    assert subtract_intervals((0.0, 10.0), []) == [(0.0, 10.0)]
    assert subtract_intervals((0.0, 10.0), [(10.0, 12.0)]) == [(0.0, 10.0)]
