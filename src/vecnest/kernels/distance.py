"""Pure numpy kernels for exact search: normalisation, scoring, top-k. Arrays in, arrays out.

Scores are "higher is better" for every metric: cosine and dot give the inner product (vectors for
cosine are normalised beforehand), L2 gives the negative squared Euclidean distance.
"""

from __future__ import annotations

import numpy as np

#: Upper bound on the (queries × rows) float32 score block computed at once, in elements.
SCORE_BLOCK_ELEMENTS = 16 * 1024 * 1024


def row_norms(x: np.ndarray) -> np.ndarray:
    """``(n,) float64`` Euclidean norm of each row of ``(n, dim) float32`` ``x`` (accumulated in
    float64: it cannot overflow, and it is zero exactly for all-zero rows)."""
    return np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))


def l2_normalize(x: np.ndarray, norms: np.ndarray | None = None) -> np.ndarray:
    """Return ``x`` with unit-norm rows.

    Args:
        x: ``(n, dim) float32``; rows must be non-zero.
        norms: ``row_norms(x)``, if already computed.

    Returns:
        ``(n, dim) float32`` (a new array).
    """
    norms = row_norms(x) if norms is None else norms
    return (x / norms[:, None]).astype(np.float32)  # in float64: a norm may exceed float32


def squared_norms(x: np.ndarray) -> np.ndarray:
    """``(n,) float32`` squared L2 norm of each row of ``(n, dim)`` ``x``."""
    return np.einsum("ij,ij->i", x, x, dtype=np.float32)


def score(
    queries: np.ndarray,
    vectors: np.ndarray,
    *,
    l2: bool = False,
    vector_sq_norms: np.ndarray | None = None,
) -> np.ndarray:
    """Score every query against every vector with one BLAS matrix product.

    Args:
        queries: ``(q, dim) float32``.
        vectors: ``(n, dim) float32`` (may be a read-only memory map).
        l2: score by negative squared Euclidean distance instead of inner product.
        vector_sq_norms: ``(n,) float32`` squared norms of ``vectors``; required when ``l2``.

    Returns:
        ``(q, n) float32`` scores, higher is better.
    """
    scores = np.asarray(queries @ vectors.T, dtype=np.float32)
    if l2:
        if vector_sq_norms is None:
            raise ValueError("vector_sq_norms is required for l2 scoring")
        scores *= 2.0
        scores -= vector_sq_norms[None, :]
        scores -= squared_norms(queries)[:, None]
    return scores


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` largest scores per row, best first.

    ``-inf`` marks an excluded entry; rows with fewer than ``k`` finite scores keep their
    ``-inf`` tail, which callers drop.

    Args:
        scores: ``(q, n) float32``.
        k: number to keep, ``1 <= k``; clipped to ``n``.

    Returns:
        ``(q, k') int64`` column indices and ``(q, k') float32`` scores, ``k' = min(k, n)``.
    """
    q, n = scores.shape
    k = min(k, n)
    if k == 0:
        return np.empty((q, 0), dtype=np.int64), np.empty((q, 0), dtype=np.float32)
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), (q, n))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return (
        np.take_along_axis(part, order, axis=1).astype(np.int64, copy=False),
        np.take_along_axis(part_scores, order, axis=1),
    )


def query_blocks(n_queries: int, n_rows: int) -> list[slice]:
    """Split ``n_queries`` into slices so each score block stays under the element budget."""
    per = max(1, SCORE_BLOCK_ELEMENTS // max(1, n_rows))
    return [slice(i, min(i + per, n_queries)) for i in range(0, n_queries, per)]
