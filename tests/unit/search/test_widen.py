"""Widening a filtered index search that left queries short (search.widen), and how effort
learning scores such queries (search.effort)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import arxiv_titles
from vecnest.config import IndexConfig, IndexKind
from vecnest.index.ann import AnnIndex
from vecnest.search import effort, widen
from vecnest.search.widen import widening


def test_widening_doubles_while_the_walks_are_estimated_cheaper_than_the_scan() -> None:
    # 161k matches (1M rows, 15 %): walks at ef 20 + 40 + 80 cost less than scanning them
    assert widening("ef_search", 10, n_match=161_000, m=32) == [20, 40, 80]
    # 11k matches (75k rows, 15 %): ef 20 + 40 do, adding 80 would not
    assert widening("ef_search", 10, n_match=11_000, m=32) == [20, 40]
    # 120 matches: the scan is always cheaper
    assert widening("ef_search", 10, n_match=120, m=32) == []
    # IVF: 16 + 32 of 64 cells compute the distances of 3/4 of the matches, 64 more would not fit
    assert widening("nprobe", 8, n_match=500_000, nlist=64) == [16, 32]
    assert all(e <= 40 for e in widening("nprobe", 15, n_match=10**9, nlist=40))


def test_effort_learning_scores_a_widened_query_on_what_it_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """A query the search at the measured effort leaves short is served by the widened search,
    not by an exact scan, where widening applies: the recall effort learning measures for it is
    that of the widened result; where no widening applies, it is completed exactly (1.0)."""
    _, vecs, _, queries = arxiv_titles(4000, n_queries=60, seed=5)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    cfg = IndexConfig(kind=IndexKind.HNSW, m=8, ef_construction=32, min_rows=100)
    ann = AnnIndex.build(vecs, np.arange(len(vecs)), cfg, l2=False)
    rng = np.random.default_rng(0)
    allowed = rng.random(len(vecs)) < 0.03
    packed = np.packbits(allowed, bitorder="little")
    scores = queries @ vecs.T
    scores[:, ~allowed] = -np.inf
    want = [set(np.argsort(-row)[:10].tolist()) for row in scores]
    got, _, _ = ann.search(queries, 10, allowed=allowed, packed=packed, ef_search=10)
    short = np.flatnonzero(got[:, -1] < 0)
    assert len(short), "no query was short: the test lost its case"

    monkeypatch.setattr(widen, "MAX_WIDENINGS", 0)
    exact = effort._recalls(ann, queries, want, allowed, packed, "ef_search", 10)
    assert np.all(exact[short] == 1.0)

    monkeypatch.setattr(widen, "MAX_WIDENINGS", 1)
    monkeypatch.setattr(widen, "WALK_COST", 1e-9)
    served = effort._recalls(ann, queries, want, allowed, packed, "ef_search", 10)
    again, _, _ = ann.search(queries[short], 10, allowed=allowed, packed=packed, ef_search=20)
    assert (again[:, -1] >= 0).any(), "no short query was filled by widening: the test lost its case"
    for row, g in zip(short, again, strict=True):
        expect = 1.0 if g[-1] < 0 else len(want[row] & set(g[g >= 0].tolist())) / len(want[row])
        assert served[row] == pytest.approx(expect)
    others = np.setdiff1d(np.arange(len(queries)), short)
    np.testing.assert_allclose(served[others], exact[others])
