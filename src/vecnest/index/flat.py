"""Exact (brute-force) search: the oracle every approximate index is tested against.

Works on a snapshot of a segment: the ``(n_slots, dim)`` vector map and the mask of live slots.
A filter arrives as the sorted slots that satisfy it (or a cached match holding them and the
same set packed as bits): few candidates are gathered and scored alone; from
:data:`SELECT_FRACTION` of the rows on, FAISS scores in place the rows a bitmap selector admits;
large query batches use BLAS over gathered or masked rows, whichever touches less memory.
One-off passes over many rows (the exact answers recall is measured against) :meth:`scan` the
segment's file block by block instead of its map, so they do not leave every row resident;
``transient`` searches (an exact scan standing in for an index search: while a filter's effort is
learned, or where the graph ran short) scan the map in place and then release its pages.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from vecnest._threads import PARALLEL_MIN_QUERIES, FewQueries
from vecnest.index import half
from vecnest.index.half import HalfBlock
from vecnest.kernels.distance import query_blocks, score, squared_norms, top_k
from vecnest.store.rowio import RowReader, blocks, gather, matching_reader
from vecnest.store.segments import release_pages

_ptr = faiss.swig_ptr

#: Below this fraction of the collection, a filter's candidates are gathered and scored alone.
GATHER_FRACTION = 0.25
#: From this fraction up, a few queries are scored in place by FAISS with a bitmap selector,
#: which reads only the matching rows and copies nothing (74k arXiv titles, one query: 7.2k
#: matches 1.97 ms vs 3.09 ms gathered; 36.6k matches 1.83 ms vs 5.14 ms masked; 701 matches
#: 0.22 ms vs 0.12 ms gathered, so small sets are still gathered).
SELECT_FRACTION = 0.03
#: Query batches from this size use BLAS over gathered / masked rows instead.
SELECT_MAX_QUERIES = PARALLEL_MIN_QUERIES


class Candidates(Protocol):
    """Filter matches with their sorted slots and packed bitmap at hand (see
    :class:`vecnest.search.match.Match`), so a repeated filter computes neither again."""

    count: int
    #: a search that keeps what it maps (not transient) scanned these rows in place: their
    #: pages are mapped in this process
    mapped: bool

    @property
    def slots(self) -> np.ndarray: ...

    def packed(self, upto: int) -> np.ndarray: ...


class _SlotList:
    """:class:`Candidates` over a plain sorted slot array (its bitmap built when asked for)."""

    def __init__(self, slots: np.ndarray) -> None:
        self.slots = slots
        self.count = len(slots)
        self.mapped = False

    def packed(self, upto: int) -> np.ndarray:
        mask = np.zeros(upto, dtype=bool)
        mask[self.slots] = True
        return np.packbits(mask, bitorder="little")


class FlatIndex:
    """Exact top-k over a slot-addressed vector snapshot.

    Args:
        vectors: ``(n_slots, dim) float32``, typically a read-only memory map.
        alive: ``(n_slots,) bool`` live-slot mask, or ``None`` if every slot is live.
        l2: score by negative squared L2 distance instead of inner product.
        path: the file ``vectors`` maps from its start (the segment), read by :meth:`scan` and
            :meth:`rows` with positioned reads instead of the map (``None``: through
            ``vectors``, unless it is an ``np.memmap``).
    """

    def __init__(self, vectors: np.ndarray, alive: np.ndarray | None, *, l2: bool, path: Path | None = None) -> None:
        self.vectors = vectors
        self.alive = alive
        self.l2 = l2
        self.path = path
        self._sq_norms: np.ndarray | None = None
        self._reader: RowReader | None | bool = False  # (False: not opened yet; see _picked_rows)

    @property
    def sq_norms(self) -> np.ndarray | None:
        """Squared norms of all rows, computed once per snapshot (L2 only)."""
        if self.l2 and self._sq_norms is None:
            self._sq_norms = squared_norms(np.asarray(self.vectors))
        return self._sq_norms

    def search(
        self, queries: np.ndarray, k: int, candidates: np.ndarray | Candidates | None = None, *, transient: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` slots for each query.

        Args:
            queries: ``(q, dim) float32`` (normalised already for cosine).
            k: results per query.
            candidates: sorted ``(c,) int64`` slots allowed by a filter (all live), the same as
                :class:`Candidates`, or ``None``
                for every live slot.
            transient: a scan standing in for an index search, not the collection's way of
                searching: the pages of the segment's map it faulted in are released afterwards
                (:func:`vecnest.store.segments.release_pages`; an in-place scan at 1M x 256 with
                half the rows matching would otherwise leave ~1 GiB resident, more than the
                index it stands in for). Costs the next scan its page faults (75k x 384, 50 %
                matching: 2.2 -> 2.8 ms a query).

        Returns:
            ``(q, k') int64`` slots and ``(q, k') float32`` scores, best first, ``k' <= k``.
            Positions with no result hold slot ``-1`` and score ``-inf``.
        """
        read: list[np.ndarray] | None = [] if transient else None
        try:
            return self._search(queries, k, candidates, read)
        finally:
            for view in read or ():
                release_pages(view)

    def scan(self, queries: np.ndarray, k: int, candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The same top-``k`` as :meth:`search` (ties aside), reading the rows block by block
        from the segment's file (:func:`vecnest.store.rowio.blocks`), never through its map:
        for one-off passes over many rows, such as the exact answers the recall of an index is
        measured against, which through the map would leave every row they read resident in
        the process for its lifetime (1M x 256 float32: 1 GiB more memory than the index it
        measures). ``candidates``: sorted slots (``None``: every live slot)."""
        rows = candidates
        if rows is None and self.alive is not None:
            rows = np.flatnonzero(self.alive)
        q = len(queries)
        best = np.full((q, 0), -np.inf, dtype=np.float32)
        slots = np.full((q, 0), -1, dtype=np.int64)
        for part, vecs in blocks(self.vectors, rows, path=self.path):
            idx, got = self._knn_rows(queries, vecs, k)
            both = np.concatenate([best, got], axis=1)
            ids = np.concatenate([slots, np.where(idx >= 0, part[np.maximum(idx, 0)], -1)], axis=1)
            top, best = top_k(both, k)
            slots = np.take_along_axis(ids, top, axis=1)
        slots[~np.isfinite(best)] = -1
        return slots, best

    def rows(self, slots: np.ndarray) -> np.ndarray:
        """``(len(slots), dim) float32`` copies of the sorted ``slots``' rows, read from the
        segment's file rather than its map (a copy kept for later searches does not also leave
        the rows' pages mapped)."""
        return gather(self.vectors, slots, path=self.path)

    def _picked_rows(self, slots: np.ndarray) -> np.ndarray:
        """``(len(slots), dim) float32`` copies of a few sorted rows (the candidates a kept
        half-precision block rescores), one positioned read each (~1 µs) through a reader of the
        segment's file the index keeps open, so its map's pages stay unmapped; an in-memory
        array, or a file that is not what the map holds, is indexed directly."""
        reader = self._reader
        if reader is False:
            reader = self._reader = matching_reader(self.vectors, self.path)  # (two threads may both open one: the other closes when dropped)
        if reader is None:
            return np.take(np.asarray(self.vectors), slots, axis=0)
        return reader.read(slots)

    def _mapped_rows(self, slots: np.ndarray) -> np.ndarray:
        """``(len(slots), dim) float32`` copies of the sorted ``slots``' rows, through the
        segment's map (for rows whose pages an in-place scan has mapped already)."""
        return np.take(np.asarray(self.vectors), slots, axis=0)

    def _search(
        self, queries: np.ndarray, k: int, candidates: np.ndarray | Candidates | None, read: list[np.ndarray] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search`; appends to ``read`` (if given) the spans of the map it read rows
        through (none where it scanned rows gathered from the file)."""
        n = self.vectors.shape[0]
        if candidates is not None:
            matches = _SlotList(candidates) if isinstance(candidates, np.ndarray) else candidates
            kept = getattr(matches, "gathered", None)
            # (a transient scan keeps no block of more than SELECT_FRACTION of the rows: it would
            # be read from the file, 74k x 384 at 15 %: 130 ms warm, to serve the few queries
            # before the filter moves to the index, where one selected scan costs ~2-6 ms)
            small = matches.count < SELECT_FRACTION * n
            if kept is not None and len(queries) < PARALLEL_MIN_QUERIES and matches.count < GATHER_FRACTION * n and (read is None or small):
                # the matching rows in one block, kept for the next searches (from the first use
                # where they would be gathered anyway, else from the second)
                # (rows an in-place scan below left mapped are copied through the map, not
                # read again from the file: 74k x 384 at 15 %, 5 ms vs 30-190 ms; a transient
                # search maps nothing it does not release, so it reads the file)
                source = self._mapped_rows if matches.mapped and read is None else self.rows
                d = self.vectors.shape[1]
                halved = not self.l2 and not getattr(matches, "half_unsuited", False) and half.expected(matches.count, d)
                rows = kept(self._keeper(source) if halved else source, d, first_use=small, itemsize=2 if halved else 4)
                if isinstance(rows, HalfBlock):
                    return self._search_half(queries, k, rows, matches, read)
                if rows is not None:
                    return self._search_gathered(queries, k, matches.slots, rows)
            if len(queries) < SELECT_MAX_QUERIES and SELECT_FRACTION * n <= matches.count and self.vectors.flags.c_contiguous:
                if read is not None:  # (the selector reads the matching rows only)
                    read.append(self._span(matches.slots))
                else:
                    matches.mapped = True
                return self._search_selected(queries, k, matches.count, matches.packed(n))
            candidates = matches.slots
        if candidates is not None and len(candidates) < GATHER_FRACTION * n:
            if read is not None:
                read.append(self._span(candidates))
            return self._search_subset(queries, k, candidates)
        if read is not None:
            read.append(self.vectors)
        mask = self.alive
        if candidates is not None:
            mask = np.zeros(n, dtype=bool)
            mask[candidates] = True
        excluded = 0 if mask is None else n - int(np.count_nonzero(mask))
        if excluded <= max(4 * k, 1024) and n > 0:
            return self._knn_excluding(queries, k, mask, excluded)
        if len(queries) < SELECT_MAX_QUERIES and mask is not None and self.vectors.flags.c_contiguous:
            return self._search_selected(queries, k, n - excluded, np.packbits(mask, bitorder="little"))
        slots_out, scores_out = [], []
        for block in query_blocks(len(queries), n):
            scores = score(queries[block], self.vectors, l2=self.l2, vector_sq_norms=self.sq_norms)
            if mask is not None:
                scores[:, ~mask] = -np.inf
            idx, best = top_k(scores, k)
            idx[~np.isfinite(best)] = -1
            slots_out.append(idx)
            scores_out.append(best)
        return _stack(slots_out, scores_out, len(queries))

    def _span(self, slots: np.ndarray) -> np.ndarray:
        """The rows from the first of the sorted ``slots`` to the last, as a view."""
        return self.vectors[int(slots[0]) : int(slots[-1]) + 1] if len(slots) else self.vectors[:0]

    def _knn_excluding(
        self, queries: np.ndarray, k: int, mask: np.ndarray | None, excluded: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """FAISS's SIMD brute force over every row, asking for ``excluded`` extra results so that
        dropping the masked-out rows still leaves ``k`` (4x faster than a BLAS GEMV for one query)."""
        n = self.vectors.shape[0]
        kk = min(k + excluded, n)
        with FewQueries(len(queries)):
            dist, idx = faiss.knn(
                np.ascontiguousarray(queries, dtype=np.float32),
                self.vectors,
                kk,
                metric=faiss.METRIC_L2 if self.l2 else faiss.METRIC_INNER_PRODUCT,
            )
        scores = (-dist if self.l2 else dist).astype(np.float32, copy=False)
        if mask is not None:
            scores[~mask[np.maximum(idx, 0)] | (idx < 0)] = -np.inf
        best_idx, best = top_k(scores, k)
        slots = np.take_along_axis(idx, best_idx, axis=1)
        slots[~np.isfinite(best)] = -1
        return slots, best

    def rescore(self, queries: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` among per-query candidate slots (``-1`` = none), e.g. from PQ codes.

        One FAISS call over the map for the whole batch (``knn_*_by_idx``): the candidates'
        rows are scored where they lie, not gathered into a copy one query at a time (74k x
        384, 100 candidates: ~15 µs a query, was ~50 µs).

        Args:
            queries: ``(q, dim) float32``.
            candidates: ``(q, c) int64`` slots.
            k: results per query.
        """
        x = np.ascontiguousarray(queries, dtype=np.float32)
        subset = np.ascontiguousarray(candidates, dtype=np.int64)
        y = self.vectors
        n = len(x)
        # (FAISS reads raw buffers: shapes that disagree would read past them)
        if x.ndim != 2 or subset.ndim != 2 or len(subset) != n or x.shape[1] != y.shape[1] or k < 1:
            raise ValueError(
                f"rescore: expected (q, {y.shape[1]}) queries, (q, c) candidates and k >= 1; got "
                f"queries {x.shape}, candidates {subset.shape}, k={k}"
            )
        slots = np.full((n, k), -1, dtype=np.int64)
        scores = np.full((n, k), -np.inf, dtype=np.float32)
        if not n or not subset.shape[1]:
            return slots, scores
        if not isinstance(y, np.ndarray) or y.dtype != np.float32 or not y.flags.c_contiguous:
            y = np.ascontiguousarray(y, dtype=np.float32)
        valid = subset >= 0
        if int(subset.max()) >= len(y):
            raise IndexError(f"rescore: candidate slot {int(subset.max())} is past the {len(y)} rows of the segment")
        if (valid[:, 1:] & ~valid[:, :-1]).any():  # FAISS stops a row at its first -1: none first
            subset = np.take_along_axis(subset, np.argsort(~valid, axis=1, kind="stable"), axis=1)
        args = (_ptr(x), _ptr(y), _ptr(subset), x.shape[1], n, len(y), subset.shape[1], k, _ptr(scores), _ptr(slots), subset.shape[1])
        with FewQueries(n):
            (faiss.knn_L2sqr_by_idx if self.l2 else faiss.knn_inner_products_by_idx)(*args)
        missing = slots < 0  # (FAISS fills what no candidate reached with -1 and the largest float)
        if self.l2:
            np.negative(scores, out=scores)
        if missing.any():
            scores[missing] = -np.inf
        return slots, scores

    def _knn_rows(self, queries: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` positions in ``rows`` (``(c, dim) float32``) by FAISS's brute force."""
        kk = min(k, len(rows))
        x = np.ascontiguousarray(queries, dtype=np.float32)
        y = np.ascontiguousarray(rows, dtype=np.float32)
        dist = np.empty((len(x), kk), dtype=np.float32)
        idx = np.empty((len(x), kk), dtype=np.int64)
        if not kk or not len(x):
            return idx, dist
        # FAISS's own functions (``faiss.knn`` adds ~10 µs of Python checks per call)
        args = (_ptr(x), _ptr(y), x.shape[1], len(x), len(y), kk, _ptr(dist), _ptr(idx))
        with FewQueries(len(x)):
            if self.l2:
                faiss.knn_L2sqr(*args)
                np.negative(dist, out=dist)
            else:
                faiss.knn_inner_product(*args)
        if idx[:, -1].min() < 0:  # (FAISS pads with -1 at the ends of short rows)
            dist[idx < 0] = -np.inf
        return idx, dist

    def _search_selected(
        self, queries: np.ndarray, k: int, count: int, packed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """FAISS's brute force in place over the ``count`` rows the packed bitmap admits."""
        n, d = self.vectors.shape
        sel = faiss.IDSelectorBitmap(len(packed), faiss.swig_ptr(packed))
        x = np.ascontiguousarray(queries, dtype=np.float32)
        kk = min(k, count)
        dist = np.empty((len(x), kk), dtype=np.float32)
        idx = np.empty((len(x), kk), dtype=np.int64)
        args = (faiss.swig_ptr(x), faiss.swig_ptr(self.vectors), d, len(x), n, kk, faiss.swig_ptr(dist), faiss.swig_ptr(idx))
        with FewQueries(len(x)):
            if self.l2:
                faiss.knn_L2sqr(*args, None, sel)
                scores = -dist
            else:
                faiss.knn_inner_product(*args, sel)
                scores = dist
        del packed  # the selector borrowed it until here
        scores[idx < 0] = -np.inf
        return idx, scores

    def _keeper(self, read_rows: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray | HalfBlock]:
        """What a match keeps of its rows, read by ``read_rows``: a
        :class:`~vecnest.index.half.HalfBlock` where :func:`~vecnest.index.half.encode` takes
        them (half the memory, a third faster to scan, answers still exact), else the rows."""

        def keep(slots: np.ndarray) -> np.ndarray | HalfBlock:
            rows = read_rows(slots)
            block = half.encode(rows, slots)
            return rows if block is None else block

        return keep

    def _search_half(
        self, queries: np.ndarray, k: int, block: HalfBlock, matches: Candidates, read: list[np.ndarray] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` over a kept :class:`~vecnest.index.half.HalfBlock`: its certified
        answers (candidates rescored from rows read from the segment's file, not its map:
        :meth:`_picked_rows`), and the queries it could not certify scanned again in float32
        in place, the map's pages they faulted released afterwards. A search the block is not
        for (too many results asked: :func:`~vecnest.index.half.suits`) is answered the same
        way; it, and a block whose queries proved too often uncertified
        (:attr:`~vecnest.index.half.HalfBlock.unsuited`), make the match drop the block and
        keep its float32 rows from its next search on."""
        if not half.suits(block, k):
            self._give_up_half(matches, block)
            return self._released_subset(queries, k, block.slots, read)
        slots, scores, certified = half.search(block, self._picked_rows, queries, k)
        again = np.flatnonzero(~certified)
        block.record(len(queries), len(again))
        if len(again):
            slots[again], scores[again] = self._released_subset(queries[again], k, block.slots, read)
            if block.unsuited:
                self._give_up_half(matches, block)
        return slots, scores

    def _released_subset(
        self, queries: np.ndarray, k: int, slots: np.ndarray, read: list[np.ndarray] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_search_subset` over ``slots`` through the map, whose pages it faulted are
        released afterwards (here, or with a transient search's, ``read``): a search answered
        beside a kept block leaves nothing mapped."""
        spans = read if read is not None else []
        spans.append(self._span(slots))
        try:
            return self._search_subset(queries, k, slots)
        finally:
            if read is None:
                for view in spans:
                    release_pages(view)

    @staticmethod
    def _give_up_half(matches: Candidates, block: HalfBlock) -> None:
        """Let ``matches`` keep float32 rows instead of ``block`` from its next search on."""
        if hasattr(matches, "half_unsuited"):
            matches.half_unsuited = True  # type: ignore[attr-defined]
            matches.release(block)  # type: ignore[attr-defined]

    def _search_gathered(
        self, queries: np.ndarray, k: int, candidates: np.ndarray, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """FAISS's brute force over the candidates' rows already gathered into ``rows``."""
        idx, best = self._knn_rows(queries, rows, k)
        return np.where(idx >= 0, candidates[np.maximum(idx, 0)], -1), best

    def _search_subset(
        self, queries: np.ndarray, k: int, candidates: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        lo = int(candidates[0]) if len(candidates) else 0
        if len(candidates) and int(candidates[-1]) - lo + 1 == len(candidates):
            # one run of slots (the rows appended since the index was built, a filter on
            # insertion order): read in place, not copied out
            sub = np.asarray(self.vectors[lo : lo + len(candidates)])
        else:
            sub = np.asarray(self.vectors[candidates])
        if len(queries) < PARALLEL_MIN_QUERIES:  # FAISS SIMD on this thread: no BLAS team
            return self._search_gathered(queries, k, candidates, sub)
        # (the norms of these rows alone where the snapshot's are not computed yet: computing them
        # would read every row of the map, which a transient scan must not leave mapped)
        norms = (self._sq_norms[candidates] if self._sq_norms is not None else squared_norms(sub)) if self.l2 else None
        slots_out, scores_out = [], []
        for block in query_blocks(len(queries), len(candidates)):
            scores = score(queries[block], sub, l2=self.l2, vector_sq_norms=norms)
            idx, best = top_k(scores, k)
            slots_out.append(candidates[idx] if idx.size else idx)
            scores_out.append(best)
        return _stack(slots_out, scores_out, len(queries))


def _stack(
    slots: list[np.ndarray], scores: list[np.ndarray], n_queries: int
) -> tuple[np.ndarray, np.ndarray]:
    if not slots:
        return np.empty((n_queries, 0), dtype=np.int64), np.empty((n_queries, 0), np.float32)
    return np.concatenate(slots, axis=0), np.concatenate(scores, axis=0)
