"""Sign sketches of the delta: the rows appended since the approximate index was last merged.

A writer can append rows faster than the index takes them in (plain ``add()`` calls append
10-17k arXiv title rows a second on 2 cores; one thread merging them into an HNSW graph with
M=32 / efConstruction=128 inserts ~3k a second), and until a merge lands every approximate
search also scans the delta. Scanned exactly in float32, a delta of 50k 384-dim rows costs
~4 ms per query, twenty times the graph search. From :data:`SKETCH_MIN_ROWS` rows on, a search
ranks the delta by the Hamming distance between sign bits of ``row - centre`` and
``query - centre`` (48 bytes per 384-dim row, padded to 64: 24x less memory to read than
float32, scanned by FAISS's counting popcount kernel: 40k rows in ~115 µs, 215 µs with a heap
over the 48 bytes), then rescores the best ``max(RESCORE_MIN, RESCORE_PER_K * k)`` rows
exactly (the binary-retrieval recipe: coarse binary ranking, float32 rescoring).

Where the delta is one contiguous run of rows (no filter, or one that excludes no more rows than
are rescored; likewise deleted rows) of at most
:data:`FASTSCAN_MAX_ROWS`, the same sign bits rank it *asymmetrically* instead: the float query
``query - centre`` against each row's ±1 sketch, ``sum_j q_j s_j``, scored by FAISS's 4-bit
fast-scan PQ kernel (:func:`~vecnest.kernels.binary.fastscan_index`). The float query ranks the
rows better than its own sign bits do, so half as many are rescored for a higher recall (28k rows,
one query: top 128 hold 0.994 of the delta's top 10 in ~90 µs, where the Hamming top 256 hold
0.990 in ~110 µs, and the rescoring of 256 rows costs 50-100 µs).

Measured on 74k arXiv titles (all-MiniLM-L6-v2, 384 dims), one query at a time, recall@10 of
the delta's own top 10 against an exact scan: 10k rows, 200 rescored: 0.989 in 0.16 ms (exact
0.37 ms); 50k rows: 0.980 in 0.36 ms (exact 3.95 ms); 400 rescored: 0.998 / 0.994.

The sketches are derived in each reader process from the segment map it already holds (no
file, nothing for a writer to keep in step): a slot's vector never changes within a segment
generation, so one append-only :class:`SketchBuffer` per generation serves a process's
successive snapshots, and each new snapshot codes only the rows appended since. Exact
strategies never use sketches (their contract is recall 1.0), nor searches that ask for a
recall above :data:`MAX_TARGET` or a fixed effort, nor batches of 16 queries or more (scanned
exactly through BLAS); approximate ones report the sketch in their plan. Only cosine collections use them (their rows are unit vectors, which
sign bits rank by angle; ``dot`` and ``l2`` scores also depend on the norms, which the sketch
drops): the others scan the delta exactly.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vecnest._threads import FewQueries
from vecnest.kernels.binary import fastscan_index, fastscan_knn, hamming_knn_counting, pack_signs, padded_bytes
from vecnest.store.rowio import gather

#: Delta rows (after the filter) from which sketches rank them; fewer are scanned exactly.
SKETCH_MIN_ROWS = 2048
#: Rows rescored exactly per query: at least this many ...
RESCORE_MIN = 256
#: ... and at least this many per requested result.
RESCORE_PER_K = 25
#: Searches asking for a higher recall than this (``target_recall``), or for a fixed effort
#: (``ef_search`` / ``nprobe``), or with no target, scan the delta exactly: the sketches'
#: ~0.98-0.99 recall of the delta's own top rows does not scale with the requested effort.
MAX_TARGET = 0.97
#: Sketches need enough bits to rank by (a 16-dim vector's 2-byte sketch ranks nothing).
MIN_DIM = 64
#: Rows coded per step (bounds the float32 temporary of a step).
_CHUNK = 8192
#: A buffer holds at most this many bytes of sketches (64 bytes a 384-dim row: 4M rows); the
#: rows it cannot hold are not ranked by sketches (see :meth:`SketchBuffer.fits`).
MAX_BUFFER_BYTES = 256 * 1024 * 1024
#: Rows rescored exactly per query after the asymmetric (fast-scan) ranking: at least this many ...
ASYM_RESCORE_MIN = 128
#: ... and at least this many per requested result.
ASYM_RESCORE_PER_K = 12
#: A fast-scan index covers one snapshot's delta and is rebuilt when a newer snapshot holds more
#: rows (~0.1 ms per 1,000 rows, paid by the first search of that snapshot): a delta of more rows
#: than this is ranked by Hamming distance, whose sketches are only ever appended to.
FASTSCAN_MAX_ROWS = 65_536


#: A fast-scan index is extended by a second, *tail* index over the rows appended since it was
#: built while they number at most this many or a quarter of its rows; past that, one index over
#: the whole delta is built again (so a row is packed ~5 times at most, not once per commit).
FASTSCAN_TAIL_MIN = 4096


@dataclass(frozen=True)
class FastScan:
    """Immutable fast-scan indexes over the sketches of slots ``[lo, hi)``: ``main`` over
    ``[lo, mid)`` (row ``i`` = slot ``lo + i``) and, where rows were appended since it was built,
    ``tail`` over ``[mid, hi)``; shared by every snapshot whose delta starts at ``lo`` and ends
    by ``hi``."""

    lo: int
    hi: int
    main: Any
    mid: int
    tail: Any = None


class SketchBuffer:
    """The sign sketches of one segment generation's slots from ``start`` on.

    Codes are appended as snapshots need them, under a lock; capacity doubles when full (a view
    handed out before keeps the old array, whose coded rows never change). The centre is the
    mean of the first rows coded, fixed for the buffer's life (every code of a buffer shares
    it). Dead slots are coded like live ones (they are never candidates).

    Args:
        generation: the segment generation the slots belong to.
        start: the first slot held (the index's ``built_upto`` when the buffer was made).
        dim: vector dimension.
    """

    def __init__(self, generation: int, start: int, dim: int, path: Path | None = None) -> None:
        self.generation = generation
        self.start = start
        #: the segment's file, read with positioned reads (``None``: through the map)
        self.path = path
        self.dim = dim
        self.nbytes = padded_bytes(dim)
        self.centre: np.ndarray | None = None
        self._codes = np.empty((0, self.nbytes), dtype=np.uint8)
        self._coded = start  # slots below this are coded
        self._lock = threading.Lock()
        self._fast: FastScan | None = None
        self._fast_lock = threading.Lock()

    @property
    def coded(self) -> int:
        """Slots below this are coded."""
        return self._coded

    def fits(self, hi: int) -> bool:
        """Whether the sketches of slots ``[start, hi)`` fit in :data:`MAX_BUFFER_BYTES`
        (callers code no slot past a ``hi`` that does not fit)."""
        return (hi - self.start) * self.nbytes <= MAX_BUFFER_BYTES

    def codes(self, vectors: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """``(hi - lo, nbytes) uint8``: the sketches of slots ``[lo, hi)`` of ``vectors`` (the
        segment map), coding the slots not coded yet. ``lo >= start``."""
        if lo < self.start:
            raise ValueError(f"slot {lo} is below this buffer's first slot {self.start}")
        with self._lock:
            if hi > self._coded:
                self._append(vectors, hi)
            return self._codes[lo - self.start : hi - self.start]

    def fastscan(self, vectors: np.ndarray, lo: int, hi: int) -> FastScan | None:
        """Fast-scan indexes over slots ``[lo, hi')`` for some ``hi' >= hi``: the newest built
        if it starts at ``lo`` and reaches ``hi``; else, for a snapshot at least as new as it
        (its delta starts no earlier), new ones over ``[lo, hi)`` that replace it (the rows
        appended since, in a tail index of their own while few: see
        :data:`FASTSCAN_TAIL_MIN`); else ``None``, and the caller ranks by Hamming distance:
        for an older snapshot (rather than rebuild back and forth), and while another thread
        builds (rather than queue behind it). Never changed once built."""
        cur = self._fast
        if cur is not None and cur.lo == lo and cur.hi >= hi:
            return cur
        if not self._fast_lock.acquire(blocking=False):
            return None
        try:
            cur = self._fast
            if cur is not None and cur.lo == lo and cur.hi >= hi:
                return cur
            if cur is not None and lo < cur.lo:
                return None
            if cur is not None and cur.lo == lo and hi - cur.mid <= max(FASTSCAN_TAIL_MIN, (cur.mid - lo) // 4):
                built = FastScan(lo, hi, cur.main, cur.mid, fastscan_index(self.codes(vectors, cur.mid, hi), self.dim))
            else:
                built = FastScan(lo, hi, fastscan_index(self.codes(vectors, lo, hi), self.dim), hi)
            self._fast = built
            return built
        finally:
            self._fast_lock.release()

    def _append(self, vectors: np.ndarray, hi: int) -> None:
        need = hi - self.start
        if need > len(self._codes):
            # (a quarter more than needed: appends amortised, a first pass over a whole
            # segment not doubled)
            # (never more room than the cap holds, so growing never holds more than it: a
            # request past the cap is the caller's, sized exactly)
            room = max(need, min(need + need // 4, MAX_BUFFER_BYTES // self.nbytes))
            grown = np.empty((max(room, 1024), self.nbytes), dtype=np.uint8)
            grown[: self._coded - self.start] = self._codes[: self._coded - self.start]
            self._codes = grown
        self._centre(vectors, hi)
        for a in range(self._coded, hi, _CHUNK):
            b = min(a + _CHUNK, hi)
            self._codes[a - self.start : b - self.start] = sketch(self._rows(vectors, a, b), self.centre, self.nbytes)
        self._coded = hi

    def centred(self, vectors: np.ndarray, hi: int) -> np.ndarray | None:
        """The centre, computed now (from the first rows below ``hi``) if it is not yet: what
        the codes of this buffer are and will be taken against (``None``: no rows yet)."""
        with self._lock:
            self._centre(vectors, hi)
            return self.centre

    def _centre(self, vectors: np.ndarray, hi: int) -> None:
        if self.centre is None and hi > self._coded:
            block = self._rows(vectors, self._coded, min(hi, self._coded + _CHUNK))
            self.centre = block.mean(axis=0, dtype=np.float64).astype(np.float32)

    def _rows(self, vectors: np.ndarray, a: int, b: int) -> np.ndarray:
        """Rows ``[a, b)`` as float32: from the file if the buffer has one (a pass over a whole
        segment must not leave it resident through the map), else through the map."""
        if self.path is None:
            return np.asarray(vectors[a:b], dtype=np.float32)
        return gather(vectors, np.arange(a, b, dtype=np.int64), path=self.path)


def sketch(x: np.ndarray, centre: np.ndarray, nbytes: int | None = None) -> np.ndarray:
    """``(n, nbytes) uint8``: the sign bits of ``x - centre``, packed as
    :mod:`vecnest.kernels.binary` packs codes, then zero bytes up to ``nbytes`` (default
    :func:`~vecnest.kernels.binary.padded_bytes`: a width FAISS's Hamming kernels unroll)."""
    bits = pack_signs(x - centre)
    width = padded_bytes(x.shape[1]) if nbytes is None else nbytes
    if bits.shape[1] == width:
        return bits
    out = np.zeros((len(bits), width), dtype=np.uint8)
    out[:, : bits.shape[1]] = bits
    return out


def usable(dim: int) -> bool:
    """Whether vectors of ``dim`` dimensions are ranked by sketches at all."""
    return dim >= MIN_DIM


def rescore_depth(k: int) -> int:
    """Rows rescored exactly per query for ``k`` results."""
    return max(RESCORE_MIN, RESCORE_PER_K * k)


def asym_depth(k: int) -> int:
    """Rows rescored exactly per query for ``k`` results after the asymmetric ranking."""
    return max(ASYM_RESCORE_MIN, ASYM_RESCORE_PER_K * k)


def asym_candidates(queries: np.ndarray, fast: FastScan, centre: np.ndarray, depth: int) -> np.ndarray:
    """``(q, min(depth, n)) int64``: rows of ``fast`` (positions from its ``lo``) with the best
    asymmetric scores ``(query - centre) · sketch`` (``-1`` where fewer); the best of its main
    and tail indexes together (their scores come from the same lookup tables)."""
    q = np.asarray(queries, dtype=np.float32) - centre
    with FewQueries(len(q)):  # one query: no OpenMP team (see vecnest._threads)
        scores, rows = fastscan_knn(fast.main, q, depth)
        if fast.tail is None:
            return rows
        t_scores, t_rows = fastscan_knn(fast.tail, q, depth)
    scores = np.concatenate([np.where(rows >= 0, scores, -np.inf), np.where(t_rows >= 0, t_scores, -np.inf)], axis=1)
    rows = np.concatenate([rows, np.where(t_rows >= 0, t_rows + (fast.mid - fast.lo), -1)], axis=1)
    order = np.argsort(-scores, axis=1, kind="stable")[:, : min(depth, fast.hi - fast.lo)]
    return np.take_along_axis(rows, order, axis=1)


def hamming_candidates(queries: np.ndarray, codes: np.ndarray, centre: np.ndarray, depth: int) -> np.ndarray:
    """``(q, min(depth, n)) int64``: positions in ``codes`` nearest each query by Hamming
    distance between sketches (``-1`` where fewer)."""
    q = sketch(np.asarray(queries, dtype=np.float32), centre, codes.shape[1])
    if not len(codes):
        return np.empty((len(q), 0), dtype=np.int64)
    with FewQueries(len(q)):  # one query: no OpenMP team (see vecnest._threads)
        return hamming_knn_counting(q, np.ascontiguousarray(codes), depth)[1]
