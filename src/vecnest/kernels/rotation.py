"""Fitted linear maps applied before coding: PCA, random and ITQ rotations. Arrays in, arrays out.

Every map here is a ``(d, d')`` float32 matrix ``R`` with orthonormal columns, used on centred row
vectors as ``(x - mean) @ R``; the inner product of two mapped vectors approximates that of the
centred originals (exactly when ``d' = d``).
"""

from __future__ import annotations

import numpy as np


def fit_pca(centred: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Principal axes of centred rows, by decreasing variance.

    Args:
        centred: ``(m, d) float32`` rows with the mean already subtracted.
        dims: axes to keep, ``1 <= dims <= d``.

    Returns:
        ``(d, dims) float32`` matrix of axes (orthonormal columns) and ``(dims,) float64``
        variances along them.
    """
    x = centred.astype(np.float64)
    cov = x.T @ x / max(len(x) - 1, 1)
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1][:dims]
    axes = vectors[:, order]
    # a deterministic sign per axis (eigh's is arbitrary): largest component positive
    signs = np.sign(axes[np.abs(axes).argmax(axis=0), np.arange(dims)])
    return (axes * np.where(signs == 0, 1.0, signs)).astype(np.float32), values[order]


def random_rotation(dims: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random ``(dims, dims) float32`` orthogonal matrix (QR of a Gaussian matrix,
    signs fixed so the distribution is Haar)."""
    q, r = np.linalg.qr(rng.standard_normal((dims, dims)))
    return (q * np.sign(np.diag(r))).astype(np.float32)


def fit_itq(projected: np.ndarray, iterations: int = 50, seed: int = 0) -> np.ndarray:
    """The ITQ rotation (Gong & Lazebnik) of PCA-projected rows, learned by FAISS's ``ITQMatrix``:
    the orthogonal ``(d', d') float32`` matrix ``R`` minimising ``||sign(xR) - xR||``.

    Args:
        projected: ``(m, d') float32`` centred, PCA-projected rows.
        iterations: alternating optimisation steps.
        seed: FAISS's random initial rotation.
    """
    import faiss

    d = projected.shape[1]
    itq = faiss.ITQMatrix(d)
    itq.max_iter = iterations
    itq.seed = seed
    itq.train(np.ascontiguousarray(projected, dtype=np.float32))
    a = faiss.vector_to_array(itq.A).reshape(d, d)  # y = A x for column vectors
    return np.ascontiguousarray(a.T, dtype=np.float32)


def apply(x: np.ndarray, mean: np.ndarray, matrix: np.ndarray | None, dims: int) -> np.ndarray:
    """``(n, dims) float32``: ``(x - mean) @ matrix``, or the first ``dims`` centred coordinates
    when ``matrix`` is ``None``.

    Args:
        x: ``(n, d) float32``.
        mean: ``(d,) float32``.
        matrix: ``(d, dims) float32`` or ``None``.
        dims: output dimensions.
    """
    centred = x - mean
    if matrix is None:
        return np.ascontiguousarray(centred[:, :dims], dtype=np.float32)
    return np.ascontiguousarray(centred @ matrix, dtype=np.float32)
