"""Pure kernels for embedding-based reranking: best-passage scores and pseudo-relevance feedback.

Arrays in, arrays out; no I/O.
"""

from __future__ import annotations

import numpy as np

__all__ = ["passage_ranges", "best_passage_scores", "feedback_query"]


def passage_ranges(owners: np.ndarray, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each slot's passages sit in an owner-sorted passage table.

    Args:
        owners: ``(p,) int64`` owning slot of each passage, ascending.
        slots: ``(n,) int64`` the documents asked about (any order).

    Returns:
        ``(n,) int64`` start and ``(n,) int64`` end: slot ``i`` owns passages ``start[i]:end[i]``.
    """
    return np.searchsorted(owners, slots, "left"), np.searchsorted(owners, slots, "right")


def best_passage_scores(
    doc_scores: np.ndarray, starts: np.ndarray, ends: np.ndarray, passage_scores: np.ndarray
) -> np.ndarray:
    """Each document's score raised halfway toward its best passage's, when that is higher:
    ``doc + ½ · max(0, best passage − doc)`` (the mean of the document's own score and its
    best window's). On SciFact, dense-only nDCG@10: own vector 0.647, this 0.660, the plain
    maximum 0.645 — a tail passage without the document's opening is a noisier witness than
    the document vector, so it gets half a vote.

    Args:
        doc_scores: ``(n,)`` the query's score against each document's vector (which covers
            the head of the text the model reads).
        starts, ends: ``(n,)`` each document's passage range (:func:`passage_ranges`).
        passage_scores: ``(p,)`` the query's score against every passage of the table (only
            the ranges are read).

    Returns:
        ``(n,) float64``.
    """
    out = np.asarray(doc_scores, dtype=np.float64).copy()
    counts = ends - starts
    has = np.flatnonzero(counts > 0)
    if has.size:
        idx = np.concatenate([np.arange(starts[i], ends[i]) for i in has])
        seg = np.concatenate([[0], np.cumsum(counts[has])[:-1]])
        best = np.maximum.reduceat(np.asarray(passage_scores, dtype=np.float64)[idx], seg)
        out[has] += 0.5 * np.maximum(best - out[has], 0.0)
    return out


def feedback_query(query: np.ndarray, top: np.ndarray, beta: float) -> np.ndarray:
    """Rocchio-style pseudo-relevance feedback in embedding space: the query moved toward the
    centroid of the top-ranked documents, renormalised.

    Args:
        query: ``(dim,) float32`` unit query vector.
        top: ``(m, dim) float32`` the top documents' unit vectors.
        beta: weight of the centroid (0 returns the query).

    Returns:
        ``(dim,) float32`` unit vector.
    """
    q = np.asarray(query, dtype=np.float64)
    if top.shape[0] and beta:
        q = q + beta * np.asarray(top, dtype=np.float64).mean(axis=0)
    norm = float(np.linalg.norm(q))
    return (q / norm if norm > 0 else q).astype(np.float32)
