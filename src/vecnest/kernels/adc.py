"""Asymmetric distance computation (ADC) over 8-bit product-quantizer codes, by FAISS in place."""

from __future__ import annotations

import numpy as np


import faiss


def pq_knn(
    pq: faiss.ProductQuantizer, queries: np.ndarray, codes: np.ndarray, k: int, *, l2: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` rows of 8-bit PQ ``codes`` for each query by FAISS's ADC scan, in place.

    Args:
        pq: a trained ``ProductQuantizer`` with ``nbits == 8``.
        queries: ``(q, d) float32`` in the quantizer's space.
        codes: ``(n, M) uint8`` C-contiguous.
        k: results per query (at most ``n``).
        l2: rank by smallest squared L2 distance instead of largest inner product.

    Returns:
        ``(q, k) float32`` scores, higher is better (inner products, or negated squared L2
        distances) and ``(q, k) int64`` rows, best first (``-1``: none).
    """
    x = np.ascontiguousarray(queries, dtype=np.float32)
    n = codes.shape[0]
    k = max(1, min(k, n))
    val, idx = np.empty((len(x), k), dtype=np.float32), np.empty((len(x), k), dtype=np.int64)
    if n == 0:
        return np.full((len(x), k), -np.inf, np.float32), np.full((len(x), k), -1, np.int64)
    heap = faiss.float_maxheap_array_t() if l2 else faiss.float_minheap_array_t()
    heap.nh, heap.k, heap.val, heap.ids = len(x), k, faiss.swig_ptr(val), faiss.swig_ptr(idx)
    (pq.search if l2 else pq.search_ip)(faiss.swig_ptr(x), len(x), faiss.swig_ptr(codes), n, heap, True)
    if l2:
        val = -val
    val[idx < 0] = -np.inf
    return val, idx
