"""The search half of the collection façade: ``search``, ``search_batch`` and the relevance model
of ``min_relevance``, as a mixin of :class:`vecnest.collection.Collection`.

Every argument is validated here (cached for the options a search repeats), then the request goes
to the collection's :class:`~vecnest.search.engine.Searcher`; a repeated ids-only search of one
vector takes the searcher's replay (no planning) before anything else is built.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from vecnest import filter as vfilter
from vecnest.config import MAX_K
from vecnest.errors import InvalidInputError
from vecnest.records import Hits, check_include, check_k
from vecnest.search.engine import Request, Searcher
from vecnest.search.hybrid import FusionConfig
from vecnest.search.lexical_view import LexicalView
from vecnest.search.options import search_options
from vecnest.search.ranked import Ranking, SearchMode, make_ranking
from vecnest.search.relevance import RelevanceModel, load_relevance, store_relevance
from vecnest.search.rerank import CrossEncoderReranker
from vecnest.space import VectorSpace
from vecnest.store.rows import Rows


class Searching:
    """Searches of one collection (mixed into :class:`~vecnest.collection.Collection`, which
    sets the attributes below)."""

    _space: VectorSpace
    _searcher: Searcher
    _lexical: LexicalView | None
    _rows: Rows
    _relevance: RelevanceModel | None
    name: str
    dim: int

    def search(
        self,
        query: str | np.ndarray,
        k: int = 10,
        *,
        where: dict[str, Any] | None = None,
        where_document: dict[str, Any] | None = None,
        include: Sequence[str] = ("text", "metadata"),
        include_vectors: bool = False,
        ef_search: int | None = None,
        nprobe: int | None = None,
        target_recall: float | None = None,
        strategy: str | None = None,
        explain: bool = False,
        mode: str = "auto",
        text: str | None = None,
        fusion: FusionConfig | dict[str, Any] | None = None,
        rerank: str | CrossEncoderReranker | None = None,
        min_relevance: float | None = None,
        rescore_multiplier: int | None = None,
        tiers: Sequence[int] | None = None,
    ) -> Hits:
        """The ``k`` documents most similar to one query, best first.

        Args:
            query: a text (embedded with the collection's encoder, as a query) or a
                ``(dim,)`` vector.
            k: number of results, ``1..10000``; fewer come back if fewer documents match.
            where: metadata filter, e.g. ``{"year": {"$gte": 2025}, "categories":
                {"$contains": "cs.LG"}}`` (see :mod:`vecnest.filter`).
            where_document: text filter, e.g. ``{"$contains": "transformer"}``.
            include: which document fields to return with each hit: ``"text"``,
                ``"metadata"``; ``()`` returns ids and scores only (fastest: no catalog read).
            include_vectors: also return each hit's stored vector.
            ef_search / nprobe: index effort (HNSW / IVF); default: the calibrated value.
            target_recall: pick the effort from the build-time recall@10 table instead.
            strategy: force a planner strategy (``exact``, ``exact_filtered``, ``ann``,
                ``ann_filtered``, ``post_filter``); normally the planner chooses.
            explain: attach the execution plan as ``hits.plan`` (hybrid searches: with each
                hit's rank and score on each side and the fusion weights, ``plan.hybrid``).
            mode: ``"dense"`` (the embedding alone), ``"lexical"`` (BM25 over the texts),
                ``"hybrid"`` (both, fused per query: a side whose scores look like noise for
                this query is weighted down, so the fusion follows the side that works), or
                ``"auto"``: hybrid for a text query when the collection has a lexical index,
                dense otherwise. Scores of hybrid hits are fused scores (comparable within one
                query only); dense and lexical hits keep their own scores.
            text: the query text for the lexical side when ``query`` is a vector.
            fusion: how the sides are fused (default: the adaptive rule; RRF and weighted
                fusion with min-max or z-score normalisation are available).
            rerank: ``"feedback"`` (re-score the candidates against the query moved towards
                its top hits' stored vectors), or a
                :class:`~vecnest.search.rerank.CrossEncoderReranker` (a callable or a
                sentence-transformers CrossEncoder you bring).
            rescore_multiplier: with compression tiers: the first tier keeps ``k × this``
                candidates for the next tiers to rescore (default: the pipeline's ``@keep``).
            tiers: with compression tiers: which tiers to run (indices into the pipeline, 0 =
                the RAM tier first; default all); ``explain=True`` shows each stage's time.
            min_relevance: drop hits whose probability of relevance is below this (0-1), by
                the collection's relevance model (:meth:`set_relevance_model`; by default the
                label-free per-query score-distribution test); a search may return nothing.

        Returns:
            :class:`~vecnest.records.Hits` (a list of :class:`Hit`).
        """
        ranked = mode != "auto" or text is not None or rerank is not None or min_relevance is not None
        if ranked or (isinstance(query, str) and self._lexical is not None):
            opts = search_options(ef_search, nprobe, target_recall, strategy, rescore_multiplier, tiers)
            return self._search_ranked(
                [query], k, where, where_document, include, include_vectors, opts, explain,
                mode, [text], fusion, rerank, min_relevance,
            )[0]
        if type(query) is np.ndarray and query.ndim == 1 and query.dtype == np.float32:
            qvecs = self._space.one_query(query)  # the common case, kept lean
            if (
                not include and where_document is None and not explain and not include_vectors
                and type(k) is int and 1 <= k <= MAX_K
            ):  # ids and scores only: a repeated plan runs without the rest
                opts = search_options(ef_search, nprobe, target_recall, strategy, rescore_multiplier, tiers)
                hits = self._searcher.replay(qvecs, k, opts, where)
                if hits is not None:
                    return hits
        elif isinstance(query, str):
            qvecs = self._space.queries([query])
        else:
            arr = np.asarray(query)
            if arr.ndim != 1:
                raise InvalidInputError(
                    f"search() takes one query (a str or a (dim,) vector); got an array of "
                    f"shape {arr.shape}. Use search_batch() for several queries"
                )
            qvecs = self._space.queries(arr[None, :])
        opts = search_options(ef_search, nprobe, target_recall, strategy, rescore_multiplier, tiers)
        return self._search(qvecs, k, where, where_document, include, include_vectors, opts, explain)[0]

    def search_batch(
        self,
        queries: Sequence[str] | np.ndarray,
        k: int = 10,
        *,
        where: dict[str, Any] | None = None,
        where_document: dict[str, Any] | None = None,
        include: Sequence[str] = ("text", "metadata"),
        include_vectors: bool = False,
        ef_search: int | None = None,
        nprobe: int | None = None,
        target_recall: float | None = None,
        strategy: str | None = None,
        explain: bool = False,
        mode: str = "auto",
        texts: Sequence[str | None] | None = None,
        fusion: FusionConfig | dict[str, Any] | None = None,
        rerank: str | CrossEncoderReranker | None = None,
        min_relevance: float | None = None,
        rescore_multiplier: int | None = None,
        tiers: Sequence[int] | None = None,
    ) -> list[Hits]:
        """:meth:`search` for many queries at once; one :class:`Hits` list per query
        (``texts``: the query texts for the lexical side when ``queries`` are vectors)."""
        opts = search_options(ef_search, nprobe, target_recall, strategy, rescore_multiplier, tiers)
        if not isinstance(queries, np.ndarray) and (isinstance(queries, (str, bytes)) or not isinstance(queries, (list, tuple)) or not queries):
            raise InvalidInputError(
                f"queries must be a non-empty list of str or a (q, {self.dim}) array; got {type(queries).__name__}"
            )
        textual = not isinstance(queries, np.ndarray) and all(isinstance(q, str) for q in queries)
        if mode != "auto" or texts is not None or rerank is not None or min_relevance is not None or (textual and self._lexical is not None):
            items = list(queries) if not isinstance(queries, np.ndarray) else list(np.asarray(queries))
            if texts is not None and (isinstance(texts, (str, bytes)) or not isinstance(texts, (list, tuple))):
                raise InvalidInputError(f"texts must be a list of query texts (one per query, or None); got {type(texts).__name__}")
            return self._search_ranked(
                items, k, where, where_document, include, include_vectors, opts, explain,
                mode, list(texts) if texts is not None else [None] * len(items), fusion, rerank, min_relevance,
            )
        return self._search(
            self._space.queries(queries), k, where, where_document, include, include_vectors, opts, explain
        )

    def _search(
        self,
        qvecs: np.ndarray | None,
        k: int,
        where: dict[str, Any] | None,
        where_document: dict[str, Any] | None,
        include: Sequence[str],
        include_vectors: bool,
        opts: Any,
        explain: bool,
        ranking: Ranking | None = None,
    ) -> list[Hits]:
        req = Request(
            queries=qvecs,
            k=check_k(k),
            node=vfilter.parse(where, where_document),
            fields=check_include(include),
            include_vectors=bool(include_vectors),
            opts=opts,
            explain=bool(explain),
            ranking=ranking,
        )
        return self._searcher.run(req)

    def _search_ranked(
        self,
        queries: list[Any],
        k: int,
        where: dict[str, Any] | None,
        where_document: dict[str, Any] | None,
        include: Sequence[str],
        include_vectors: bool,
        opts: Any,
        explain: bool,
        mode: str,
        texts: list[str | None],
        fusion: FusionConfig | dict[str, Any] | None,
        rerank: str | CrossEncoderReranker | None,
        min_relevance: float | None,
    ) -> list[Hits]:
        """Lexical / hybrid / reranked / cut searches: resolve the mode, embed what needs it."""
        ranking = make_ranking(
            queries, texts, mode, fusion, rerank, min_relevance,
            lexical=self._lexical is not None, collection=self.name, relevance=self.relevance_model(),
        )
        qvecs = None
        if ranking.mode is not SearchMode.LEXICAL:
            vec_in = [q for q in queries if not isinstance(q, str)]
            if vec_in and len(vec_in) != len(queries):
                raise InvalidInputError("mix of text and vector queries in one batch; send them separately")
            qvecs = self._space.queries(np.asarray(vec_in) if vec_in else [str(q) for q in queries])
        return self._search(qvecs, k, where, where_document, include, include_vectors, opts, explain, ranking)

    def relevance_model(self) -> RelevanceModel:
        """The model ``min_relevance`` uses: the one set with :meth:`set_relevance_model`, else
        the label-free default."""
        if self._relevance is None:
            self._relevance = load_relevance(self._rows)
        return self._relevance

    def set_relevance_model(self, model: RelevanceModel | str | os.PathLike[str] | None) -> None:
        """Store the relevance model ``min_relevance`` uses with this collection (fitted from
        judgements with ``vecnest calibrate --dataset DIR --out model.json``: pass the model or
        the file); ``None`` restores the label-free default."""
        self._relevance = store_relevance(self._rows, model)


# they are Collection's methods: errors and help name them so ("Collection.search() got an
# unexpected keyword argument ...", as the HTTP client's Collection says)
for _name in ("search", "search_batch", "relevance_model", "set_relevance_model"):
    getattr(Searching, _name).__qualname__ = f"Collection.{_name}"
del _name
