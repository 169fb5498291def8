"""Reranking the fused candidates without a cross-encoder — and with one, when the user brings it.

Embedding-based rescorers give the dense side better scores for the candidates and the sides
are fused again (:func:`refuse`), so lexical evidence keeps its say:

- :class:`PassageRescorer`: a long document's score moves halfway toward its best passage's
  (its own vector covers the head; stored passage vectors cover the rest, see
  ``vecnest.search.passages`` and ``vecnest.kernels.rerank.best_passage_scores``);
- :class:`FeedbackRescorer`: E²Rank-style listwise pseudo-relevance feedback in embedding space —
  the query vector is moved toward the centroid of the first-stage top documents and the
  candidates are re-scored against it (no model call at query time).

A cross-encoder replaces the order of the top candidates outright (:class:`CrossEncoderReranker`:
any callable ``(query, texts) -> scores``, or a sentence-transformers ``CrossEncoder`` under
the ``torch`` extra via :func:`load_cross_encoder`).

Measured on SciFact (``benchmarks/hybrid.py``, nDCG@10): passages lift dense-only search from
0.647 to 0.659 but not the hybrid (0.735 → 0.734: BM25 already reads the text the model
truncates); feedback costs 0.004–0.010 in both. Neither reaches the issue's 0.74 with reranking;
that needs a cross-encoder, which this interface accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from vecnest._deps import require
from vecnest.errors import InvalidInputError
from vecnest.kernels.rerank import best_passage_scores, feedback_query, passage_ranges
from vecnest.search.hybrid import FusedHits, FusionConfig, Side, fuse

__all__ = [
    "DenseRescorer",
    "PassageRescorer",
    "FeedbackRescorer",
    "refuse",
    "CrossEncoderReranker",
    "load_cross_encoder",
]

#: Stored vectors of given slots: ``(n,) int64 -> (n, dim) float32``.
VectorsFn = Callable[[np.ndarray], np.ndarray]


class DenseRescorer(Protocol):
    """Re-scores candidates on the dense side: ``(query vector (dim,), first-stage hits,
    slots (n,)) -> (n,) scores``."""

    def __call__(self, query: np.ndarray, first: FusedHits, slots: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class PassageRescorer:
    """``q·doc + ½ max(0, max_p q·p − q·doc)`` for each candidate (see
    :func:`vecnest.kernels.rerank.best_passage_scores`).

    Attributes:
        vectors: the documents' stored vectors by slot.
        owners: ``(p,) int64`` passage owners, ascending (``PassageIndex.owners``).
        passages: ``(p, dim)`` passage vectors (``PassageIndex.vectors``).
    """

    vectors: VectorsFn
    owners: np.ndarray
    passages: np.ndarray

    def __call__(self, query: np.ndarray, first: FusedHits, slots: np.ndarray) -> np.ndarray:
        doc = self.vectors(slots) @ query
        starts, ends = passage_ranges(self.owners, slots)
        touched = np.unique(
            np.concatenate(
                [np.arange(a, b) for a, b in zip(starts, ends, strict=True)] or [np.empty(0, np.int64)]
            )
        )
        scores = np.zeros(self.owners.size)
        if touched.size:
            scores[touched] = np.asarray(self.passages[touched], dtype=np.float32) @ query
        return best_passage_scores(doc, starts, ends, scores)


@dataclass(frozen=True)
class FeedbackRescorer:
    """Pseudo-relevance feedback: re-score against ``normalise(q + beta · mean(top m))``.

    Attributes:
        vectors: the documents' stored vectors by slot.
        top: how many first-stage hits form the feedback centroid.
        beta: the centroid's weight.
    """

    vectors: VectorsFn
    top: int = 3
    beta: float = 0.5

    def __call__(self, query: np.ndarray, first: FusedHits, slots: np.ndarray) -> np.ndarray:
        q = feedback_query(query, self.vectors(first.slots[: self.top]), self.beta)
        return self.vectors(slots) @ q


def refuse(
    sides: Sequence[Side],
    first: FusedHits,
    query: np.ndarray,
    rescorers: Sequence[DenseRescorer],
    k: int,
    *,
    eligible: int,
    config: FusionConfig | None = None,
) -> FusedHits:
    """Fuse again with the dense side re-scored by each rescorer in turn.

    Args:
        sides: the first stage's sides (one named ``"dense"``).
        first: the first stage's fused hits (feedback reads its top).
        query: ``(dim,) float32`` the query vector.
        rescorers: applied in order, each to the previous one's result.
        k, eligible, config: as for :func:`vecnest.search.hybrid.fuse`.

    Returns:
        The fused hits after reranking.
    """
    names = [s.name for s in sides]
    if "dense" not in names:
        raise InvalidInputError("embedding-based reranking needs a dense side (mode='dense' or 'hybrid')")
    i = names.index("dense")
    dense = sides[i]
    cand = np.unique(np.concatenate([np.asarray(s.slots, dtype=np.int64) for s in sides]))
    hits = first
    for rescore in rescorers:
        new = np.asarray(rescore(query, hits, cand), dtype=np.float64)
        lookup = dict(zip(cand.tolist(), new.tolist(), strict=True))
        window = np.asarray(dense.slots, dtype=np.int64)
        scores = np.array([lookup[s] for s in window.tolist()])
        order = np.argsort(-scores, kind="stable")

        def score(slots: np.ndarray, _r: DenseRescorer = rescore, _h: FusedHits = hits) -> np.ndarray:
            return np.asarray(_r(query, _h, slots))

        dense = replace(dense, slots=window[order], scores=scores[order], score=score)
        sides = [*sides[:i], dense, *sides[i + 1 :]]
        hits = fuse(sides, k, eligible=eligible, config=config)
    return hits


@dataclass(frozen=True)
class CrossEncoderReranker:
    """Reorders the top ``depth`` hits by a cross-encoder's scores (hits below keep their order).

    Attributes:
        score: ``(query, texts) -> (n,) scores``, higher is more relevant.
        depth: how many hits are rescored (a cross-encoder costs one model pass per hit).
    """

    score: Callable[[str, list[str]], Sequence[float]]
    depth: int = 50

    def rerank(self, query: str, hits: FusedHits, texts: Callable[[np.ndarray], list[str]]) -> FusedHits:
        """Reorder ``hits``; ``texts(slots)`` fetches the documents' texts."""
        d = min(self.depth, hits.slots.size)
        if d == 0:
            return hits
        scores = np.asarray(self.score(query, texts(hits.slots[:d])), dtype=np.float64)
        if scores.shape != (d,):
            raise InvalidInputError(f"the cross-encoder returned {scores.shape} scores for {d} texts")
        order = np.concatenate([np.lexsort((hits.slots[:d], -scores)), np.arange(d, hits.slots.size)])
        new_scores = np.concatenate([scores, hits.scores[d:]])
        return replace(
            hits,
            slots=hits.slots[order],
            scores=new_scores[order],
            side_scores=hits.side_scores[:, order],
            side_ranks=hits.side_ranks[:, order],
        )


def load_cross_encoder(name_or_path: str, *, depth: int = 50, **kwargs: object) -> CrossEncoderReranker:
    """A :class:`CrossEncoderReranker` around ``sentence_transformers.CrossEncoder`` (extra
    ``torch``; the model must be available locally — nothing is downloaded at run time)."""
    st = require("sentence_transformers", "torch", "Reranking with a cross-encoder")
    model = st.CrossEncoder(name_or_path, local_files_only=True, **kwargs)

    def score(query: str, texts: list[str]) -> list[float]:
        return [float(x) for x in model.predict([(query, t) for t in texts])]

    return CrossEncoderReranker(score, depth)
