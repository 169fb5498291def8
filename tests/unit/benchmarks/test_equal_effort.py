"""The equal-effort harness's Python floor: the same search as the raw FAISS call, returned as
vecnest's ``Hits``; and its columns in the generated report."""

from __future__ import annotations

import faiss
import numpy as np
import pytest
from _render_workloads import render_equal_effort
from equal_effort import K, PythonFloor, RawFaiss

import vecnest


@pytest.fixture(scope="module")
def graph() -> tuple[faiss.Index, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(600, 16)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    inner = faiss.IndexHNSWFlat(16, 16, faiss.METRIC_INNER_PRODUCT)
    index = faiss.IndexIDMap(inner)
    order = rng.permutation(600)  # (graph positions differ from the row numbers, as after a merge)
    index.add_with_ids(base[order], order.astype(np.int64))
    queries = rng.normal(size=(20, 16)).astype(np.float32) * 3.0  # (not unit: the floor normalises)
    return index, base, queries


@pytest.mark.parametrize("filtered", [False, True])
def test_the_floor_returns_the_raw_calls_answer_as_hits(graph: tuple[faiss.Index, np.ndarray, np.ndarray], filtered: bool) -> None:
    index, base, queries = graph
    raw = RawFaiss(index)
    floor = PythonFloor(raw, len(base))
    mask = (np.arange(len(base)) % 3 == 0) if filtered else None
    params = raw.params("w" if filtered else "unfiltered", mask, 32)
    for q in queries:
        hits = floor.search(q, params)
        unit = q / np.linalg.norm(q)
        labels = raw.search(unit, params)
        assert isinstance(hits, vecnest.Hits) and all(isinstance(h, vecnest.Hit) for h in hits)
        assert [int(h.id) for h in hits] == [int(x) for x in labels if x >= 0]
        assert len(hits) == K
        # scores are the query's (normalised) inner products with the stored rows
        np.testing.assert_allclose([h.score for h in hits], base[[int(h.id) for h in hits]] @ unit, rtol=1e-4, atol=1e-5)
        if filtered:
            assert all(int(h.id) % 3 == 0 for h in hits)


def test_the_report_shows_the_floor_and_runs_without_it() -> None:
    row = {
        "workload": "unfiltered", "ef": 32, "vecnest_p50_ms": 0.105, "faiss_p50_ms": 0.091, "extra_us": 14.0,
        "cost_ratio": {"point": 1.16, "lo": 1.15, "hi": 1.17}, "verdict": "not met", "vecnest_recall": 0.97,
        "faiss_recall": 0.97, "same_top10_fraction": 1.0,
    }
    d = {"n": 74228, "n_queries": 500, "config": {"k": 10, "reps": 5}, "graph": "g", "overhead": [row], "filtered": [], "default_effort": {}}
    before = render_equal_effort(d)
    assert "Python floor cost ratio" in before and "| 32 |" in before
    with_floor = dict(row, floor_p50_ms=0.099, floor_extra_us=8.0, floor_cost_ratio={"point": 1.09, "lo": 1.08, "hi": 1.10})
    after = render_equal_effort(dict(d, overhead=[with_floor]))
    assert "1.09" in after and "1.09" not in before
