"""Lexical and hybrid search, reranking and the relevance cut-off, on one snapshot.

The dense side is the planner's search (:func:`vecnest.search.planner.execute`) asked for the
fusion window instead of ``k``; the lexical side is the snapshot's BM25 searcher
(:mod:`vecnest.search.lexical_view`); both see the same filter match, so a hit that fails the
filter never appears on either side. The sides are fused by :func:`vecnest.search.hybrid.fuse`
(every candidate scored exactly on both sides), optionally reranked (pseudo-relevance feedback
with the stored vectors, or a cross-encoder the user brings), and cut at ``min_relevance``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np

from vecnest import filter as vfilter
from vecnest.errors import InvalidInputError
from vecnest.lexical.search import LexicalResult, LexicalSearcher
from vecnest.records import id_list
from vecnest.search.hybrid import FusedHits, FusionConfig, Side, fuse
from vecnest.search.planner import Plan, SearchOptions, Strategy, execute
from vecnest.search.relevance import RelevanceModel, cut
from vecnest.search.rerank import CrossEncoderReranker, FeedbackRescorer, refuse
from vecnest.search.snapshot import Reader, Snapshot


class SearchMode(StrEnum):
    """Which evidence a search ranks by."""

    AUTO = "auto"  #: hybrid for a text query when the collection has a lexical index, else dense
    DENSE = "dense"  #: the embedding (cosine / dot / l2) alone
    LEXICAL = "lexical"  #: BM25 over the documents' texts alone
    HYBRID = "hybrid"  #: both, fused per query (see vecnest.search.hybrid)


def parse_mode(mode: object) -> SearchMode:
    """``mode`` as a :class:`SearchMode`, or a clear error."""
    try:
        return SearchMode(mode)
    except ValueError:
        raise InvalidInputError(
            f"mode must be one of {[m.value for m in SearchMode]}; got {mode!r}"
        ) from None


Reranker = Callable[[str, list[str]], Sequence[float]]


@dataclass(frozen=True)
class Ranking:
    """How a search ranks, beyond the dense planner (validated by the façade).

    Attributes:
        mode: ``DENSE``, ``LEXICAL`` or ``HYBRID`` (``AUTO`` resolved already).
        texts: the query texts, one per query (``None`` where a query is a vector only).
        fusion: how the sides are fused (hybrid).
        rerank: ``None``, ``"feedback"`` (pseudo-relevance feedback with the stored vectors), or
            a :class:`CrossEncoderReranker`.
        min_relevance: drop hits whose probability of relevance is below this (``None``: keep).
        relevance: the model mapping hits to probabilities.
    """

    mode: SearchMode
    texts: tuple[str | None, ...]
    fusion: FusionConfig = field(default_factory=FusionConfig)
    rerank: str | CrossEncoderReranker | None = None
    min_relevance: float | None = None
    relevance: RelevanceModel = field(default_factory=RelevanceModel)


def make_ranking(
    queries: Sequence[Any],
    texts: Sequence[str | None],
    mode: object,
    fusion: FusionConfig | dict[str, Any] | None,
    rerank: object,
    min_relevance: object,
    *,
    lexical: bool,
    collection: str,
    relevance: RelevanceModel,
) -> Ranking:
    """A validated :class:`Ranking` from a search's arguments (``AUTO`` resolved: hybrid when
    every query has a text and the collection a lexical index, else dense).

    Args:
        queries: the queries as given (texts or vectors); a text query is its own text.
        texts: the query texts given beside vector queries (``None`` where none).
        lexical: whether the collection keeps a lexical index.
    """
    mode_ = parse_mode(mode)
    if not queries:
        raise InvalidInputError("queries must be a non-empty list")
    if len(texts) != len(queries):
        raise InvalidInputError(f"texts must give one text per query: {len(queries)} queries, {len(texts)} texts")
    texts = [q if isinstance(q, str) else t for q, t in zip(queries, texts, strict=True)]
    for t in texts:
        if t is not None and (not isinstance(t, str) or not t.strip()):
            raise InvalidInputError(f"a query text must be a non-empty str; got {t!r}")
    if mode_ is SearchMode.AUTO:
        mode_ = SearchMode.HYBRID if lexical and all(t is not None for t in texts) else SearchMode.DENSE
    if mode_ in (SearchMode.LEXICAL, SearchMode.HYBRID) and not lexical:
        raise InvalidInputError(
            f"mode={mode_.value!r} needs a lexical index, and collection {collection!r} was created "
            "with lexical=None; search with mode='dense'"
        )
    if min_relevance is not None and (
        isinstance(min_relevance, bool) or not isinstance(min_relevance, (int, float)) or not 0 <= min_relevance <= 1
    ):
        raise InvalidInputError(f"min_relevance must be a probability in [0, 1]; got {min_relevance!r}")
    if rerank is not None and rerank != "feedback" and not isinstance(rerank, CrossEncoderReranker):
        raise InvalidInputError(
            "rerank must be None, 'feedback' or a CrossEncoderReranker (e.g. "
            f"CrossEncoderReranker(my_score_fn)); got {rerank!r}"
        )
    if isinstance(fusion, dict):  # (over HTTP)
        try:
            fusion = FusionConfig(**fusion)
        except TypeError as exc:
            raise InvalidInputError(f"fusion takes the fields of FusionConfig; got {fusion!r} ({exc})") from None
    if fusion is not None and not isinstance(fusion, FusionConfig):
        raise InvalidInputError(f"fusion must be a FusionConfig (or its fields as a dict); got {fusion!r}")
    return Ranking(
        mode=mode_,
        texts=tuple(texts),
        fusion=fusion if fusion is not None else FusionConfig(),
        rerank=rerank,  # type: ignore[arg-type]
        min_relevance=None if min_relevance is None else float(min_relevance),  # type: ignore[arg-type]
        relevance=relevance,
    )


@dataclass
class Ranked:
    """One query's ranked result: slots and scores best first, the plan, and (for explain) the
    fused hits."""

    slots: np.ndarray
    scores: np.ndarray
    plan: Plan
    fused: FusedHits | None = None
    probabilities: np.ndarray | None = None


def _dense_score(snap: Snapshot, query: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    vectors = snap.flat.vectors

    def score(slots: np.ndarray) -> np.ndarray:
        rows = np.asarray(vectors[np.asarray(slots, dtype=np.int64)], dtype=np.float32)
        if snap.flat.l2:
            diff = rows - query
            return -np.einsum("ij,ij->i", diff, diff)
        return rows @ query

    return score


def rank_one(
    snap: Snapshot,
    query: np.ndarray | None,
    text: str | None,
    k: int,
    node: vfilter.Node,
    read: Reader,
    opts: SearchOptions,
    ranking: Ranking,
    lexical: Callable[[], LexicalSearcher] | None,
    texts_of: Callable[[np.ndarray], list[str]],
    *,
    explain: bool,
) -> Ranked:
    """One query, any mode (see module docstring).

    Args:
        query: ``(dim,) float32`` normalised query vector (``None``: lexical only).
        text: the query's text (``None``: dense only).
        lexical: makes the snapshot's lexical searcher (``None``: the collection has none).
        texts_of: the documents' texts of slots (for a cross-encoder).
    """
    perf = time.perf_counter
    mode = ranking.mode
    match = snap.match(node, read)
    window = max(ranking.fusion.window, k)
    sides: list[Side] = []
    timings: dict[str, float] = {}
    plan: Plan | None = None
    result: LexicalResult | None = None
    if mode in (SearchMode.DENSE, SearchMode.HYBRID):
        if query is None:
            raise InvalidInputError(f"mode={mode.value!r} needs a query vector (a text query, or a vector)")
        slots, scores, plan = execute(snap, query[None, :], window, node, read, opts, explain=explain)
        keep = slots[0] >= 0
        sides.append(Side("dense", slots[0][keep], scores[0][keep], _dense_score(snap, query)))
    if mode in (SearchMode.LEXICAL, SearchMode.HYBRID):
        if text is None or lexical is None:
            raise InvalidInputError(
                f"mode={mode.value!r} needs a text query and a collection whose documents have texts "
                "(and lexical indexing on); search with mode='dense' otherwise"
            )
        t0 = perf()
        result = lexical().query(text, match=match)
        lex_slots, lex_scores = result.top(window)
        sides.append(Side("lexical", lex_slots, lex_scores, result.scores, pad_to=window))
        timings["lexical_ms"] = (perf() - t0) * 1000
    if plan is None:  # lexical only: the plan says what the filter matched
        plan = Plan(Strategy.LEXICAL, "BM25 over the documents' texts", snap.n_live, match.count,
                    match.count / max(snap.n_live, 1), None, {}, 0, 0, 0, {})
    simple = len(sides) == 1 and ranking.rerank is None and ranking.min_relevance is None and not explain
    if simple:  # one side, nothing to fuse or cut: its own ranking and scores
        side = sides[0]
        return Ranked(side.slots[:k], np.asarray(side.scores[:k], dtype=np.float32), plan)
    t0 = perf()
    fused = fuse(sides, k if ranking.rerank is None else max(k, window), eligible=match.count, config=ranking.fusion)
    if len(sides) == 1:  # a single side keeps its own scores
        fused = _own_scores(fused)
    timings["fuse_ms"] = (perf() - t0) * 1000
    if ranking.rerank is not None:
        t0 = perf()
        fused = _rerank(snap, query, text, sides, fused, k, match.count, ranking, texts_of)
        timings["rerank_ms"] = (perf() - t0) * 1000
    fused = _top(fused, k)
    probabilities = None
    if ranking.min_relevance is not None or explain:
        probabilities = ranking.relevance.probabilities(fused, result.max_score if result is not None else None)
        if ranking.min_relevance is not None:
            keep = probabilities >= ranking.min_relevance
            fused = cut(fused, probabilities, ranking.min_relevance)
            probabilities = probabilities[keep]
    plan.timings_ms.update(timings)
    return Ranked(fused.slots, fused.scores.astype(np.float32), plan, fused, probabilities)


def _own_scores(fused: FusedHits) -> FusedHits:
    """A single side's hits scored by that side (not its standardised score)."""
    return replace(fused, scores=fused.side_scores[0].copy())


def _top(fused: FusedHits, k: int) -> FusedHits:
    return replace(fused, slots=fused.slots[:k], scores=fused.scores[:k], side_scores=fused.side_scores[:, :k], side_ranks=fused.side_ranks[:, :k])


def _rerank(
    snap: Snapshot,
    query: np.ndarray | None,
    text: str | None,
    sides: list[Side],
    fused: FusedHits,
    k: int,
    eligible: int,
    ranking: Ranking,
    texts_of: Callable[[np.ndarray], list[str]],
) -> FusedHits:
    rerank = ranking.rerank
    if rerank == "feedback":
        if query is None:
            raise InvalidInputError("rerank='feedback' needs a dense side (mode='dense' or 'hybrid')")

        def vectors(slots: np.ndarray) -> np.ndarray:
            return np.asarray(snap.flat.vectors[np.asarray(slots, dtype=np.int64)], dtype=np.float32)

        return refuse(sides, fused, query, [FeedbackRescorer(vectors)], max(k, ranking.fusion.window), eligible=eligible, config=ranking.fusion)
    if isinstance(rerank, CrossEncoderReranker):
        if text is None:
            raise InvalidInputError("a cross-encoder reranks a text query; this query is a vector")
        return rerank.rerank(text, fused, texts_of)
    raise InvalidInputError(f"rerank must be None, 'feedback' or a CrossEncoderReranker; got {rerank!r}")


def explain_hits(ranked: Ranked, ids: np.ndarray) -> dict[str, Any] | None:
    """The per-hit explanation of a fused search (``plan.hybrid``)."""
    fused = ranked.fused
    if fused is None:
        return None
    out: dict[str, Any] = {"weights": dict(zip(fused.names, fused.weights.round(6).tolist(), strict=True)), "hits": []}
    for j, slot in enumerate(fused.slots.tolist()):
        entry: dict[str, Any] = {"id": id_list(ids, [slot])[0], "score": float(fused.scores[j])}
        for i, name in enumerate(fused.names):
            rank = int(fused.side_ranks[i, j])
            entry[f"{name}_rank"] = rank + 1 if rank >= 0 else None
            entry[f"{name}_score"] = float(fused.side_scores[i, j])
        if ranked.probabilities is not None and j < len(ranked.probabilities):
            entry["probability"] = float(ranked.probabilities[j])
        out["hits"].append(entry)
    return out
