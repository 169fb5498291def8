"""The rows appended since the last index build (the delta): their top-``k`` for a query batch,
to be merged with the index's answer. Pure functions over a snapshot's parts, shared by the
planner (:mod:`vecnest.search.planner`) and the replays of repeated searches
(:mod:`vecnest.search.replay`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from vecnest._threads import PARALLEL_MIN_QUERIES
from vecnest.index.flat import FlatIndex
from vecnest.kernels.distance import top_k
from vecnest.search import sketch
from vecnest.search.warn import warn_now

#: :func:`merge` sorts two answers whole up to this many columns together (k up to 64).
SORT_WIDTH = 128


def precise_delta(given_effort: int | None, target: float | None) -> bool:
    """Whether the delta must be scanned exactly, not ranked by sketches: the caller gave an
    effort, or asked for no recall target or one above what the sketches keep."""
    return bool(given_effort) or target is None or target > sketch.MAX_TARGET


def search_delta(
    flat: FlatIndex, sketches: Any, lo: int, hi: int, queries: np.ndarray, k: int, delta: np.ndarray, precise: bool
) -> tuple[tuple[np.ndarray, np.ndarray], str]:
    """Top-``k`` of the delta rows ``delta`` (sorted slots in ``[lo, hi)``: past the index's
    ``built_upto``, before the segment's end) and a note for the plan: ranked by ``sketches``
    (a :class:`~vecnest.search.sketch.SketchBuffer`, or ``None``: asymmetrically by its
    fast-scan index where that applies, else by Hamming distance) and the best rescored
    exactly for one or a few queries over many rows, else (and when ``precise``: the caller
    asked for more than the default recall) scanned exactly by ``flat``."""
    buf = sketches
    depth = sketch.rescore_depth(k)
    if (
        buf is None
        or precise
        or len(queries) >= PARALLEL_MIN_QUERIES  # (a batch scans exactly through BLAS)
        or len(delta) < max(sketch.SKETCH_MIN_ROWS, 8 * depth)
        or not buf.fits(hi)  # (a delta whose sketches would pass the buffer's cap)
    ):
        return flat.search(queries, k, delta), ""
    try:
        fast = _fastscan_candidates(buf, flat, lo, hi, queries, k, delta)
        if fast is not None:
            cand, note = fast
            return flat.rescore(queries, cand, k), note
        codes = buf.codes(flat.vectors, lo, hi)
        if len(delta) < hi - lo:
            codes = codes[delta - lo]
        assert buf.centre is not None
        pos = sketch.hamming_candidates(queries, codes, buf.centre, depth)
    except Exception:  # noqa: BLE001 -- (no memory for the codes, an unreadable file: the exact scan answers)
        warn_now("ranking the delta by sign sketches failed; scanning it exactly")
        return flat.search(queries, k, delta), ""
    cand = np.where(pos >= 0, delta[np.maximum(pos, 0)], -1)
    note = f"; {len(delta):,} delta rows (not in the index yet) ranked by sign sketches, the best {pos.shape[1]} rescored exactly"
    return flat.rescore(queries, cand, k), note


def _fastscan_candidates(
    buf: Any, flat: FlatIndex, lo: int, hi: int, queries: np.ndarray, k: int, delta: np.ndarray
) -> tuple[np.ndarray, str] | None:
    """The delta's candidates ranked asymmetrically by the buffer's fast-scan indexes (see
    :mod:`vecnest.search.sketch`) and a note, or ``None`` where they do not apply: a delta of
    more than :data:`~vecnest.search.sketch.FASTSCAN_MAX_ROWS` rows, an older snapshot than the
    indexes', one built by another thread right now, or more rows they hold but this search may
    not return (past ``hi``, deleted, filtered out) than the rescoring depth (each is fetched in
    their place and dropped)."""
    n = hi - lo
    depth = sketch.asym_depth(k)
    if n > sketch.FASTSCAN_MAX_ROWS or n - len(delta) > depth:
        return None
    fast = buf.fastscan(flat.vectors, lo, hi)
    if fast is None:
        return None
    extra = (n - len(delta)) + (fast.hi - hi)
    if extra > depth:
        return None
    assert buf.centre is not None
    pos = sketch.asym_candidates(queries, fast, buf.centre, depth + extra)
    if (pos < 0).any():  # (FAISS drops rows at the very bottom of its 16-bit score range: the Hamming path ranks them)
        return None
    cand = lo + pos
    if extra:  # (only this search's delta rows)
        at = np.minimum(np.searchsorted(delta, cand), len(delta) - 1)
        cand = np.where((cand >= 0) & (delta[at] == cand), cand, -1)
    return cand, f"; {len(delta):,} delta rows (not in the index yet) ranked by sign sketches against the float query (fast scan), the best {depth} rescored exactly"


def merge(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of two ``(slots, scores)`` answers for the same queries: up to
    :data:`SORT_WIDTH` columns, one stable sort of them all (k=10, one query: 11 µs, where a
    partition and a sort of the best took 20 µs; ties keep ``a``'s slots first); one query is
    merged in Python (right after a search, numpy's half-dozen calls cost ~35 µs, cold)."""
    if len(a[0]) == 1 and a[0].shape[1] + b[0].shape[1] <= SORT_WIDTH:
        one = _merge_one(a, b, k)
        if one is not None:
            return one
    slots = np.concatenate([a[0], b[0]], axis=1)
    scores = np.concatenate([a[1], b[1]], axis=1)
    if slots.shape[1] > SORT_WIDTH:
        idx, best = top_k(scores, k)
        out = np.take_along_axis(slots, idx, axis=1)
    else:
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        out = np.take_along_axis(slots, order, axis=1)
        best = np.take_along_axis(scores, order, axis=1)
    out[~np.isfinite(best)] = -1
    return out, best


def _merge_one(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`merge` of one query's answers as Python lists (``None`` if a score is NaN: numpy's
    order for it is kept)."""
    scores = a[1][0].tolist() + b[1][0].tolist()
    if any(x != x for x in scores):
        return None
    slots = a[0][0].tolist() + b[0][0].tolist()
    order = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)[:k]  # (stable: ties keep a first)
    best = [scores[i] for i in order]
    inf = float("inf")
    out = [slots[i] if -inf < scores[i] < inf else -1 for i in order]
    return np.array([out], dtype=a[0].dtype), np.array([best], dtype=a[1].dtype)
