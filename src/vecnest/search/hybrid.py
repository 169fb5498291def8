"""Hybrid search: fuse the dense and lexical sides of one query into one ranking.

Each side hands over its *window*: its top ``window`` hits (slots and scores) among the documents
the query may return (live and matching the filter). The candidates are the union of the
windows; every candidate is then scored **exactly** by every side (the dense side by a dot
product with the stored vector, the lexical side from its score array), so no candidate is
fused with a missing score. The windows double as the samples each side's score distribution is
estimated from (see :mod:`vecnest.kernels.fusion`), which is what lets the default rule notice
a side that is failing on this query.

Shapes: slots are ``int64``, scores ``float32``/``float64``, "higher is better" on every side.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from vecnest.errors import InvalidInputError
from vecnest.kernels import fusion

__all__ = ["FusionMethod", "FusionConfig", "Side", "FusedHits", "fuse"]

#: Scores of given slots on one side: ``(n,) int64 -> (n,) float``.
ScoreFn = Callable[[np.ndarray], np.ndarray]


class FusionMethod(StrEnum):
    """How the sides' scores are combined."""

    ADAPTIVE = "adaptive"  #: default: z-scores weighted by each side's separation² (per query)
    RRF = "rrf"  #: reciprocal rank fusion (ranks within the candidates)
    WEIGHTED = "weighted"  #: fixed weights over min-max (or z-score) normalised scores


@dataclass(frozen=True)
class FusionConfig:
    """How hybrid search fuses (per search; nothing is stored).

    Attributes:
        method: see :class:`FusionMethod`.
        window: hits taken from each side — the candidates, and the sample each side's score
            distribution is estimated from. Larger costs more candidates to score (and a deeper
            approximate search on the dense side); SciFact nDCG@10 of the default rule is
            0.735 / 0.738 / 0.739 / 0.737 at 100 / 150 / 200 / 300 (LIMIT-small and arXiv
            unchanged).
        power: exponent of each side's separation in its weight (``ADAPTIVE``); 0 gives plain
            z-score fusion, larger trusts the more peaked side more.
        rrf_k: RRF's rank offset.
        weights: per-side weights for ``RRF`` and ``WEIGHTED`` (dense first), default equal.
        normalization: ``"min_max"`` or ``"z_score"`` for ``WEIGHTED``.
    """

    method: FusionMethod = FusionMethod.ADAPTIVE
    window: int = 100
    power: float = fusion.DEFAULT_POWER
    rrf_k: float = fusion.DEFAULT_RRF_K
    weights: tuple[float, ...] | None = None
    normalization: str = "min_max"

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "method", FusionMethod(self.method))
        except ValueError:
            raise InvalidInputError(
                f"fusion method must be one of {[m.value for m in FusionMethod]}; got {self.method!r}"
            ) from None
        if (
            isinstance(self.window, bool)
            or not isinstance(self.window, int)
            or not 2 <= self.window <= 10_000
        ):
            raise InvalidInputError(f"fusion window must be an int in 2..10000; got {self.window!r}")
        if not (self.power >= 0 and self.rrf_k > 0):
            raise InvalidInputError(
                f"fusion needs power >= 0 and rrf_k > 0; got power={self.power}, rrf_k={self.rrf_k}"
            )
        if self.normalization not in ("min_max", "z_score"):
            raise InvalidInputError(
                f"normalization must be 'min_max' or 'z_score'; got {self.normalization!r}"
            )
        if self.weights is not None:
            object.__setattr__(self, "weights", tuple(float(w) for w in self.weights))


@dataclass(frozen=True)
class Side:
    """One retriever's answer to the query.

    Attributes:
        name: ``"dense"`` or ``"lexical"`` (for explanations).
        slots: ``(w,) int64`` its top hits, best first (at most ``window``).
        scores: ``(w,) float`` their scores.
        score: exact scores of any slots on this side (used for candidates the side did not
            return itself).
        pad_to: the window's nominal size when the side's missing hits have a known score of 0
            (the lexical side: documents without a query term) — the window is padded with
            zeros up to ``min(pad_to, eligible documents)``; ``None`` for the dense side.
    """

    name: str
    slots: np.ndarray
    scores: np.ndarray
    score: ScoreFn
    pad_to: int | None = None


@dataclass(frozen=True)
class FusedHits:
    """The fused ranking of one query (best first) and how it came about.

    Attributes:
        slots: ``(k,) int64``.
        scores: ``(k,) float64`` fused scores.
        side_scores: ``(sides, k) float64`` each side's exact score of each hit.
        side_ranks: ``(sides, k) int64`` 0-based rank of each hit in each side's window, -1 when
            outside it.
        weights: ``(sides,) float64`` the weights the rule gave the sides (``ADAPTIVE``: the
            separations raised to ``power``).
        names: the sides' names.
        candidate_scores: ``(n,) float64`` fused scores of every candidate (what a relevance
            cut-off compares a hit with).
    """

    slots: np.ndarray
    scores: np.ndarray
    side_scores: np.ndarray
    side_ranks: np.ndarray
    weights: np.ndarray
    names: tuple[str, ...]
    candidate_scores: np.ndarray = field(repr=False)


def _window(side: Side, eligible: int) -> np.ndarray:
    w = np.asarray(side.scores, dtype=np.float64)
    if side.pad_to is not None:
        size = min(side.pad_to, eligible)
        if w.size < size:
            w = np.concatenate([w, np.zeros(size - w.size)])
    return w


def fuse(sides: Sequence[Side], k: int, *, eligible: int, config: FusionConfig | None = None) -> FusedHits:
    """Fuse the sides' windows into the top ``k`` candidates.

    Args:
        sides: one or more :class:`Side` (a single side yields its own ranking, with the
            statistics a relevance cut-off needs).
        k: hits to return.
        eligible: documents the query may return (live and matching its filter); bounds the
            padding of lexical windows.
        config: see :class:`FusionConfig`.

    Returns:
        :class:`FusedHits` with at most ``k`` hits; ties broken by lower slot.
    """
    config = config or FusionConfig()
    if not sides:
        raise InvalidInputError("fuse needs at least one side")
    for s in sides:
        if np.asarray(s.slots).shape != np.asarray(s.scores).shape or np.asarray(s.slots).ndim != 1:
            raise InvalidInputError(f"side {s.name!r}: slots and scores must be equal-length 1-D arrays")
    cand = np.unique(np.concatenate([np.asarray(s.slots, dtype=np.int64) for s in sides]))
    n_sides = len(sides)
    exact = np.empty((n_sides, cand.size))
    ranks = np.full((n_sides, cand.size), -1, np.int64)
    for i, s in enumerate(sides):
        slots = np.asarray(s.slots, dtype=np.int64)
        pos = np.searchsorted(cand, slots)
        ranks[i, pos] = np.arange(slots.size)
        row = np.empty(cand.size)
        row[pos] = s.scores
        others = np.flatnonzero(ranks[i] < 0)
        if others.size:
            row[others] = np.asarray(s.score(cand[others]), dtype=np.float64)
        exact[i] = row
    windows = [_window(s, eligible) for s in sides]
    if config.method is FusionMethod.ADAPTIVE:
        fused, weights = fusion.adaptive(list(exact), windows, power=config.power)
    else:
        weights = np.asarray(config.weights or [1.0 / n_sides] * n_sides, dtype=np.float64)
        if weights.shape != (n_sides,):
            raise InvalidInputError(
                f"fusion weights: expected {n_sides} (one per side); got {config.weights}"
            )
        if config.method is FusionMethod.RRF:
            masked = np.where(ranks >= 0, exact, -np.inf)  # RRF ranks only what a side retrieved
            fused = fusion.rrf(list(masked), k=config.rrf_k, weights=weights)
        else:
            fused = fusion.weighted(list(exact), windows, weights=weights, normalization=config.normalization)
    order = np.lexsort((cand, -fused))[:k]
    return FusedHits(
        slots=cand[order],
        scores=fused[order],
        side_scores=exact[:, order],
        side_ranks=ranks[:, order],
        weights=np.asarray(weights, dtype=np.float64),
        names=tuple(s.name for s in sides),
        candidate_scores=fused,
    )
