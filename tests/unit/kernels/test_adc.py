from __future__ import annotations

import numpy as np

import faiss
from vecnest.kernels.adc import pq_knn


def test_pq_knn_equals_decoded_scores(rng: np.random.Generator) -> None:
    x = rng.standard_normal((2000, 16)).astype(np.float32)
    q = rng.standard_normal((3, 16)).astype(np.float32)
    pq = faiss.ProductQuantizer(16, 4, 8)
    pq.train(x)
    codes = pq.compute_codes(x)
    rec = pq.decode(codes)
    for l2 in (False, True):
        want = -((q[:, None, :] - rec[None]) ** 2).sum(axis=2) if l2 else q @ rec.T
        scores, idx = pq_knn(pq, q, codes, 5, l2=l2)
        np.testing.assert_allclose(scores, -np.sort(-want, axis=1)[:, :5], rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(np.take_along_axis(want, idx, axis=1), scores, rtol=1e-4, atol=1e-3)
    empty_scores, empty_idx = pq_knn(pq, q, codes[:0], 5, l2=False)
    assert (empty_idx == -1).all() and np.isneginf(empty_scores).all()
