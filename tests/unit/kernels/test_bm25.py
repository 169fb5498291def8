"""BM25 kernels against hand-computed values; top-k exactness on long arrays with ties."""

from __future__ import annotations

import math

import numpy as np

from vecnest.kernels.bm25 import accumulate, idf, length_norms, term_impacts, top_positive


def test_idf_norms_and_impacts_by_hand() -> None:
    np.testing.assert_allclose(idf(np.array([1, 2]), 4), [math.log(1 + 3.5 / 1.5), math.log(2)], rtol=1e-6)
    norms = length_norms(np.array([3, 2]), 2.0, 1.2, 0.75)
    np.testing.assert_allclose(norms, [1.2 * (0.25 + 0.75 * 1.5), 1.2 * (0.25 + 0.75)], rtol=1e-6)
    got = term_impacts(np.array([1, 2], np.uint16), norms, 2.0, 1.2)
    np.testing.assert_allclose(got, [2.0 * 2.2 / (1 + 1.65), 2.0 * 2 * 2.2 / (2 + 1.2)], rtol=1e-6)
    assert term_impacts(np.array([3], np.uint16), np.array([np.inf], np.float32), 1.0, 1.2)[0] == 0.0
    acc = np.zeros(4, np.float32)
    accumulate(acc, np.array([1, 3]), np.array([0.5, 2.0], np.float32))
    accumulate(acc, np.array([3]), np.array([1.0], np.float32))
    assert acc.tolist() == [0.0, 0.5, 0.0, 3.0]


def _oracle(scores: np.ndarray, k: int) -> list[int]:
    idx = np.flatnonzero(scores > 0)
    return idx[np.lexsort((idx, -scores[idx]))][:k].tolist()


def test_top_positive_exact_on_long_arrays_with_ties() -> None:
    rng = np.random.default_rng(3)
    for trial in range(12):
        n = int(rng.integers(5000, 40000))
        scores = np.where(rng.random(n) < 0.5, rng.integers(0, 40, n).astype(np.float32), 0).astype(
            np.float32
        )
        if trial % 3 == 0:
            scores[rng.choice(n, 5, replace=False)] = 100.0  # a few ties at the very top
        for k in (1, 10, 100):
            slots, vals = top_positive(scores, k)
            assert slots.tolist() == _oracle(scores, k)
            np.testing.assert_array_equal(vals, scores[slots])


def test_top_positive_fewer_hits_than_k() -> None:
    scores = np.zeros(10000, np.float32)
    scores[[7, 3, 9000]] = [1.0, 2.0, 1.0]
    slots, vals = top_positive(scores, 10)
    assert slots.tolist() == [3, 7, 9000] and vals.tolist() == [2.0, 1.0, 1.0]
    assert top_positive(scores, 0)[0].size == 0
