"""The calibration's decision rules: recall margins, clustered masks, cost crossovers."""

from __future__ import annotations

import numpy as np

from vecnest.index.calibrate import EXACT_BIAS, Calibration, clustered_mask, precise, refined, switch_points


def test_knob_for_recall_keeps_two_standard_errors() -> None:
    cal = Calibration(knob="ef_search", recall=[(16, 0.93, 0.01), (32, 0.965, 0.005), (48, 0.985, 0.003)])
    assert cal.knob_for_recall(0.95) == (32, 0.965)  # 0.965 >= 0.95 + 2 * 0.005
    noisy = Calibration(knob="ef_search", recall=[(16, 0.93, 0.01), (32, 0.965, 0.01), (48, 0.985, 0.003)])
    assert noisy.knob_for_recall(0.95)[0] == 48  # 0.965 < 0.95 + 2 * 0.01
    assert cal.knob_for_recall(0.999) == (48, 0.985)  # unreachable: the best measured


def test_refined_measures_between_the_values_that_bracket_the_target() -> None:
    # a recall curve where 24 falls short of 0.95 + 2 SE and 32 clears it, 28 too, 26 not
    truth = {16: 0.917, 24: 0.952, 26: 0.958, 28: 0.961, 32: 0.969, 48: 0.984}
    se = 0.005
    asked: list[int] = []

    def measure(v: int) -> tuple[float, float]:
        asked.append(v)
        return truth[v], se

    table = [(v, truth[v], se) for v in (16, 24, 32, 48)]
    out = refined(table, measure, 0.95)
    assert asked == [28, 26]  # the geometric middle of 24..32, then of 24..28 (28 cleared)
    assert [r[0] for r in out] == [16, 24, 26, 28, 32, 48]  # sorted, the ladder's rows kept
    assert Calibration(knob="ef_search", recall=out).knob_for_recall(0.95) == (28, 0.961)
    # the cheapest value clears already, or none does: nothing measured
    asked.clear()
    assert refined(table, measure, 0.90) == table and refined(table, measure, 0.999) == table
    assert asked == []
    # a bracket with no whole value inside (IVF nprobe 1..2): nothing measured
    assert refined([(1, 0.90, 0.01), (2, 0.99, 0.005)], measure, 0.95) == [(1, 0.90, 0.01), (2, 0.99, 0.005)]
    # one step only: the middle alone
    asked.clear()
    assert [r[0] for r in refined(table, measure, 0.95, steps=1)] == [16, 24, 28, 32, 48] and asked == [28]


def test_precise_measures_the_bracket_again_on_every_query() -> None:
    """The ladder's rows measured on a sample (standard error 0.006: 0.958 at 192 falls short of
    0.962) are measured again on all the queries (error 0.003: 0.957 at 192 clears 0.956) around
    the least value clearing the target, walking down while they clear, and the first that
    does not is measured too: the bracket ends both on every query."""
    full = {128: (0.930, 0.003), 192: (0.957, 0.003), 256: (0.966, 0.0025), 384: (0.977, 0.002)}
    asked: list[int] = []

    def measure(v: int) -> tuple[float, float]:
        asked.append(v)
        return full[v]

    sample = [(96, 0.91, 0.008), (128, 0.93, 0.007), (192, 0.958, 0.006), (256, 0.967, 0.005), (384, 0.978, 0.004)]
    out = precise(sample, measure, 0.95)
    assert asked == [256, 192, 128]
    assert out == [(96, 0.91, 0.008), (128, 0.930, 0.003), (192, 0.957, 0.003), (256, 0.966, 0.0025), (384, 0.978, 0.004)]
    assert Calibration(knob="ef_search", recall=out).knob_for_recall(0.95)[0] == 192
    assert Calibration(knob="ef_search", recall=sample).knob_for_recall(0.95)[0] == 256
    # where the sample's least clearing value fails on every query, it walks up
    worse = {256: (0.955, 0.003), 384: (0.962, 0.002), 512: (0.97, 0.002)}
    asked.clear()
    out = precise([(192, 0.94, 0.006), (256, 0.964, 0.005), (384, 0.975, 0.004), (512, 0.98, 0.003)], lambda v: (asked.append(v), worse[v])[1], 0.95)
    assert asked == [256, 384] and Calibration(knob="ef_search", recall=out).knob_for_recall(0.95)[0] == 384
    # none clears on the sample: nothing measured
    asked.clear()
    assert precise(sample, measure, 0.999) == sorted(sample) and asked == []


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


def test_calibration_reads_its_held_out_queries_without_mapping_them(tmp_path) -> None:
    """The held-out rows the calibration queries with are read from the segment's file, in
    their given order: read through the map, each would map the pages around it (fault-around:
    256 rows spread over a 1M x 256 segment, up to 16 MiB more of a build's peak)."""
    from vecnest.compress.memory import mapped_rss
    from vecnest.config import IndexConfig, IndexKind
    from vecnest.index.ann import AnnIndex
    from vecnest.index.calibrate import calibrate
    from vecnest.index.flat import FlatIndex
    from vecnest.store.segments import map_file

    rng = np.random.default_rng(3)
    v = rng.normal(size=(32_768, 32)).astype(np.float32)  # 4 MiB
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    path = tmp_path / "c1.g0.f32"
    v.tofile(path)
    view = map_file(path, v.nbytes).view(np.float32).reshape(v.shape)
    flat = FlatIndex(view, None, l2=False, path=path)
    held = rng.choice(len(v), size=256, replace=False)  # (unsorted: the order of the queries)
    held[-1] = held[0]  # (a repeated slot: the same query twice)
    indexed = np.setdiff1d(np.arange(len(v)), held)
    ann = AnnIndex.build(v, indexed, IndexConfig(kind=IndexKind.HNSW, m=8, ef_construction=32), l2=False)
    calibrate(ann, flat, indexed, held, rng=rng, with_filters=False)
    assert mapped_rss([path])[str(path.resolve())] <= 2 * 65536
    seen: list[np.ndarray] = []
    real = ann.search

    def spy(queries, k, **kw):  # type: ignore[no-untyped-def]
        seen.append(np.array(queries))
        return real(queries, k, **kw)

    ann.search = spy  # type: ignore[method-assign]
    calibrate(ann, flat, indexed, held, rng=rng, with_filters=False)
    # the queries: the held-out rows (in a random order: the ladder's sample is the first 256)
    assert len(seen[0]) == len(held) and sorted(map(bytes, seen[0])) == sorted(map(bytes, v[held]))
    # more held-out rows than the ladder's sample: the ladder on 256 of them, the bracket around
    # the target again on all
    from vecnest.index.calibrate import _LADDER, LADDER_QUERIES

    seen.clear()
    more = rng.choice(indexed, size=512, replace=False)  # (timing the calls only: in the index or not)
    out = calibrate(ann, flat, indexed, more, rng=rng, with_filters=False)
    sizes = [len(x) for x in seen]
    assert sizes[: len(_LADDER["ef_search"])] == [LADDER_QUERIES] * len(_LADDER["ef_search"]) and 512 in sizes
    assert not np.array_equal(seen[0], v[np.sort(more)][:LADDER_QUERIES])  # (a random sample, not the lowest slots)
    assert out.knob_for_recall(0.95)[0] in {int(r[0]) for r in out.recall}


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
