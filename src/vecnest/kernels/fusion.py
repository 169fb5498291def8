"""Pure fusion kernels: combine the scores several retrievers gave one set of candidates.

Arrays in, arrays out. Every retriever ("side") is described by two arrays:

- ``scores``: ``(n,)`` its score for each of the ``n`` candidates being fused (the union of the
  sides' top lists, each candidate scored exactly by every side; ``-inf`` = "not retrieved",
  used by rank-based fusion only);
- ``window``: ``(w,)`` its own top-``w`` scores over the whole (filtered) collection — the sample
  its score distribution is estimated from. A lexical side's window is padded with the zeros of
  documents that match no query term (their true BM25 score) up to ``w``.

HIGH-LEVEL: :func:`adaptive` (the default), :func:`rrf`, :func:`weighted`.
LOW-LEVEL: :func:`ranks`, :func:`min_max`, :func:`z_score`, :func:`separation`.

The adaptive rule
-----------------
Standardise each side's scores by its window (``z = (s − mean) / std``) and add them, each side
weighted by the square of its *separation*: how many standard deviations its best score stands
above its window's mean, ``c = (max − mean) / std``::

    fused(d) = Σ_side  c_side² · z_side(d)

Why it works. A retriever that recognises the relevant documents puts them far above the pack,
so its best score is an outlier of its own distribution (large ``c``); a retriever that does
not — a single-vector model facing a combination it cannot represent (LIMIT) — returns a flat
list whose best score is where the maximum of ``w`` draws of noise would be (``c`` ≈ 2 for
``w`` = 46–100). Standardising alone (z-score fusion) already discounts a flat side, but leaves
it enough weight to reorder near-ties of the good side; weighting by ``c²`` makes the flat
side's influence fall with the square of its separation. Read as evidence: for Gaussian
scores whose relevant class sits ``c`` standard deviations up, a side's log-likelihood ratio is
linear in ``z`` with slope ``c``; squaring adds a second factor ``c`` for how reliably that
outlier is a relevant document rather than noise. On the judged sets (default model):

- LIMIT-small: the dense side's separation is 2.3 (median; 1.8–2.9 for 80 % of queries), BM25's
  4.7 — the lexical side weighs ~4x more and recall@2 goes from RRF's 0.45 to 0.97;
- SciFact: dense 4.4, BM25 5.4 — both sides count, BM25 somewhat more (it is the better one
  there), and nDCG@10 rises from RRF's 0.712 and min-max's 0.728 to 0.735 (arXiv title → abstract:
  BM25 0.969, dense 0.928, RRF 0.970, adaptive 0.985).

Scores are "higher is better" on every side. Windows shorter than 2 or with zero spread make a
side carry no weight (it cannot be told from noise).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vecnest.errors import InvalidInputError

__all__ = [
    "DEFAULT_RRF_K",
    "DEFAULT_POWER",
    "adaptive",
    "rrf",
    "weighted",
    "ranks",
    "min_max",
    "z_score",
    "separation",
]

#: RRF's rank offset (Cormack et al. 2009).
DEFAULT_RRF_K = 60.0
#: Exponent of the separation in the adaptive rule's side weights.
DEFAULT_POWER = 2.0


# ---------------------------------------------------------------------------------------------
# LOW-LEVEL
# ---------------------------------------------------------------------------------------------


def ranks(scores: np.ndarray) -> np.ndarray:
    """0-based rank of each score (0 = best); equal scores keep their order; non-finite and
    ``-inf`` scores ("not retrieved") get rank ``inf``.

    Args:
        scores: ``(n,)`` float.

    Returns:
        ``(n,) float64``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    out = np.full(scores.shape, np.inf)
    finite = np.flatnonzero(np.isfinite(scores))
    order = finite[np.argsort(-scores[finite], kind="stable")]
    out[order] = np.arange(order.size, dtype=np.float64)
    return out


def min_max(scores: np.ndarray, window: np.ndarray) -> np.ndarray:
    """``(scores − min(window)) / (max(window) − min(window))``; zeros when the window is flat.

    Args:
        scores: ``(n,)`` float. window: ``(w,)`` float, ``w >= 1``.

    Returns:
        ``(n,) float64``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    window = np.asarray(window, dtype=np.float64)
    if window.size == 0:
        return np.zeros(scores.shape)
    lo, hi = float(window.min()), float(window.max())
    if hi <= lo:
        return np.zeros(scores.shape)
    return (scores - lo) / (hi - lo)


def _mean_std(window: np.ndarray) -> tuple[float, float]:
    window = np.asarray(window, dtype=np.float64)
    if window.size < 2:
        return 0.0, 0.0
    return float(window.mean()), float(window.std())


def z_score(scores: np.ndarray, window: np.ndarray) -> np.ndarray:
    """``(scores − mean(window)) / std(window)`` (population std); zeros when it is 0.

    Args:
        scores: ``(n,)`` float. window: ``(w,)`` float.

    Returns:
        ``(n,) float64``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    mean, std = _mean_std(window)
    if std <= 0:
        return np.zeros(scores.shape)
    return (scores - mean) / std


def separation(window: np.ndarray) -> float:
    """How many standard deviations the best score of ``window`` stands above its mean:
    ``(max − mean) / std``; 0 for fewer than 2 scores or zero spread.

    Args:
        window: ``(w,)`` float.
    """
    mean, std = _mean_std(window)
    if std <= 0:
        return 0.0
    return (float(np.max(window)) - mean) / std


# ---------------------------------------------------------------------------------------------
# HIGH-LEVEL
# ---------------------------------------------------------------------------------------------


def rrf(
    side_scores: Sequence[np.ndarray], *, k: float = DEFAULT_RRF_K, weights: Sequence[float] | None = None
) -> np.ndarray:
    """Reciprocal rank fusion: ``Σ_side w / (k + rank + 1)`` with 0-based ranks among the
    candidates; a candidate a side did not retrieve (``-inf``) gets nothing from it.

    Args:
        side_scores: per side, ``(n,)`` scores of the candidates.
        k: rank offset (``> 0``); larger flattens the head.
        weights: per side (default all 1).

    Returns:
        ``(n,) float64`` fused scores.
    """
    weights = [1.0] * len(side_scores) if weights is None else list(weights)
    out = np.zeros(np.asarray(side_scores[0]).shape)
    for scores, w in zip(side_scores, weights, strict=True):
        out += w / (k + ranks(scores) + 1.0)
    return out


def weighted(
    side_scores: Sequence[np.ndarray],
    windows: Sequence[np.ndarray],
    *,
    weights: Sequence[float] | None = None,
    normalization: str = "min_max",
) -> np.ndarray:
    """Weighted sum of per-side normalised scores (``"min_max"`` or ``"z_score"``, each side
    normalised by its own window).

    Args:
        side_scores: per side, ``(n,)`` scores of the candidates.
        windows: per side, ``(w,)`` its top scores.
        weights: per side (default equal).
        normalization: ``"min_max"`` or ``"z_score"``.

    Returns:
        ``(n,) float64`` fused scores.
    """
    norm = {"min_max": min_max, "z_score": z_score}.get(normalization)
    if norm is None:
        raise InvalidInputError(f"normalization must be 'min_max' or 'z_score'; got {normalization!r}")
    weights = [1.0 / len(side_scores)] * len(side_scores) if weights is None else list(weights)
    out = np.zeros(np.asarray(side_scores[0]).shape)
    for scores, window, w in zip(side_scores, windows, weights, strict=True):
        out += w * norm(scores, window)
    return out


def adaptive(
    side_scores: Sequence[np.ndarray], windows: Sequence[np.ndarray], *, power: float = DEFAULT_POWER
) -> tuple[np.ndarray, np.ndarray]:
    """The default rule (see the module docstring): ``Σ_side separation(window)**power ·
    z_score(scores, window)``.

    Args:
        side_scores: per side, ``(n,)`` exact scores of every candidate (finite).
        windows: per side, ``(w,)`` its top scores over the collection.
        power: exponent of the separation (2 by default; 0 gives plain z-score fusion).

    Returns:
        ``(n,) float64`` fused scores and ``(sides,) float64`` the weights used.
    """
    out = np.zeros(np.asarray(side_scores[0]).shape)
    weights = np.zeros(len(windows))
    for i, (scores, window) in enumerate(zip(side_scores, windows, strict=True)):
        mean, std = _mean_std(window)
        if std <= 0:
            continue
        c = (float(np.max(window)) - mean) / std  # separation(window)
        if c <= 0:
            continue
        weights[i] = c**power
        out += weights[i] * (np.asarray(scores, dtype=np.float64) - mean) / std
    return out, weights
