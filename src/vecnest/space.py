"""A collection's vector space: texts and arrays in, validated and normalised float32 rows out.

Documents and queries reach a collection as texts (embedded with its encoder, queries with the
query prompt) or as precomputed vectors of any float dtype; either way they leave as C-contiguous
``(n, dim) float32`` rows, unit-length for the cosine metric, or a typed error naming what was
expected.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vecnest.config import Metric
from vecnest.encode.base import Encoder
from vecnest.errors import InvalidInputError, NoEncoderError
from vecnest.kernels.distance import l2_normalize, row_norms
from vecnest.records import check_texts, check_vectors

Progress = Callable[[int], None]


class VectorSpace:
    """Dimension, metric and (optional) encoder of one collection.

    Args:
        name: the collection's name (for error messages).
        dim: vector dimension.
        metric: the collection's metric; cosine vectors are normalised here.
        encoder: embeds texts, or ``None`` for a vectors-only collection.
        fingerprint: the encoder the collection was built with, if any (for the hint when
            ``encoder`` is missing).
    """

    def __init__(self, name: str, dim: int, metric: Metric, encoder: Encoder | None, fingerprint: dict[str, Any] | None) -> None:
        self.name = name
        self.dim = dim
        self.metric = metric
        self.encoder = encoder
        self.fingerprint = fingerprint

    def require_encoder(self) -> Encoder:
        """The encoder, or :class:`NoEncoderError` saying how to attach one."""
        if self.encoder is None:
            fp = self.fingerprint
            hint = (
                f"it was built with model {fp['name']!r}: pass model= to get_collection() to "
                "attach that encoder"
                if fp
                else "it stores precomputed vectors only: pass vectors= / a query vector"
            )
            raise NoEncoderError(f"collection {self.name!r} has no encoder to embed text; {hint}")
        return self.encoder

    def given(self, vectors: object, n: int | None) -> np.ndarray:
        """Precomputed vectors (``n`` of them, if given), validated and normalised."""
        return self.normalize(check_vectors(vectors, n, self.dim))

    def documents(self, texts: list[str], progress: Progress | None) -> np.ndarray:
        """Embed document texts."""
        encoder = self.require_encoder()
        vecs = check_vectors(encoder.encode_documents(texts, progress=progress), len(texts), self.dim)
        return vecs if encoder.normalized else self.normalize(vecs)

    def queries(self, queries: Sequence[str] | np.ndarray) -> np.ndarray:
        """``(q, dim)`` rows from a list of query texts or an array of query vectors."""
        if isinstance(queries, np.ndarray):
            return self.given(queries, None)
        if isinstance(queries, str) or not isinstance(queries, Sequence) or not queries:
            raise InvalidInputError(
                f"queries must be a non-empty list of str or a (q, {self.dim}) array; got "
                f"{type(queries).__name__}"
            )
        if all(isinstance(q, str) for q in queries):
            texts = check_texts(list(queries), len(queries))
            encoder = self.require_encoder()
            vecs = check_vectors(encoder.encode_queries(texts), len(texts), self.dim)
            return vecs if encoder.normalized else self.normalize(vecs)
        return self.given(queries, None)

    def one_query(self, query: np.ndarray) -> np.ndarray:
        """``(1, dim)`` from one 1-D float32 vector: the single-query hot path (one dot
        product); anything unusual takes the general route of :meth:`queries`."""
        if query.shape[0] != self.dim or self.metric is not Metric.COSINE:
            return self.queries(query[None, :])  # raises the dimension error, if any
        sq = float(np.vdot(query, query))  # vdot: no floating-point warning on overflow
        if not 1e-30 < sq < 1e30:  # zero, tiny, huge, NaN or infinite: the careful route
            return self.queries(query[None, :])
        return (query * (1.0 / math.sqrt(sq)))[None, :]

    def normalize(self, vecs: np.ndarray) -> np.ndarray:
        """Unit rows for the cosine metric (exact for tiny and huge components); others as is."""
        if self.metric is not Metric.COSINE:
            return vecs
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            sq = (vecs * vecs).sum(axis=1)  # float32: the fast path for ordinary vectors
        if sq.min(initial=np.inf) > 1e-30 and np.isfinite(sq).all():  # far from under/overflow
            return vecs / np.sqrt(sq)[:, None]
        norms = row_norms(vecs)  # float64: exact for tiny and huge components
        zeros = np.flatnonzero(norms == 0)
        if len(zeros):
            raise InvalidInputError(
                f"vectors[{int(zeros[0])}] is all zeros, which has no direction for the cosine "
                "metric; drop it or use metric='dot' / 'l2'"
            )
        return l2_normalize(vecs, norms)
