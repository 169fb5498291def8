"""One search, top to bottom: snapshot → plan and run → documents → finished hits.

The façade validates the arguments and hands over; this module takes the current snapshot
(:mod:`vecnest.search.reader`), runs the planner on it, reads the documents of the hits pinned
to the same committed version, and returns finished :class:`~vecnest.records.Hits`. If the
collection changes between two of those stages, the search starts again on the new snapshot, so
every part of one result describes one committed state.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from vecnest import filter as vfilter
from vecnest.index.ann import IndexUnusable
from vecnest.records import Hit, Hits, Metadata, found, id_list, ids_and_scores, row_hits
from vecnest.search.lexical_view import LexicalView
from vecnest.search.planner import SearchOptions, execute, keep_latest
from vecnest.search.replay import replayable
from vecnest.search.ranked import Ranked, Ranking, explain_hits, rank_one
from vecnest.search.reader import SnapshotSource
from vecnest.search.snapshot import Reader, Snapshot
from vecnest.store.documents import DocumentTable

#: Attempts on a fresh snapshot before the search runs inside one read transaction.
_ATTEMPTS = 3


class Stale(Exception):
    """The collection changed between two stages of one search."""


@dataclass(frozen=True, slots=True)
class Request:
    """A validated search (built by the façade)."""

    queries: np.ndarray | None  #: ``(q, dim) float32``, normalised for the metric (``None``: lexical only)
    k: int
    node: vfilter.Node  #: the parsed ``where`` / ``where_document`` filter
    fields: tuple[str, ...]  #: document fields to return: ``"text"``, ``"metadata"``
    include_vectors: bool
    opts: SearchOptions
    explain: bool
    #: lexical / hybrid / reranked / cut searches (``None``: the dense planner alone)
    ranking: Ranking | None = None


class Searcher:
    """Runs searches on one collection's snapshots.

    Args:
        source: the collection's snapshot source.
        docs: its documents table.
        lexical: the collection's lexical side (``None``: no lexical indexing).
    """

    def __init__(self, source: SnapshotSource, docs: DocumentTable, lexical: LexicalView | None = None) -> None:
        self.source = source
        self.docs = docs
        self.catalog = source.catalog
        self.lexical = lexical
        #: filter keys by the type-tagged structure of ``where`` (see :meth:`_filter_key`)
        self._keys: dict[tuple[Any, ...], str | None] = {}

    def replay(self, query: np.ndarray, k: int, opts: SearchOptions, where: dict[str, Any] | None = None) -> Hits | None:
        """The hits of an ids-only search whose plan this snapshot has seen run as one plain
        index call, or, filtered by ``where``, as one exact scan of the matching rows or one
        filtered index call (``None``: take the full path): the hot path of repeated searches,
        checked by one memory read for freshness."""
        snap = self.source.cached
        if snap is None or not snap.replays:
            return None
        fkey = None if where is None else self._filter_key(where)
        if fkey is _UNKNOWN:
            return None
        replay = snap.replays.get((fkey, k, opts))
        if replay is None or not self.source.fresh(snap):
            return None
        answer = replay.run(query, k)  # (one query: an index call takes AnnIndex._one)
        if answer is None:
            return None
        slots, scores = answer
        return row_hits(snap.ids, slots[0], scores[0])

    def _filter_key(self, where: dict[str, Any]) -> str | None | object:
        """The cache key (``repr`` of the parsed filter, ``None`` for one that keeps every
        row) of a ``where`` seen before, looked up by its exact, type-tagged structure (so
        ``1``, ``1.0`` and ``True`` stay apart as the filter language keeps them), else
        :data:`_UNKNOWN`; the first time, it is parsed here (an invalid filter: unknown, so
        the full path explains the error)."""
        try:
            frozen = _frozen(where)
            key = self._keys.get(frozen, _UNKNOWN)
        except TypeError:  # something unhashable or unexpected: the full path decides
            return _UNKNOWN
        if key is _UNKNOWN:
            try:
                node = vfilter.parse(where, None)
            except Exception:  # noqa: BLE001 - reported by the full path
                return _UNKNOWN
            key = None if isinstance(node, vfilter.TrueFilter) else repr(node)
            if len(self._keys) >= 256:
                self._keys.clear()
            self._keys[frozen] = key
        return key

    def run(self, req: Request) -> list[Hits]:
        """One :class:`Hits` per query."""
        if req.ranking is not None:
            return self._run_ranked(req, req.ranking)
        lean = not req.fields and not req.include_vectors and not req.explain and len(req.queries) == 1
        key = None
        fkey = None if isinstance(req.node, vfilter.TrueFilter) else repr(req.node)  # the filter's cache key
        snap = self.source.cached
        if lean:
            key = (fkey, req.k, req.opts)
            if snap is not None and snap.replays and self.source.fresh(snap):
                replay = snap.replays.get(key)
                found = replay.run(req.queries, req.k) if replay is not None else None
                if found is not None:  # a repeat of a plan that is one index search or scan
                    slots, scores = found
                    return [row_hits(snap.ids, slots[0], scores[0])]
        for _ in range(_ATTEMPTS):
            snap = self.source.current()
            try:
                slots, scores, plan = execute(
                    snap, req.queries, req.k, req.node, lambda s=snap: self._pinned(s), req.opts, explain=req.explain, key=fkey
                )
                t0 = time.perf_counter()
                docs = {}
                if req.fields:
                    with self._pinned(snap) as conn:
                        docs = self.docs.rows_by_slot(conn, np.unique(slots[slots >= 0]))
                break
            except Stale:
                continue
            except IndexUnusable as exc:  # (damaged, found at its first use: searched again, exactly)
                self.source.index_unusable(exc)
        else:  # the collection keeps changing: one read transaction for all stages
            with self.catalog.read() as conn:
                snap = self._loaded(conn)
                slots, scores, plan = execute(snap, req.queries, req.k, req.node, lambda: nullcontext(conn), req.opts, explain=req.explain)
                t0 = time.perf_counter()
                docs = self.docs.rows_by_slot(conn, np.unique(slots[slots >= 0])) if req.fields else {}
        if snap.index_problem:
            plan.reason += f"; {snap.index_problem}"
        if lean:
            replay = replayable(snap, plan, snap.cached_match(fkey) if fkey is not None else None, req.opts)
            if replay is not None:
                keep_latest(snap.replays, key, replay, MAX_REPLAYS)
        return _assemble(snap, slots, scores, plan, docs, req, t0)

    def _loaded(self, conn: sqlite3.Connection) -> Snapshot:
        """The snapshot of transaction ``conn``, its index loaded (a damaged one marked: the
        snapshot is loaded again without it)."""
        snap = self.source.load(conn, None)
        if self.source.usable_ann(snap) is None and snap.ann is not None:
            snap = self.source.load(conn, None)
        return snap

    def _run_ranked(self, req: Request, ranking: Ranking) -> list[Hits]:
        """Lexical, hybrid, reranked or cut searches (see :mod:`vecnest.search.ranked`)."""
        for _ in range(_ATTEMPTS):
            snap = self.source.current()
            try:
                ranked, slots, scores, docs, t0 = self._rank_all(snap, lambda s=snap: self._pinned(s), req, ranking)
                break
            except Stale:
                continue
            except IndexUnusable as exc:
                self.source.index_unusable(exc)
        else:  # the collection keeps changing: one read transaction for all stages
            with self.catalog.read() as conn:
                snap = self._loaded(conn)
                ranked, slots, scores, docs, t0 = self._rank_all(snap, lambda: nullcontext(conn), req, ranking)
        plans = []
        for r in ranked:
            if snap.index_problem:
                r.plan.reason += f"; {snap.index_problem}"
            if req.explain:
                r.plan.hybrid = {"mode": ranking.mode.value, "fusion": ranking.fusion.method.value,
                                 "window": ranking.fusion.window, "rerank": _rerank_name(ranking.rerank),
                                 "min_relevance": ranking.min_relevance, **(explain_hits(r, snap.ids) or {})}
            plans.append(r.plan)
        return _assemble(snap, slots, scores, plans, docs, req, t0)

    def _rank_all(
        self, snap: Snapshot, read: Reader, req: Request, ranking: Ranking
    ) -> tuple[list[Ranked], np.ndarray, np.ndarray, dict[int, tuple[str, str | None, Metadata]], float]:
        """Every query of ``req`` on ``snap``, padded into ``(q, width)`` slots and scores."""
        lexical = None
        if self.lexical is not None:
            view = self.lexical
            lexical = lambda: view.searcher(snap, read)  # noqa: E731
        queries = req.queries if req.queries is not None else [None] * len(ranking.texts)
        ranked = [
            rank_one(snap, q, ranking.texts[i], req.k, req.node, read, req.opts, ranking, lexical,
                     lambda slots: self._texts(read, slots), explain=req.explain)
            for i, q in enumerate(queries)
        ]
        t0 = time.perf_counter()
        width = max([req.k, *(len(r.slots) for r in ranked)])
        slots = np.full((len(ranked), width), -1, dtype=np.int64)
        scores = np.full((len(ranked), width), -np.inf, dtype=np.float32)
        for i, r in enumerate(ranked):
            slots[i, : len(r.slots)] = r.slots
            scores[i, : len(r.slots)] = r.scores
        docs: dict[int, tuple[str, str | None, Metadata]] = {}
        if req.fields:
            with read() as conn:
                docs = self.docs.rows_by_slot(conn, np.unique(slots[slots >= 0]))
        return ranked, slots, scores, docs, t0

    def _texts(self, read: Reader, slots: np.ndarray) -> list[str]:
        with read() as conn:
            found = self.docs.rows_by_slot(conn, np.asarray(slots, dtype=np.int64))
        return [(found[s][1] or "") if s in found else "" for s in np.asarray(slots).tolist()]

    @contextmanager
    def _pinned(self, snap: Snapshot) -> Iterator[sqlite3.Connection]:
        """A read transaction that raises :class:`Stale` unless it sees ``snap``'s version."""
        with self.catalog.read() as conn:
            state = self.source.rows.state(conn)
            if (state.version, state.generation) != (snap.version, snap.generation):
                raise Stale
            yield conn


#: :meth:`Searcher._filter_key`'s answer for a filter it has no key for.
_UNKNOWN = object()
_SCALARS = frozenset((str, int, float, bool, type(None)))


def _frozen(value: object, depth: int = 0) -> tuple[Any, ...]:
    """A hashable image of a JSON-like filter that tells every type apart (dict keys too):
    equal only for filters the parser reads alike. Raises ``TypeError`` for anything else,
    and beyond the parser's nesting limit (the full path explains that error). Runs on every
    repeated filtered search: scalar leaves are read inline."""
    if depth > vfilter.MAX_DEPTH:
        raise TypeError("too deep")
    t = type(value)
    if t is dict:
        items = []
        for k, v in value.items():  # type: ignore[attr-defined]
            tv = type(v)
            items.append(((type(k), k), (tv, v) if tv in _SCALARS else _frozen(v, depth + 1)))
        return (t, tuple(items))
    if t is list or t is tuple:
        return (t, tuple([_frozen(v, depth + 1) for v in value]))  # type: ignore[attr-defined]
    if t in _SCALARS:
        return (t, value)
    raise TypeError(t)


#: Replayable plans one snapshot keeps (the oldest kept goes first).
MAX_REPLAYS = 64


def _rerank_name(rerank: object) -> str | None:
    return None if rerank is None else rerank if isinstance(rerank, str) else type(rerank).__name__


def _assemble(
    snap: Snapshot,
    slots: np.ndarray,
    scores: np.ndarray,
    plan: object,
    docs: dict[int, tuple[str, str | None, Metadata]],
    req: Request,
    t0: float,
) -> list[Hits]:
    vecs = None
    if req.include_vectors:
        wanted = np.unique(slots[slots >= 0])
        vecs = dict(zip(wanted.tolist(), np.array(snap.flat.vectors[wanted]), strict=True))
    want_text, want_meta = "text" in req.fields, "metadata" in req.fields
    out: list[Hits] = []
    ids = snap.ids
    for i, (row, row_scores) in enumerate(zip(slots.tolist(), scores.tolist(), strict=True)):
        if not req.fields and vecs is None:  # ids and scores only
            hits = ids_and_scores(ids, row, row_scores)
        else:
            row, row_scores = found(row, row_scores)
            row_ids = id_list(ids, row) if row else []
            hits = Hits()
            for slot, doc_id, sc in zip(row, row_ids, row_scores, strict=True):
                doc = docs.get(slot)
                hits.append(
                    Hit(
                        doc_id,
                        sc,
                        doc[1] if (doc and want_text) else None,
                        doc[2] if (doc and want_meta) else {},
                        None if vecs is None else vecs[slot],
                    )
                )
        if req.explain:
            row_plan = plan[i] if isinstance(plan, list) else plan  # (ranked searches: one per query)
            row_plan.timings_ms["fetch_ms"] = (time.perf_counter() - t0) * 1000  # type: ignore[attr-defined]
            hits.plan = row_plan
        out.append(hits)
    return out
