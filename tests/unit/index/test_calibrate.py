"""The calibration's decision rules: recall margins, clustered masks, cost crossovers."""

from __future__ import annotations

import numpy as np

from vecnest.index.calibrate import EXACT_BIAS, Calibration, clustered_mask, switch_points


def test_knob_for_recall_keeps_two_standard_errors() -> None:
    cal = Calibration(knob="ef_search", recall=[(16, 0.93, 0.01), (32, 0.965, 0.005), (48, 0.985, 0.003)])
    assert cal.knob_for_recall(0.95) == (32, 0.965)  # 0.965 >= 0.95 + 2 * 0.005
    noisy = Calibration(knob="ef_search", recall=[(16, 0.93, 0.01), (32, 0.965, 0.01), (48, 0.985, 0.003)])
    # 0.965 < 0.95 + 2 * 0.01 at 32; 48 clears: between them, the chord (the curve bends down:
    # 16 -> 32 gained 0.050 a log-unit, 32 -> 48 0.049) reaches its margin at t = 0.005 / 0.034
    knob, rec = noisy.knob_for_recall(0.95)
    assert knob == 34 and abs(rec - (0.965 + 0.005 / 0.034 * 0.02)) < 1e-9
    assert cal.knob_for_recall(0.999) == (48, 0.985)  # unreachable: the best measured


def test_the_knob_is_interpolated_only_where_the_curve_bends_down() -> None:
    # 74k arXiv titles' own table (256 held-out queries): 24 falls short of 0.95 + 2 SE, 32
    # clears it; the curve bends down (16 -> 24: 0.086 a log-unit, 24 -> 32: 0.059)
    real = Calibration(knob="ef_search", recall=[(16, 0.9172, 0.0083), (24, 0.9523, 0.0060), (32, 0.9691, 0.0047), (48, 0.9836, 0.0032)])
    knob, rec = real.knob_for_recall(0.95)
    assert 24 < knob < 32 and knob == 28
    t = (0.95 + 2 * 0.0060 - 0.9523) / ((0.95 + 2 * 0.0060 - 0.9523) + (0.9691 - 0.95 - 2 * 0.0047))
    assert abs(rec - (0.9523 + t * (0.9691 - 0.9523))) < 1e-9
    assert rec >= 0.95  # (the chord's recall clears the target with the interpolated margin)
    # a curve bending up there (convex: the chord may lie above it): the measured value, whole
    convex = Calibration(knob="ef_search", recall=[(16, 0.90, 0.005), (24, 0.91, 0.005), (32, 0.97, 0.005)])
    assert convex.knob_for_recall(0.95) == (32, 0.97)
    # no value before the one short (no evidence of the bend): the measured value
    first = Calibration(knob="ef_search", recall=[(24, 0.9523, 0.0060), (32, 0.9691, 0.0047)])
    assert first.knob_for_recall(0.95) == (32, 0.9691)
    # the first value clears: nothing to interpolate from
    assert real.knob_for_recall(0.90) == (16, 0.9172)
    # an integer knob (IVF nprobe): a whole number strictly between the two values
    ivf = Calibration(knob="nprobe", recall=[(2, 0.80, 0.01), (4, 0.90, 0.008), (8, 0.99, 0.005)])
    n, _ = ivf.knob_for_recall(0.95)
    assert n == 7  # 4 * 2 ** (0.066 / 0.096) = 6.44, rounded up


def test_tables_without_errors_keep_the_old_margin() -> None:
    old = Calibration.from_json({"knob": "ef_search", "recall": [[16, 0.96], [32, 0.98]], "exact_below": 0.01, "post_filter_above": 1.1})
    assert old.knob_for_recall(0.95)[0] == 32  # needs 0.975 (half the allowed miss rate)
    assert Calibration.from_json(old.to_json()) == old


def test_clustered_mask_has_the_selectivity_and_clusters() -> None:
    rng = np.random.default_rng(0)
    slots = np.arange(10_000)
    cells = rng.integers(0, 16, size=len(slots)).astype(np.int32)
    for clustered in (0.0, 0.5, 1.0):
        mask = clustered_mask(cells, slots, 10_000, 0.1, np.random.default_rng(1), clustered=clustered)
        assert mask.sum() == 1000
        share = np.bincount(cells[mask], minlength=16).max() / 1000  # the biggest cell's share
        assert share > 0.4 if clustered == 1.0 else True  # whole cells: one or two dominate
        if clustered == 0.0:
            assert share < 0.12  # random: about 1/16 each


def test_switch_points_follow_the_interpolated_costs() -> None:
    rows = [
        {"selectivity": 0.01, "exact_ms": 0.1, "ann_ms": np.inf, "post_ms": np.inf},
        {"selectivity": 0.1, "exact_ms": 1.0, "ann_ms": 0.9 * EXACT_BIAS, "post_ms": np.inf},
        {"selectivity": 1.0, "exact_ms": 5.0, "ann_ms": 0.3, "post_ms": 0.2},
    ]
    exact_below, post_above = switch_points(rows)
    assert exact_below == 0.1  # the index is unmeasured below 0.1, and wins (with the bias) at 0.1
    assert 0.1 < post_above <= 1.0
    always_exact = [dict(r, ann_ms=np.inf, post_ms=np.inf) for r in rows]
    assert switch_points(always_exact) == (1.1, 1.1)


def test_index_measured_cheaper_reads_the_costs_without_the_bias() -> None:
    rows = [
        {"selectivity": 0.01, "exact_ms": 0.1, "ann_ms": 0.15, "post_ms": np.inf},  # inside the bias
        {"selectivity": 0.1, "exact_ms": 1.0, "ann_ms": 0.5, "post_ms": np.inf},
    ]
    cal = Calibration(knob="nprobe", recall=[(8, 0.97, 0.01)], filtered=rows, exact_below=0.01)
    assert not cal.index_measured_cheaper(0.01)  # chosen by the switch point, yet not cheaper
    assert cal.index_measured_cheaper(0.1)
    assert not cal.index_measured_cheaper(0.001)  # unmeasured: no claim
    assert Calibration(knob="nprobe", recall=[(8, 0.97, 0.01)]).index_measured_cheaper(0.5)  # no filtered table


def test_exact_ms_at_interpolates_the_exact_scans_cost_and_knows_nothing_outside() -> None:
    rows = [
        {"selectivity": 0.01, "exact_ms": 0.1, "ann_ms": 0.15, "post_ms": np.inf},
        {"selectivity": 0.1, "exact_ms": 1.0, "ann_ms": 0.5, "post_ms": np.inf},
    ]
    cal = Calibration(knob="nprobe", recall=[(8, 0.97, 0.01)], filtered=rows)
    assert abs(cal.exact_ms_at(0.01) - 0.1) < 1e-12 and abs(cal.exact_ms_at(0.1) - 1.0) < 1e-12
    assert abs(cal.exact_ms_at(10**-1.5) - 10**-0.5) < 1e-9  # (log-log between the points)
    assert cal.exact_ms_at(0.5) == np.inf and cal.exact_ms_at(0.001) == np.inf
    assert Calibration(knob="nprobe", recall=[(8, 0.97, 0.01)]).exact_ms_at(0.5) == np.inf


def test_exact_timings_of_large_scans_map_a_bounded_window(tmp_path, monkeypatch) -> None:
    """A timed exact scan that would map more of the segment than EXACT_WINDOW_BYTES is timed
    on the matches inside one window of that size and scaled: it reads nothing through the map
    outside the window and leaves no more than the window's edges mapped; a small scan is timed
    whole. (How close the scaled estimate comes to the whole scan's time is measured, not
    asserted: see _exact_ms.)"""
    import math

    from vecnest.compress.memory import mapped_rss
    from vecnest.index import calibrate as cal
    from vecnest.index.flat import FlatIndex
    from vecnest.store.segments import map_file

    rng = np.random.default_rng(0)
    v = rng.normal(size=(32_768, 32)).astype(np.float32)  # 4 MiB
    path = tmp_path / "c1.g0.f32"
    v.tofile(path)
    view = map_file(path, v.nbytes).view(np.float32).reshape(v.shape)
    flat = FlatIndex(view, None, l2=False, path=path)
    fq = rng.normal(size=(16, 32)).astype(np.float32)
    budget = 512 << 10
    monkeypatch.setattr(cal, "EXACT_WINDOW_BYTES", budget)
    reads: list[tuple[int, int]] = []
    search = FlatIndex._search

    def spy(self, queries, k, candidates, read):  # type: ignore[no-untyped-def]
        read = [] if read is None else read
        out = search(self, queries, k, candidates, read)
        for r in read:
            start = r.__array_interface__["data"][0]
            reads.append((start, start + r.nbytes))
        return out

    monkeypatch.setattr(FlatIndex, "_search", spy)
    base = view.__array_interface__["data"][0]
    half = np.flatnonzero(rng.random(len(v)) < 0.5)
    ms = cal._exact_ms(flat, half, fq, rng)
    assert reads and math.isfinite(ms) and ms > 0
    lo, hi = min(a for a, _ in reads), max(b for _, b in reads)
    assert base <= lo and hi - lo <= budget  # one window, never the whole map
    assert mapped_rss([path])[str(path.resolve())] <= 2 * (64 << 10) + 2 * 65536
    monkeypatch.setattr(FlatIndex, "_search", spy)
    reads.clear()
    few = np.sort(rng.choice(len(v), size=4, replace=False))  # 4 x 64 KiB at most: timed whole
    cal._exact_ms(flat, few, fq, rng)
    assert all(a >= base and b <= base + v.nbytes for a, b in reads)
    assert {(a, b) for a, b in reads} != set()


def test_the_effort_ladders_step_by_at_most_half_again() -> None:
    """A filter's effort is interpolated between the measured selectivities, so a coarse step
    at one of them overshoots every filter near it (1M titles at 14.5 %: 1,024 at 10 % and 512
    at 20 % gave 706 where 512 was enough): from 8 on, each effort is at most 1.5x the one
    before."""
    from vecnest.index.calibrate import _LADDER

    for knob, ladder in _LADDER.items():
        assert list(ladder) == sorted(set(ladder)), knob
        assert all(b <= 1.5 * a for a, b in zip(ladder, ladder[1:], strict=False) if a >= 8), knob
    cal = Calibration(knob="ef_search", recall=[(32, 0.99, 0.001)], filtered=[
        {"selectivity": 0.1, "knob": 768.0}, {"selectivity": 0.2, "knob": 512.0}])
    assert cal.knob_for_selectivity(0.1452, 32) < 706
