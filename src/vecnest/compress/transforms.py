"""Fitted transforms: what a tier does to vectors before coding them, and to queries before scoring.

Stored vectors are centred and mapped by a ``(d, d')`` matrix with orthonormal columns (or
truncated, for Matryoshka): ``x' = (x - mean) @ R``. Scores stay comparable with the exact ones:

- inner product: ``q · x = (q @ R) · x' + q · mean`` (exactly when nothing is truncated), so a
  query is mapped *without* centring and ``q · mean`` is added back (:meth:`query_offset`);
- L2: ``|q - x|² ≈ |(q - mean) @ R - x'|²``, so a query is centred like the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vecnest.compress.spec import TransformKind
from vecnest.kernels import rotation

#: Rows the ITQ rotation is learned on (at most).
ITQ_FIT_ROWS = 20_000


@dataclass(frozen=True)
class FittedTransform:
    """A transform with its fitted arrays.

    Attributes:
        kind: see :class:`TransformKind`.
        dims: output dimensions ``d'``.
        mean: ``(d,) float32`` centre of the fitted sample.
        matrix: ``(d, d') float32`` with orthonormal columns, or ``None`` (truncation).
    """

    kind: TransformKind
    dims: int
    mean: np.ndarray
    matrix: np.ndarray | None

    @classmethod
    def fit(cls, kind: TransformKind, sample: np.ndarray, dims: int, rng: np.random.Generator) -> FittedTransform:
        """Fit on ``(m, d) float32`` sample rows.

        Args:
            kind: the transform.
            sample: rows representative of the collection.
            dims: output dimensions (``<= d``).
            rng: source of the random rotation and of ITQ's initial rotation.
        """
        mean = sample.mean(axis=0, dtype=np.float64).astype(np.float32)
        d = sample.shape[1]
        matrix: np.ndarray | None
        if kind in (TransformKind.NONE, TransformKind.MRL):
            matrix = None
        else:
            centred = sample - mean
            axes, _ = rotation.fit_pca(centred, dims)
            if kind is TransformKind.PCA:
                matrix = axes
            elif kind is TransformKind.ROT:
                matrix = axes @ rotation.random_rotation(dims, rng)
            else:  # ITQ (its iterations cost O(rows·dims²): a sub-sample is enough)
                matrix = axes @ rotation.fit_itq(centred[:ITQ_FIT_ROWS] @ axes, seed=int(rng.integers(1 << 30)))
        if kind is TransformKind.NONE and dims != d:
            raise ValueError("an identity transform keeps every dimension")
        return cls(kind, dims, mean, None if matrix is None else np.ascontiguousarray(matrix, dtype=np.float32))

    def rows(self, x: np.ndarray) -> np.ndarray:
        """``(n, d') float32``: stored rows ``(n, d)`` as the code sees them."""
        return rotation.apply(x, self.mean, self.matrix, self.dims)

    def queries(self, q: np.ndarray, *, l2: bool) -> np.ndarray:
        """``(nq, d') float32``: queries mapped for scoring against :meth:`rows` (see module)."""
        if l2:
            return self.rows(q)
        if self.matrix is None:
            return np.ascontiguousarray(q[:, : self.dims], dtype=np.float32)
        return np.ascontiguousarray(q @ self.matrix, dtype=np.float32)

    def query_offset(self, q: np.ndarray, *, l2: bool) -> np.ndarray:
        """``(nq,) float32`` to add to a code's inner-product score (``q · mean``; 0 for L2)."""
        if l2:
            return np.zeros(len(q), dtype=np.float32)
        return (q @ self.mean).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        """The fitted arrays, for saving."""
        out = {"mean": self.mean}
        if self.matrix is not None:
            out["matrix"] = self.matrix
        return out

    @classmethod
    def from_arrays(cls, kind: TransformKind, dims: int, arrays: dict[str, np.ndarray]) -> FittedTransform:
        """Inverse of :meth:`arrays`."""
        matrix = arrays.get("matrix")
        return cls(kind, dims, np.asarray(arrays["mean"], dtype=np.float32), None if matrix is None else np.asarray(matrix, dtype=np.float32))
