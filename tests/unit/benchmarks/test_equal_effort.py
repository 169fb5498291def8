"""The equal-effort harness's Python floor: the same search as the raw FAISS call, returned as
vecnest's ``Hits``; and its columns in the generated report."""

from __future__ import annotations

import faiss
import numpy as np
import pytest
from _render_workloads import render_equal_effort
from collections import Counter

from equal_effort import BALANCED, K, PythonFloor, RawFaiss

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


def test_the_floor_returns_a_short_list_as_the_raw_call_does(graph: tuple[faiss.Index, np.ndarray, np.ndarray]) -> None:
    index, base, queries = graph
    raw = RawFaiss(index)
    floor = PythonFloor(raw, len(base))
    mask = np.zeros(len(base), dtype=bool)
    mask[[3, 77, 140, 401, 599]] = True  # (fewer rows than k: FAISS pads its list with -1)
    params = raw.params("five", mask, 64)
    for q in queries[:5]:
        hits = floor.search(q, params)
        labels = raw.search(q / np.linalg.norm(q), params)
        assert [int(h.id) for h in hits] == [int(x) for x in labels if x >= 0]
        assert 0 < len(hits) <= 5 and {int(h.id) for h in hits} <= {3, 77, 140, 401, 599}


@pytest.mark.parametrize("m", sorted(BALANCED))
def test_the_side_orders_are_carry_over_balanced(m: int) -> None:
    orders = BALANCED[m]
    assert all(sorted(o) == list(range(m)) for o in orders)
    for side in range(m):  # each side takes each place equally often
        assert len(set(Counter(o.index(side) for o in orders).values())) == 1
        assert len(Counter(o.index(side) for o in orders)) == m
    flat = [s for o in orders for s in o]
    before = Counter((flat[i - 1], flat[i]) for i in range(len(flat)))  # (cyclic: across orders too)
    if m > 2:  # each side follows each other side equally often, never itself
        for side in range(m):
            assert before[(side, side)] == 0
            assert len({before[(other, side)] for other in range(m) if other != side}) == 1


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
    frow = dict(with_floor, workload="sel_15%", selectivity=0.147, ef_used=32, vecnest_distances=830, faiss_distances=830)
    for text in (after, render_equal_effort(dict(d, filtered=[frow], overhead=[]))):
        tables = "\n".join(line if line.startswith("|") else "" for line in text.splitlines()).split("\n\n")
        tables = [t.strip().splitlines() for t in tables if t.strip()]
        assert tables and all(len({line.count("|") for line in t}) == 1 for t in tables)  # (every row has its header's cells)
        assert any("Python floor cost ratio" in t[0] and len(t) >= 3 for t in tables)  # (a header, its rule, a row)
