"""Pure kernels for the relevance cut-off: per-hit features, the distribution test, logistic fit.

Arrays in, arrays out; no I/O.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["FEATURES", "hit_features", "beats_background", "sigmoid", "fit_logistic"]

#: Names of the columns :func:`hit_features` returns (a fitted model stores them).
FEATURES = ("bias", "fused_z", "gap_to_best", "dense_score", "lexical_share", "log_rank")


def _z(values: np.ndarray, sample: np.ndarray) -> np.ndarray:
    sample = np.asarray(sample, dtype=np.float64)
    std = float(sample.std()) if sample.size > 1 else 0.0
    if std <= 0:
        return np.zeros(np.shape(values))
    return (np.asarray(values, dtype=np.float64) - float(sample.mean())) / std


def hit_features(
    fused: np.ndarray,
    candidates: np.ndarray,
    dense: np.ndarray | None,
    lexical_share: np.ndarray | None,
) -> np.ndarray:
    """Features of the returned hits of one query.

    Args:
        fused: ``(k,)`` fused scores of the hits, best first.
        candidates: ``(n,)`` fused scores of every candidate of the query.
        dense: ``(k,)`` the dense side's raw scores (cosine for normalised models), or ``None``.
        lexical_share: ``(k,)`` BM25 score over the query's bound ``(k1 + 1) · Σ idf`` (0–1),
            or ``None``.

    Returns:
        ``(k, len(FEATURES)) float64``: 1, the hit's z among the candidates, its z minus the
        best hit's, the dense score, the lexical share, ``ln(1 + rank)``.
    """
    k = np.shape(fused)[0]
    z = _z(fused, candidates)
    out = np.zeros((k, len(FEATURES)))
    out[:, 0] = 1.0
    out[:, 1] = z
    out[:, 2] = z - (z[0] if k else 0.0)
    if dense is not None:
        out[:, 3] = dense
    if lexical_share is not None:
        out[:, 4] = lexical_share
    out[:, 5] = np.log1p(np.arange(k))
    return out


def beats_background(fused: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Probability that each hit scores above the best of ``n`` draws of the query's own
    background: ``Φ(z)^n`` with ``z`` the hit's standard score among the ``n`` candidates
    (an extreme-value test that needs no labels).

    Args:
        fused: ``(k,)`` fused scores of the hits. candidates: ``(n,)`` of every candidate.

    Returns:
        ``(k,) float64`` in [0, 1].
    """
    n = max(int(np.shape(candidates)[0]), 1)
    z = _z(fused, candidates)
    phi = 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0))) if z.size else z
    return np.power(np.clip(phi, 0.0, 1.0), n)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + e^-x)``, overflow-safe."""
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -x))


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1e-2, iterations: int = 100) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method (IRLS).

    Args:
        x: ``(m, f) float64`` features (include a bias column).
        y: ``(m,)`` labels in {0, 1}.
        l2: ridge penalty on every coefficient.
        iterations: at most this many Newton steps (stops when a step is below 1e-9).

    Returns:
        ``(f,) float64`` coefficients.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = np.zeros(x.shape[1])
    eye = np.eye(x.shape[1])
    for _ in range(iterations):
        p = sigmoid(x @ w)
        grad = x.T @ (p - y) + l2 * w
        hess = (x * (p * (1.0 - p))[:, None]).T @ x + l2 * eye
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-9:
            break
    return w
