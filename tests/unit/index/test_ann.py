"""The FAISS index wrapper: labels are slots, whatever order the rows were added in."""

from __future__ import annotations

import numpy as np
import pytest

from vecnest.config import IndexConfig, IndexKind
from vecnest.index.ann import AnnIndex


@pytest.mark.parametrize("graph_vectors", ["float16", "float32"])
def test_a_filtered_graph_search_searched_directly_returns_what_the_id_map_returns(graph_vectors: str) -> None:
    """Under a filter the graph is searched directly, with the filter's bits permuted to graph
    positions (rows added out of slot order, as the calibration's held-out rows are, and with
    gaps), and the labels translated back: the same slots and scores as through the id map."""
    rng = np.random.default_rng(0)
    n, dim = 3000, 32
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    slots = np.flatnonzero(rng.random(n) < 0.9)  # gaps: rows deleted before the build
    held = rng.choice(slots, 100, replace=False)
    rest = np.setdiff1d(slots, held)
    cfg = IndexConfig(kind=IndexKind.HNSW, m=16, ef_construction=64, graph_vectors=graph_vectors)
    ann = AnnIndex.build(vectors, rest, cfg, l2=False)
    ann.add(vectors, np.sort(held))  # out of slot order, as after a calibration
    assert ann._slot_of is not None and not np.array_equal(ann._slot_of[:-1], np.sort(ann._slot_of[:-1]))
    queries = rng.standard_normal((20, dim)).astype(np.float32)
    for share in (0.02, 0.3, 1.0):
        allowed = np.zeros(n, dtype=bool)
        allowed[slots[rng.random(len(slots)) < share]] = True
        cache: dict = {}
        direct = ann.search(queries, 10, allowed=allowed, ef_search=64, cache=cache)
        again = ann.search(queries, 10, allowed=allowed, ef_search=64, cache=cache)  # the cached bits
        slot_of, ann._slot_of = ann._slot_of, None  # through the id map
        try:
            mapped = ann.search(queries, 10, allowed=allowed, ef_search=64)
        finally:
            ann._slot_of = slot_of
        np.testing.assert_array_equal(direct[0], mapped[0])
        np.testing.assert_array_equal(direct[1], mapped[1])
        np.testing.assert_array_equal(again[0], mapped[0])
        got = direct[0][direct[0] >= 0]
        assert allowed[got].all()  # only rows the filter keeps
        if share < 0.05:  # a short walk: padding -1 with -inf scores, never a slot
            assert set(np.unique(direct[0])) <= set(np.flatnonzero(allowed)) | {-1}
            assert np.isneginf(direct[1][direct[0] < 0]).all()
    # merging more rows keeps the map of positions current
    more = np.arange(n, n + 200)
    vectors2 = np.concatenate([vectors, rng.standard_normal((200, dim)).astype(np.float32)])
    ann.add(vectors2, more)
    allowed = np.zeros(n + 200, dtype=bool)
    allowed[more] = True
    got, _, _ = ann.search(vectors2[more[:5]], 1, allowed=allowed, ef_search=64)
    np.testing.assert_array_equal(got[:, 0], more[:5])
