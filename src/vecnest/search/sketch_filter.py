"""Filtered searches ranked by sign sketches of the filter's matching rows, the best rescored.

Between the selectivities where an exact scan of the matches is cheap and those where a graph
walk finds enough matching neighbours, a filtered HNSW search is at its worst: at 15 % of 74k
arXiv titles FAISS needs ``ef_search`` 96 (~0.3-0.4 ms a query) to reach recall@10 0.95, and an
exact scan of the 11k matching rows reads 16 MB (~0.5 ms). The binary-retrieval recipe does
better there: the sign bits of each matching row minus a centre (64 bytes per 384-dim row, 24x
less to read than float32) ranked by Hamming distance to the query's (FAISS's counting popcount
kernel: 11k rows in ~40 µs), and the best ``depth`` rows rescored exactly from the segment
(``FlatIndex.rescore``): recall@10 0.974 at depth 128 in ~0.10 ms, 0.993 at 256 in ~0.17 ms
(one query, 11k random rows of the 74k). The sketches of every slot are coded once per segment
generation and process (``Snapshot.all_sketches``: read from the segment's file, then extended
as rows are appended; 64 bytes a row), centred on the mean of the segment's first rows (on the
real 15 % filter, ``cs.LG``, as good as the filter's own mean: recall@10 0.973 vs 0.976 at 128),
so a filter's sketches are gathered from them (~0.3 ms for 11k rows), not coded again, at each
new snapshot a write makes.

It is approximate, so the planner takes it only where the caller accepts an approximate answer
(a collection with an approximate index, no effort or strategy given) and only where this
filter's own queries measured it both accurate and faster than the graph: when a repeated
filter's index effort is learned (:mod:`vecnest.search.effort`), :func:`judge` measures, on the
same sample of its queries, the recall@10 of each depth of :data:`DEPTHS` against an exact scan
of its matching rows, takes the least depth whose mean recall clears the target by
:data:`MARGIN_SE` standard errors, and times it against the graph at its learned effort; the
verdict is kept with the learned effort (per index, filter and target, while the filter matches
about as many rows), with the sample: once rows appended since move the filter's matches past
:data:`_DRIFT`, the next search with it (one, the others take the graph meanwhile) judges again on
that sample and pays for it. Only cosine collections (unit rows, which sign bits rank by angle), 64+
dimensions, :data:`MIN_MATCHES`+ matching rows, and fewer than 16 queries at once (a batch goes
through the graph).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vecnest.index.ann import AnnIndex, IndexUnusable
from vecnest.index.flat import FlatIndex
from vecnest.kernels.distance import top_k
from vecnest.search import sketch
from vecnest.search.effort import SAMPLE, FilterEfforts, clears, efforts_of
from vecnest.search.match import Match
from vecnest.search.sketch import SketchBuffer
from vecnest.search.snapshot import Snapshot
from vecnest.store.rowio import blocks, gather

log = logging.getLogger("vecnest")

#: Rows rescored exactly per query, the ladder a filter's depth is chosen from.
DEPTHS = (32, 64, 128, 256, 512, 1024)
#: Filters matching fewer rows are never ranked by sketches (their exact scan is cheap) ...
MIN_MATCHES = 2048
#: ... nor more (the Hamming scan alone, ~3.5 ns a row, costs a millisecond: a graph's price).
MAX_MATCHES = 1 << 18
#: The timing copy of :func:`judge` keeps its rows this many rows apart.
_SPREAD = 4
#: A depth must leave at least this many times its own rows unscanned (else scan exactly).
MIN_SAVING = 4
#: A depth is kept when the sample's mean recall@10 clears the target by this many standard
#: errors of that mean (the depths are measured on one sample: two, as a confirmation asks).
MARGIN_SE = 2.0
#: Sketches are taken only when they measured at most this fraction of the graph's time (the
#: sample times both sides alike, without the rest of a search: a clear margin, not a tie).
FASTER = 0.75
#: A verdict holds while the filter's matches stay within this factor of the count it was made at.
_DRIFT = 1.25
K = 10


@dataclass(frozen=True, slots=True, weakref_slot=True)
class FilterSketch:
    """The sign sketches of one filter's matching rows."""

    slots: np.ndarray  #: ``(n,) int64`` sorted slots of the rows
    codes: np.ndarray  #: ``(n, nbytes) uint8`` their sketches (see :func:`vecnest.search.sketch.sketch`)
    centre: np.ndarray  #: ``(dim,) float32`` subtracted before the signs are taken (the segment buffer's)

    @property
    def nbytes(self) -> int:
        return int(self.slots.nbytes + self.codes.nbytes + self.centre.nbytes)


def _coded_and_scored(flat: FlatIndex, slots: np.ndarray, centre: np.ndarray, queries: np.ndarray) -> tuple[FilterSketch, np.ndarray]:
    """The sketches of rows ``slots`` against ``centre`` (what the segment's buffer codes them
    as) and their ``(q, n)`` exact scores for ``queries``, the rows read block by block from the
    segment's file (nothing else of the segment coded, nothing left resident)."""
    width = sketch.padded_bytes(flat.vectors.shape[1])
    codes = np.empty((len(slots), width), dtype=np.uint8)
    scores = np.empty((len(queries), len(slots)), dtype=np.float32)
    at = 0
    for part, vecs in blocks(flat.vectors, slots, path=flat.path):
        rows = np.asarray(vecs, dtype=np.float32)
        codes[at : at + len(part)] = sketch.sketch(rows, centre, width)
        scores[:, at : at + len(part)] = queries @ rows.T  # (cosine: unit rows, inner products)
        at += len(part)
    return FilterSketch(slots, codes, centre), scores


def eligible_depth(depth: int, n_match: int) -> bool:
    """Whether rescoring ``depth`` of ``n_match`` rows still saves enough of an exact scan."""
    return depth * MIN_SAVING <= n_match


def candidates(fs: FilterSketch, queries: np.ndarray, depth: int) -> np.ndarray:
    """``(q, depth') int64`` slots nearest each query by Hamming distance, nearest first (``-1``
    where fewer)."""
    pos = sketch.hamming_candidates(queries, fs.codes, fs.centre, depth)
    return np.where(pos >= 0, fs.slots[np.maximum(pos, 0)], -1)


def search(flat: FlatIndex, fs: FilterSketch, queries: np.ndarray, k: int, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` slots and exact scores among the ``max(depth, k)`` rows nearest by sketch."""
    return flat.rescore(queries, candidates(fs, queries, max(depth, k)), k)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a filter's own queries measured of sketches against its graph search."""

    depth: int  #: the least depth reaching the target (0: none did)
    recall: float  #: the sample's mean recall@10 at ``depth`` (at the deepest measured if none)
    sketch_ms: float  #: median per query at ``depth``
    graph_ms: float  #: median per query of the graph at the filter's learned effort
    queries: int
    matches: int  #: the filter's matches when measured (as searches rank them: the delta's too)
    #: the queries it was measured on (``(n, dim) float32``, read-only), which judge it again
    #: once the filter's matches drift past :data:`_DRIFT` (rows appended, the effort unchanged)
    sample: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: the ``(generation, version)`` of the snapshot it was judged on (``None``: not recorded)
    at: tuple[int, int] | None = field(default=None, compare=False)

    @property
    def chosen(self) -> bool:
        """Whether searches of this filter take sketches."""
        return self.depth > 0 and self.sketch_ms <= FASTER * self.graph_ms

    def holds_for(self, matches: int) -> bool:
        return self.matches / _DRIFT <= matches <= self.matches * _DRIFT

    def note(self, knob: str, effort: int) -> str:
        """The plan's reason."""
        if not self.depth:
            return "; sign sketches of the matching rows reached the target at no rescoring depth measured on this filter's queries"
        if not self.chosen:
            return (
                f"; sign sketches of the matching rows (the best {self.depth} rescored) measured {self.sketch_ms:.3f} ms "
                f"on this filter's queries vs {self.graph_ms:.3f} ms for the index: the index"
            )
        return (
            f"; ranked by sign sketches of the matching rows, the best {self.depth} rescored exactly: "
            f"recall@10 {self.recall:.3f} on this filter's last {self.queries} queries, "
            f"{self.sketch_ms:.3f} ms vs {self.graph_ms:.3f} ms for the index at {knob} {effort}"
        )


def judge(
    ann: AnnIndex,
    flat: FlatIndex,
    queries: np.ndarray,
    slots: np.ndarray,
    centre: np.ndarray,
    packed: np.ndarray,
    *,
    knob: str,
    effort: int,
    target: float,
) -> Verdict:
    """Sketches against the graph on ``queries`` (a filter's sample) over ``slots`` (its
    indexed matching rows; ``packed``: their bitmap, as the graph search reads it): the least
    depth of :data:`DEPTHS` whose recall@10 against an exact scan clears ``target`` by
    :data:`MARGIN_SE` standard errors, and the median time per query of each side."""
    # (every row read from the segment's file: judging must not leave the matches mapped)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    fs, exact = _coded_and_scored(flat, np.ascontiguousarray(slots, dtype=np.int64), centre, queries)
    want = [set(row.tolist()) for row in top_k(exact, K)[0]]  # (positions in fs.slots)
    depths = [d for d in DEPTHS if eligible_depth(d, len(slots))]
    depth, recall = 0, 0.0
    ranked = sketch.hamming_candidates(queries, fs.codes, fs.centre, depths[-1]) if depths else None
    for d in depths:
        assert ranked is not None
        cand = ranked[:, :d]
        best = np.take_along_axis(cand, top_k(np.take_along_axis(exact, np.maximum(cand, 0), axis=1), K)[0], axis=1)
        per = np.array([len(w & set(b.tolist())) / len(w) if w else 1.0 for b, w in zip(best, want, strict=True)])
        recall = float(per.mean())
        if clears(per, target, MARGIN_SE):
            depth = d
            break
    if not depth or ranked is None:
        return Verdict(0, recall, np.inf, 0.0, len(queries), len(slots))
    # timed as searches run, on a copy of the rows the sample's candidates name, :data:`_SPREAD`
    # rows apart (scattered over pages as in the segment's map, whose pages searches touch; the
    # rows between are never touched)
    used = np.unique(ranked[:, :depth])
    used = used[used >= 0]
    stride = max(1, min(_SPREAD, len(slots) // max(len(used), 1)))
    at = np.full(len(slots), -1, dtype=np.int64)
    at[used] = np.arange(len(used)) * stride
    spread = np.empty((len(used) * stride, flat.vectors.shape[1]), dtype=np.float32)
    spread[at[used]] = gather(flat.vectors, slots[used], path=flat.path)
    copy = FlatIndex(spread, None, l2=flat.l2)
    local = FilterSketch(at, fs.codes, fs.centre)  # (ranked rows -> their place in the copy)
    cache: dict[Any, Any] = {}
    sk, gr = [], []
    perf = time.perf_counter
    for rep in range(3):  # (the first round warms both)
        for i in range(len(queries)):
            q = queries[i : i + 1]
            for side in (0, 1) if (rep + i) % 2 == 0 else (1, 0):
                t0 = perf()
                if side == 0:
                    search(copy, local, q, K, depth)
                else:
                    held = ann.filtered_params(effort, packed, cache)
                    ann.search_with(q, K, held)
                    del held
                if rep:
                    (sk if side == 0 else gr).append(perf() - t0)
    return Verdict(depth, recall, float(np.median(sk)) * 1e3, float(np.median(gr)) * 1e3, len(queries), len(slots))


def default_depth(k: int) -> int:
    """The rescoring depth of a forced sketch search whose filter measured none (as the delta's)."""
    return sketch.rescore_depth(k)


# ---------------------------------------------------------------------------------------------
# the planner's side: when a filter is judged, and what its searches take
# ---------------------------------------------------------------------------------------------


def sketchable(snap: Snapshot, matches: int) -> bool:
    """Whether a filter matching ``matches`` rows of ``snap`` may be ranked by sign sketches
    (see :func:`segment_sketchable`, and :data:`MIN_MATCHES` to :data:`MAX_MATCHES` rows)."""
    return segment_sketchable(snap) and MIN_MATCHES <= matches <= MAX_MATCHES


def segment_sketchable(snap: Snapshot) -> bool:
    """Whether ``snap``'s rows may be ranked by sign sketches at all: a cosine collection with
    an index, of 64+ dimensions, whose every slot's sketches fit in
    :data:`~vecnest.search.sketch.MAX_BUFFER_BYTES` (``snap.all_sketches`` is then set),
    without compression tiers."""
    buf = snap.all_sketches
    return buf is not None and snap.tiers is None and buf.fits(snap.n_slots)


def judge_filter(
    table: FilterEfforts, snap: Snapshot, match: Match, key: str, target: float, knob: str, effort: int, queries: np.ndarray
) -> None:
    """:func:`judge` sketches against the graph on the sample that just settled this filter's
    effort (or that judged it last, its matches having drifted since), and keep the verdict, with
    the sample, in ``table``; a failure is logged and leaves the graph
    in use (an optimisation never fails the search)."""
    ann = snap.ann
    assert ann is not None
    if len(queries) < SAMPLE:  # (a filter repeating a few queries: too few to choose a depth on)
        return
    buf = snap.all_sketches
    try:
        centre = buf.centred(snap.flat.vectors, snap.n_slots)
        # (every matching row, as the searches rank them, the delta's included)
        verdict = judge(ann, snap.flat, queries, match.slots, centre, match.packed(snap.built_upto), knob=knob, effort=effort, target=target)
        if verdict.chosen:  # (its searches gather from every slot's sketches: coded now, not in them)
            buf.codes(snap.flat.vectors, 0, snap.n_slots)
    except IndexUnusable:
        raise
    except Exception:  # noqa: BLE001
        log.warning("measuring sign sketches for filter %s failed", key, exc_info=True)
        return
    sample = np.array(queries, dtype=np.float32)
    sample.flags.writeable = False
    table.keep_sketch(key, target, dataclasses.replace(verdict, sample=sample, at=(snap.generation, snap.version)))
    if verdict.chosen:  # (repeats other threads planned meanwhile, through the graph, are planned again)
        for plan_key, replay in list(snap.replays.items()):
            if getattr(replay, "match", None) is match:
                snap.replays.pop(plan_key, None)


def choice(
    snap: Snapshot, match: Match, opts: Any, key: str, knob: str, effort: int, k: int, *, forced: bool, settled: bool
) -> tuple[int, str]:
    """``(rescoring depth, note for the plan's reason)`` of a search of this filter by sign
    sketches, depth 0 where the index searches it. ``forced`` (the caller's strategy): the
    depth this filter measured, else :func:`default_depth`. By default only once the filter's
    effort is ``settled``, no effort or strategy was given (``opts``: the search options), and its queries
    measured sketches accurate and faster than the index (for ``k`` over 10, rescoring
    ``k / 10`` times the measured depth, while that saves enough of an exact scan). Kept in
    ``match.sketch_plans``."""
    ann = snap.ann
    assert ann is not None
    if not forced and (opts.strategy is not None or getattr(opts, knob) or not settled or not sketchable(snap, match.count)):
        return 0, ""
    cached = match.sketch_plans.get((opts, k))
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    target = opts.target_recall or ann.config.target_recall
    table = efforts_of(ann)
    at = (snap.generation, snap.version)
    verdict = table.sketch_verdict(key, target, match.count, at) if target else None
    if forced:
        measured = verdict.depth if verdict is not None and verdict.depth else 0
        got = (_for_k(measured, k) if measured else default_depth(k), "")
    else:
        if verdict is None and target and table.has_stale():
            verdict = _judged_again(table, snap, match, key, target, knob, effort)
        if verdict is None:
            return 0, ""  # (not measured: the index; a later snapshot may know)
        depth = _for_k(verdict.depth, k)
        chosen = verdict.chosen and eligible_depth(depth, match.count)
        got = (depth if chosen else 0, verdict.note(knob, effort) if chosen or not verdict.chosen else "")
    if len(match.sketch_plans) < 64:
        match.sketch_plans[(opts, k)] = got
    return got


def _judged_again(
    table: FilterEfforts, snap: Snapshot, match: Match, key: str, target: float, knob: str, effort: int
) -> Verdict | None:
    """A fresh verdict for a filter whose last one no longer holds (its matches drifted past
    :data:`_DRIFT`: rows were appended, while its learned effort still holds for the rows
    indexed), judged now on the sample the last one was measured on, by one caller (the others
    take the index meanwhile); ``None`` where there is none to judge again, or it failed."""
    at = (snap.generation, snap.version)
    stale = table.stale_sketch(key, target, at)
    if stale is None or stale.sample is None:
        return None
    judge_filter(table, snap, match, key, target, knob, effort, stale.sample)
    return table.sketch_verdict(key, target, match.count, at)


def _for_k(depth: int, k: int) -> int:
    """A depth measured for 10 results, for ``k`` (deeper in proportion for more)."""
    return -(-depth * max(k, K) // K)


def sketches_of(snap: Snapshot, slots: np.ndarray) -> FilterSketch:
    """The sketches of rows ``slots`` (sorted) of ``snap``, gathered from its
    :attr:`~vecnest.search.snapshot.Snapshot.all_sketches` (which codes the slots it has not
    coded yet, from the segment's file: a pass over every row must not leave them resident
    through the map)."""
    buf: SketchBuffer = snap.all_sketches
    flat = snap.flat
    slots = np.ascontiguousarray(slots, dtype=np.int64)
    codes = buf.codes(flat.vectors, 0, snap.n_slots)[slots] if len(slots) else np.empty((0, buf.nbytes), dtype=np.uint8)
    centre = buf.centre if buf.centre is not None else np.zeros(flat.vectors.shape[1], dtype=np.float32)
    codes.flags.writeable = False
    slots.flags.writeable = False
    return FilterSketch(slots, codes, centre)


def expected_bytes(snap: Snapshot, matches: int) -> int:
    """What :func:`sketches_of` holds for ``matches`` rows (codes and slots, and the centre)."""
    dim = snap.flat.vectors.shape[1]
    return matches * (sketch.padded_bytes(dim) + 8) + 4 * dim
