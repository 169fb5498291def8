"""The relevance cut-off: ``min_relevance=`` maps each hit to a probability of relevance and drops
the hits below it, so a search can return nothing when nothing is relevant ("Relevance Filtering
for Embedding-based Retrieval", Rossi et al., 2024, turn raw scores into query-aware,
interpretable ones for the same purpose).

Two models, one interface (:meth:`RelevanceModel.probabilities`):

- ``distribution`` (the default, no labels): a hit's probability of standing above the best of
  ``n`` draws of the query's own background, ``Φ(z)^n``, where ``z`` is its standard score
  among the query's ``n`` fused candidates. It removes the flat tail of a result list; it cannot
  know what "relevant" means for a collection, so it keeps a confident-looking top hit of a
  query nothing answers about half the time (measured in ``benchmarks/hybrid.py``).
- ``logistic`` (fitted from judgements, ``vecnest calibrate --dataset DIR``): a logistic
  regression over the hit's standing among the candidates, its gap to the best hit, the dense
  score, the share of the query's BM25 evidence it carries and its rank
  (:data:`vecnest.kernels.relevance.FEATURES`), fitted on the judged queries' top hits (unjudged
  hits count as not relevant). Stored as a small JSON file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from vecnest.errors import InvalidInputError
from vecnest.kernels.relevance import FEATURES, beats_background, fit_logistic, hit_features, sigmoid
from vecnest.search.hybrid import FusedHits

__all__ = ["RelevanceKind", "RelevanceModel", "hit_inputs", "cut", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_MAGIC = "vecnest-relevance"


class RelevanceKind(StrEnum):
    """How probabilities are computed."""

    DISTRIBUTION = "distribution"  #: per-query score-distribution test, no labels
    LOGISTIC = "logistic"  #: fitted from qrels


def hit_inputs(hits: FusedHits, lexical_max: float | None = None) -> np.ndarray:
    """The feature matrix of a query's hits (see :func:`vecnest.kernels.relevance.hit_features`).

    Args:
        hits: the fused hits (any mode: a side that is absent contributes zeros).
        lexical_max: the lexical side's bound (``LexicalResult.max_score``), when there is one.

    Returns:
        ``(k, len(FEATURES)) float64``.
    """
    dense = lexical = None
    if "dense" in hits.names:
        dense = hits.side_scores[hits.names.index("dense")]
    if "lexical" in hits.names and lexical_max:
        lexical = hits.side_scores[hits.names.index("lexical")] / lexical_max
    return hit_features(hits.scores, hits.candidate_scores, dense, lexical)


@dataclass(frozen=True)
class RelevanceModel:
    """Maps hits to probabilities of relevance.

    Attributes:
        kind: see :class:`RelevanceKind`.
        coef: logistic coefficients, one per name in ``features`` (empty for ``distribution``).
        features: the feature names the coefficients belong to.
        mode: the search mode it was fitted for (``"hybrid"``, ``"dense"``, ``"lexical"``); the
            scores it reads differ per mode.
        fitted_on: what it was fitted on (dataset name, queries, held-out results), for people.
    """

    kind: RelevanceKind = RelevanceKind.DISTRIBUTION
    coef: tuple[float, ...] = ()
    features: tuple[str, ...] = FEATURES
    mode: str = "hybrid"
    fitted_on: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", RelevanceKind(self.kind))
        if self.kind is RelevanceKind.LOGISTIC and len(self.coef) != len(self.features):
            raise InvalidInputError(
                f"a logistic relevance model needs one coefficient per feature ({len(self.features)}); got {len(self.coef)}"
            )
        if tuple(self.features) != FEATURES:
            raise InvalidInputError(
                f"relevance model features {list(self.features)} differ from this vecnest's {list(FEATURES)}; refit it with vecnest calibrate"
            )

    def probabilities(self, hits: FusedHits, lexical_max: float | None = None) -> np.ndarray:
        """``(k,) float64`` probability of relevance of each hit."""
        if hits.slots.size == 0:
            return np.zeros(0)
        if self.kind is RelevanceKind.DISTRIBUTION:
            return beats_background(hits.scores, hits.candidate_scores)
        return sigmoid(hit_inputs(hits, lexical_max) @ np.asarray(self.coef))

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        *,
        mode: str = "hybrid",
        fitted_on: dict[str, Any] | None = None,
        l2: float = 1e-2,
    ) -> RelevanceModel:
        """Fit a ``logistic`` model on stacked hit features and labels.

        Args:
            x: ``(m, len(FEATURES))`` from :func:`hit_inputs`, queries stacked.
            y: ``(m,)`` 1 for a judged-relevant hit, else 0.
        """
        y = np.asarray(y, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(FEATURES) or y.shape != (x.shape[0],):
            raise InvalidInputError(
                f"fit expects ({len(FEATURES)} features) x and matching labels; got {x.shape} and {y.shape}"
            )
        if not 0 < y.sum() < y.size:
            raise InvalidInputError(
                "fitting a relevance model needs both relevant and non-relevant hits among the judged queries"
            )
        coef = fit_logistic(x, y, l2=l2)
        return cls(
            RelevanceKind.LOGISTIC, tuple(float(c) for c in coef), FEATURES, mode, dict(fitted_on or {})
        )

    def with_report(self, **report: Any) -> RelevanceModel:
        """A copy with ``report`` merged into ``fitted_on``."""
        return replace(self, fitted_on={**self.fitted_on, **report})

    # -- storage --------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The stored form (plain JSON)."""
        return {
            "format": _MAGIC,
            "format_version": FORMAT_VERSION,
            "kind": self.kind.value,
            "coef": list(self.coef),
            "features": list(self.features),
            "mode": self.mode,
            "fitted_on": self.fitted_on,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RelevanceModel:
        """Inverse of :meth:`to_json`."""
        if not isinstance(data, dict) or data.get("format") != _MAGIC:
            raise InvalidInputError(
                "not a vecnest relevance model (no 'format': 'vecnest-relevance'); create one with vecnest calibrate"
            )
        if data.get("format_version") != FORMAT_VERSION:
            raise InvalidInputError(
                f"relevance model format_version {data.get('format_version')!r}; this vecnest reads {FORMAT_VERSION}"
            )
        try:
            return cls(
                RelevanceKind(data["kind"]),
                tuple(data["coef"]),
                tuple(data["features"]),
                str(data["mode"]),
                dict(data["fitted_on"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidInputError(
                f"malformed relevance model ({exc}); refit it with vecnest calibrate"
            ) from None

    def save(self, path: str | Path) -> None:
        """Write as JSON (temp file, fsync, rename)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self.to_json(), fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> RelevanceModel:
        """Read a model written by :meth:`save`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"cannot read relevance model {path}: {exc}") from None
        return cls.from_json(data)


def cut(hits: FusedHits, probabilities: np.ndarray, min_relevance: float) -> FusedHits:
    """The hits whose probability is at least ``min_relevance`` (possibly none), order kept.

    Args:
        hits: the fused hits.
        probabilities: ``(k,)`` from :meth:`RelevanceModel.probabilities`.
        min_relevance: in [0, 1].
    """
    if not 0.0 <= min_relevance <= 1.0:
        raise InvalidInputError(f"min_relevance must be in [0, 1]; got {min_relevance!r}")
    keep = np.flatnonzero(np.asarray(probabilities) >= min_relevance)
    return replace(
        hits,
        slots=hits.slots[keep],
        scores=hits.scores[keep],
        side_scores=hits.side_scores[:, keep],
        side_ranks=hits.side_ranks[:, keep],
    )


def _key(cid: int) -> str:
    return f"c{int(cid)}.relevance"


def load_relevance(rows: Any) -> RelevanceModel:
    """The relevance model stored with a collection (``rows``: its :class:`vecnest.store.rows.Rows`),
    or the label-free default."""
    with rows.catalog.read() as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (_key(rows.cid),)).fetchone()
    return RelevanceModel.from_json(json.loads(row[0])) if row else RelevanceModel()


def store_relevance(rows: Any, model: RelevanceModel | str | os.PathLike[str] | None) -> RelevanceModel:
    """Store ``model`` (or a model file) with a collection; ``None`` restores the default.
    Returns the model now in force."""
    if model is not None and not isinstance(model, RelevanceModel):
        model = RelevanceModel.load(model)
    with rows.write() as conn:
        if model is None:
            conn.execute("DELETE FROM meta WHERE key = ?", (_key(rows.cid),))
        else:
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (_key(rows.cid), json.dumps(model.to_json())))
    return model if model is not None else RelevanceModel()
