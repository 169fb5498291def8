from __future__ import annotations

import numpy as np
import pytest

from vecnest.kernels.distance import l2_normalize, query_blocks, row_norms, score, squared_norms, top_k


def test_score_inner_product_by_hand() -> None:
    q = np.array([[1.0, 2.0]], dtype=np.float32)
    v = np.array([[3.0, 4.0], [-1.0, 0.5], [0.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(score(q, v), [[11.0, 0.0, 0.0]])


def test_score_l2_is_negative_squared_distance() -> None:
    q = np.array([[1.0, 2.0]], dtype=np.float32)
    v = np.array([[3.0, 4.0], [1.0, 2.0]], dtype=np.float32)
    # |(1,2)-(3,4)|^2 = 4 + 4 = 8 ; identical point -> 0
    got = score(q, v, l2=True, vector_sq_norms=squared_norms(v))
    np.testing.assert_allclose(got, [[-8.0, 0.0]], atol=1e-6)


def test_score_l2_needs_norms() -> None:
    with pytest.raises(ValueError, match="vector_sq_norms"):
        score(np.ones((1, 2), np.float32), np.ones((1, 2), np.float32), l2=True)


def test_top_k_orders_best_first_and_clips_k() -> None:
    s = np.array([[0.1, 0.9, 0.5, 0.7], [3.0, 2.0, 1.0, 0.0]], dtype=np.float32)
    idx, val = top_k(s, 2)
    np.testing.assert_array_equal(idx, [[1, 3], [0, 1]])
    np.testing.assert_allclose(val, [[0.9, 0.7], [3.0, 2.0]])
    idx, _ = top_k(s, 10)
    np.testing.assert_array_equal(idx, [[1, 3, 2, 0], [0, 1, 2, 3]])


def test_top_k_matches_full_sort(rng: np.random.Generator) -> None:
    s = rng.normal(size=(5, 1000)).astype(np.float32)
    idx, _ = top_k(s, 17)
    np.testing.assert_array_equal(idx, np.argsort(-s, axis=1)[:, :17])


def test_row_norms_and_normalize() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0], [0.0, 2.0], [3e38, 3e38]], dtype=np.float32)
    norms = row_norms(x)
    assert norms.dtype == np.float64
    np.testing.assert_allclose(norms, [5.0, 0.0, 2.0, 3e38 * np.sqrt(2)], rtol=1e-6)  # no overflow
    np.testing.assert_array_equal(np.flatnonzero(norms == 0), [1])
    np.testing.assert_allclose(l2_normalize(x[[0, 2]]), [[0.6, 0.8], [0.0, 1.0]])
    out = l2_normalize(x[[0, 3]], norms[[0, 3]])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [2**-0.5, 2**-0.5]], rtol=1e-6)


def test_query_blocks_cover_all_queries() -> None:
    blocks = query_blocks(10, 16 * 1024 * 1024 // 3)
    assert [(b.start, b.stop) for b in blocks] == [(0, 3), (3, 6), (6, 9), (9, 10)]
