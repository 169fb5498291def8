"""A filter's matching rows kept in float16, searched exactly: scanned in half precision, the
best candidates rescored from the float32 rows, and the answer certified exact by a bound on
what half precision can change (else scanned in float32).

An exact scan over a repeated filter's rows is bound by reading them: kept as float16
(FAISS's ``QT_fp16`` scalar quantizer, decoded with F16C in the scan) the block is half the
bytes, and its scan a third faster (74k arXiv titles, one query, one thread: 10,879 rows
0.57 -> 0.37 ms; 20,000 rows 1.05 -> 0.68 ms; below ~2,000 rows no faster, so small blocks stay
float32: :data:`MIN_ROWS`). The answer stays exact:

- float16 keeps 11 significant bits, so each component moves by at most ``2^-11`` of itself
  (``2^-25`` absolute below the normal range): ``|q·x - q·x̂| <= |q| |x - x̂| <= |q| (2^-11 |x| +
  sqrt(d) 2^-25)``; float32 rounding of each sum moves it by at most ``gamma_d |q| |x|``
  (``gamma_d = d u / (1 - d u)``, ``u = 2^-24``); with twice that for each of the half-precision
  sum and the float32 scan the answer must equal, every row's scores differ by at most ``eps(q)``
  (:func:`bound`, over the block's largest row norm);
- the scan keeps the ``c`` best rows by their half-precision scores (:func:`candidates`:
  ``max(2k, k + 8)``), which are rescored from the float32 rows (``read``: positioned reads of
  the segment's file, so a kept block never maps the segment's pages; FAISS ``knn_*_by_idx``);
- any other row scored at most the ``c``-th half-precision score ``h_c``, so its float32 score
  is at most ``h_c + eps``: where that is below the ``k``-th rescored score the rescored top-``k``
  is the exact one (ties aside); a query where it is not (near-duplicates closer than half
  precision resolves) is :func:`search`'s to return as uncertified, and the caller scans it in
  float32.

Only the inner product (cosine, dot) of rows of :data:`MIN_DIM` or more dimensions is kept this
way; rows with a component beyond float16's range (``|x| > 65504``) or not finite, and rows
whose largest norm is more than :data:`NORM_SPREAD` times their median (one long row would
widen every query's bound past certifying) stay float32 (:func:`encode` returns ``None``). A
search asking for so many results that the candidates are more than a :data:`MAX_CANDIDATES`
share of the block is not for it (:func:`suits`: the caller scans the float32 rows).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import faiss
import numpy as np

from vecnest._threads import FewQueries

_ptr = faiss.swig_ptr

#: Blocks of fewer rows stay float32 (the scan is no faster below ~2,000 rows of 384).
MIN_ROWS = 4096
#: ... and so do rows of fewer dimensions (at 64 or 128 the float32 scan is as fast).
MIN_DIM = 256
#: ... and rows whose largest norm exceeds their median norm this many times.
NORM_SPREAD = 2.0
#: A search whose candidates would be more than this share of the block's rows is not for it.
MAX_CANDIDATES = 1 / 16
#: The largest finite float16.
_FP16_MAX = 65504.0


#: A block whose searches left more than this share of queries uncertified, over at least
#: :data:`JUDGED_AFTER` queries, is not for half precision (rows closer than it resolves).
MAX_UNCERTIFIED = 1 / 8
JUDGED_AFTER = 32


@dataclass(frozen=True, eq=False)
class HalfBlock:
    """The matching rows (``slots``, sorted) in float16 inside a FAISS scalar quantizer, with
    the largest row norm (for :func:`bound`) and a tally of its queries: ``[searched,
    uncertified]`` (approximate under concurrent searches: it only decides :meth:`unsuited`)."""

    index: faiss.IndexScalarQuantizer
    slots: np.ndarray
    max_norm: float
    tally: list[int] = field(default_factory=lambda: [0, 0])

    def record(self, searched: int, uncertified: int) -> None:
        self.tally[0] += searched
        self.tally[1] += uncertified

    @property
    def unsuited(self) -> bool:
        """Whether too many of its queries needed the float32 rows (see :data:`MAX_UNCERTIFIED`)."""
        searched, uncertified = self.tally
        return searched >= JUDGED_AFTER and uncertified > MAX_UNCERTIFIED * searched

    @property
    def nbytes(self) -> int:
        return int(self.index.ntotal) * int(self.index.code_size)


def expected(count: int, dim: int) -> bool:
    """Whether :func:`encode` may take ``count`` rows of ``dim`` (their values decide the rest)."""
    return count >= MIN_ROWS and dim >= MIN_DIM


def encode(rows: np.ndarray, slots: np.ndarray) -> HalfBlock | None:
    """``rows`` (``(n, d) float32``, the rows at ``slots``) as a :class:`HalfBlock` for an
    inner-product scan, or ``None`` where they should stay float32 (see the module's docstring)."""
    if rows.ndim != 2 or not expected(len(rows), rows.shape[1]):
        return None
    top, bottom = float(rows.max(initial=0.0)), float(rows.min(initial=0.0))  # (no |rows| copy)
    if not (math.isfinite(top) and math.isfinite(bottom)) or max(top, -bottom) > _FP16_MAX:
        return None
    x = np.ascontiguousarray(rows, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    max_norm = float(norms.max())
    if max_norm > NORM_SPREAD * float(np.median(norms)):
        return None
    index = faiss.IndexScalarQuantizer(x.shape[1], faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    index.add(x)  # (fp16 needs no training)
    return HalfBlock(index, np.ascontiguousarray(slots, dtype=np.int64), max_norm)


def bound(block: HalfBlock, query_norms: np.ndarray) -> np.ndarray:
    """``(q,)`` the most a row's float32 inner product with each query can differ from the
    block's half-precision one (see the module's docstring)."""
    d = int(block.index.d)
    du = d * 2.0**-24
    per_norm = 2.0**-11 + 4.0 * du / (1.0 - du)
    return query_norms * (block.max_norm * per_norm + math.sqrt(d) * 2.0**-24)


def candidates(k: int) -> int:
    """How many rows the half-precision scan keeps for rescoring (each is one positioned read:
    74k arXiv titles, k = 10: 20 certify every one of 500 held-out queries at 5k-36k rows, 12
    leave 0.6-2 % to the float32 scan)."""
    return max(2 * k, k + 8)


def suits(block: HalfBlock, k: int) -> bool:
    """Whether a search for ``k`` results is for the block (few candidates among its rows)."""
    return k >= 1 and candidates(k) <= MAX_CANDIDATES * len(block.slots)


def search(
    block: HalfBlock, read: Callable[[np.ndarray], np.ndarray], queries: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact top-``k`` inner products among the block's rows, for each query: ``(q, k')``
    slots and float32 scores rescored from the rows ``read(sorted slots)`` returns
    (``(c, d) float32``), best first (``-1`` / ``-inf`` padded), and ``(q,) bool`` which
    queries are certified exact (the others the caller scans again in float32).

    Raises:
        ValueError: the queries' dimension is not the block's, or ``k < 1``.
    """
    x = np.ascontiguousarray(queries, dtype=np.float32)
    d = int(block.index.d)
    if x.ndim != 2 or x.shape[1] != d or k < 1:  # (FAISS reads raw buffers)
        raise ValueError(f"half.search: expected (q, {d}) queries and k >= 1; got {x.shape}, k={k}")
    n, count = len(x), len(block.slots)
    c = min(candidates(k), count)
    kk = min(k, c)
    slots = np.full((n, kk), -1, dtype=np.int64)
    scores = np.full((n, kk), -np.inf, dtype=np.float32)
    if not c or not n:
        return slots, scores, np.ones(n, dtype=bool)
    approx = np.empty((n, c), dtype=np.float32)
    pos = np.empty((n, c), dtype=np.int64)
    with FewQueries(n):
        block.index.search_c(n, _ptr(x), c, _ptr(approx), _ptr(pos), None)
    cand = np.where(pos >= 0, block.slots[np.maximum(pos, 0)], -1)
    wanted = np.unique(cand[cand >= 0])  # (sorted: the rows read once for every query)
    rows = np.ascontiguousarray(read(wanted), dtype=np.float32)
    at = np.where(cand >= 0, np.searchsorted(wanted, np.maximum(cand, 0)), -1)
    valid = at >= 0
    if (valid[:, 1:] & ~valid[:, :-1]).any():  # (FAISS stops a row at its first -1: none first)
        at = np.take_along_axis(at, np.argsort(~valid, axis=1, kind="stable"), axis=1)
    found = np.full((n, kk), -1, dtype=np.int64)
    with FewQueries(n):
        faiss.knn_inner_products_by_idx(
            _ptr(x), _ptr(rows), _ptr(at), d, n, len(rows), c, kk, _ptr(scores), _ptr(found), c
        )
    hit = found >= 0
    slots[hit] = wanted[found[hit]]
    scores[~hit] = -np.inf
    if c >= count:  # every row was rescored: exact as it stands
        return slots, scores, np.ones(n, dtype=bool)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    certified = approx[:, -1].astype(np.float64) + bound(block, norms) < scores[:, -1]
    return slots, scores, certified
