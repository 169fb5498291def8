"""Replays: repeats of a search whose plan was one index call or one exact scan run it directly,
without planning (the hot path of repeated searches). Kept per snapshot (see
``Snapshot.replays``), which a write replaces; :func:`replayable` decides from a plan that
:func:`~vecnest.search.planner.execute` just ran whether its repeats may skip it, and every
replay returns what ``execute`` would for that plan (or ``None``: take the full path)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vecnest.config import IndexKind
from vecnest.index.ann import AnnIndex
from vecnest.index.flat import FlatIndex
from vecnest.search.delta import merge, precise_delta, search_delta
from vecnest.search.planner import Plan, SearchOptions, Strategy
from vecnest.search.sketch_filter import FilterSketch
from vecnest.search.sketch_filter import search as sketch_search
from vecnest.search.match import Match
from vecnest.search.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class Delta:
    """The rows appended since the index was built (its delta) that a replayed index search
    merges in, as the planner does (see :mod:`vecnest.search.delta`)."""

    flat: FlatIndex
    sketches: Any
    lo: int
    hi: int
    slots: np.ndarray  #: the delta rows the search may return (sorted slots in ``[lo, hi)``)
    precise: bool

    def merged(self, found: tuple[np.ndarray, np.ndarray], queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``found`` (the index's answer) merged with this delta's top-``k``."""
        if not len(self.slots):
            return found
        rest, _ = search_delta(self.flat, self.sketches, self.lo, self.hi, queries, k, self.slots, self.precise)
        slots, scores = merge(found, rest, k)
        return (slots[:, :k], scores[:, :k]) if slots.shape[1] > k else (slots, scores)


@dataclass(frozen=True, slots=True)
class Replay:
    """A repeated unfiltered search whose plan was one search of an index holding every live
    row it was built on (no deletion bitmap): that call (an IVF-PQ index's candidates rescored
    exactly by ``rescore``), merged with the rows appended since (``delta``) if any."""

    ann: AnnIndex
    effort: int
    delta: Delta | None = None
    rescore: FlatIndex | None = None

    def run(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Slots and scores, as :func:`execute` would return them for this plan."""
        if self.rescore is None:
            found = self.ann.search_unfiltered(queries, k, self.effort)
        else:
            fetch = k * self.ann.config.rescore_multiplier  # (as the planner: candidates, rescored)
            found = self.rescore.rescore(queries, self.ann.search_unfiltered(queries, fetch, self.effort)[0], k)
        return found if self.delta is None else self.delta.merged(found, queries, k)


@dataclass(frozen=True, slots=True)
class ExactReplay:
    """A repeated filtered search whose plan was an exact scan of the matching rows (their
    gathered block, once the first search kept it): the scan itself, without planning."""

    flat: FlatIndex
    match: Match

    def run(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Slots and scores, as :func:`execute` would return them for this plan."""
        return self.flat.search(queries, k, self.match)


@dataclass(frozen=True, slots=True)
class FilteredReplay:
    """A repeated filtered search whose plan was one index search under the filter's bitmap
    (the bitmap holds live rows only): that call, with the match's cached selector (an IVF-PQ
    index's candidates rescored exactly by ``rescore``), merged with the matching rows appended
    since the index was built (``delta``) if any. A query whose search runs out of matching
    neighbours returns ``None`` (the full path widens it, or completes it exactly)."""

    ann: AnnIndex
    match: Match
    knob: str
    effort: int
    delta: Delta | None = None
    rescore: FlatIndex | None = None

    def run(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Slots and scores, as :func:`execute` would return them for this plan, or ``None``."""
        m = self.match
        ann = self.ann
        packed = m.packed(len(m.mask))
        effort = max(self.effort, k) if self.knob == "ef_search" else self.effort  # as AnnIndex.search
        held = ann.filtered_params(effort, packed, m.params)  # (params, selector, bits): alive until done
        if self.rescore is None:
            found = ann.search_with(queries, k, held)
        else:
            found = self.rescore.rescore(queries, ann.search_with(queries, k * ann.config.rescore_multiplier, held)[0], k)
        del held, packed
        if self.delta is not None:  # (merged first: the delta may complete a short walk, as in execute)
            found = self.delta.merged(found, queries, k)
        slots = found[0]
        if m.count >= k and ((slots.item(k - 1) < 0) if len(slots) == 1 else (slots[:, -1] < 0).any()):
            return None
        return found


@dataclass(frozen=True, slots=True)
class SketchReplay:
    """A repeated filtered search whose plan ranked the matching rows by their kept sign
    sketches and rescored the best ``depth`` (see :mod:`vecnest.search.sketch_filter`)."""

    flat: FlatIndex
    match: Match  #: (its kept sketches are read at each run: a match leaving the cache drops them)
    depth: int

    def run(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Slots and scores, as :func:`execute` would return them for this plan, or ``None``."""
        kept: FilterSketch | None = self.match.sketch
        if kept is None:
            return None
        return sketch_search(self.flat, kept, queries, k, self.depth)


def replayable(
    snap: Snapshot, plan: Plan, match: Match | None = None, opts: SearchOptions | None = None
) -> Replay | ExactReplay | FilteredReplay | SketchReplay | None:
    """The replay of ``plan`` if repeats of it may skip planning (one plain index search, or,
    given the filter's ``match``, one exact scan of its rows or one filtered index search; an
    index search merged with the rows not in the index yet), else ``None``."""
    ann = snap.ann
    if match is not None and plan.strategy is Strategy.SKETCH_FILTERED:
        kept = match.sketch  # (the sketches the plan ranked, kept with the match)
        if plan.n_matching != match.count or kept is None or len(kept.slots) != match.count:
            return None
        return SketchReplay(snap.flat, match, int(plan.knob["rescore_depth"]))
    if match is not None and plan.strategy in (Strategy.EXACT_FILTERED, Strategy.ANN_FILTERED):
        if plan.n_matching != match.count or not match.count:
            return None
        if plan.strategy is Strategy.EXACT_FILTERED:  # (a provisional one: until the index is proven)
            return ExactReplay(snap.flat, match) if snap.tiers is None and not plan.provisional else None
        if (
            ann is not None
            and len(plan.knob) == 1
            and (Strategy.ANN_FILTERED, opts) in match.plans  # its effort is settled
        ):
            ((knob, effort),) = plan.knob.items()
            delta, ok = _delta(snap, plan, match.mask, opts)
            return FilteredReplay(ann, match, knob, int(effort), delta, _rescorer(snap, ann)) if ok else None
        return None
    if (
        plan.strategy is not Strategy.ANN
        or plan.n_matching < plan.n_live  # (a forced plain index search under a filter: filtered by mask)
        or ann is None
        or not snap.indexed_all_live
        or len(plan.knob) != 1
    ):
        return None
    delta, ok = _delta(snap, plan, snap.alive, opts)
    return Replay(ann, next(iter(plan.knob.values())), delta, _rescorer(snap, ann)) if ok else None


def _rescorer(snap: Snapshot, ann: AnnIndex) -> FlatIndex | None:
    """What rescores the index's candidates (IVF-PQ: the exact vectors), else ``None``."""
    return snap.flat if ann.config.kind is IndexKind.IVF_PQ else None


def _delta(snap: Snapshot, plan: Plan, allowed: np.ndarray, opts: SearchOptions | None) -> tuple[Delta | None, bool]:
    """``(the delta a replay of plan merges in or None, whether it can be replayed)``: the
    rows of ``allowed`` past the index, searched as the planner did (precise when the caller
    gave an effort or asked for more than the default recall)."""
    lo, hi = snap.built_upto, snap.n_slots
    if plan.delta_rows != hi - lo:
        return None, False
    if not plan.delta_rows:
        return None, True
    if opts is None or snap.ann is None:
        return None, False
    knob = "ef_search" if snap.ann.config.kind is IndexKind.HNSW else "nprobe"
    target = opts.target_recall or snap.ann.config.target_recall
    slots = lo + np.flatnonzero(allowed[lo:hi])
    return Delta(snap.flat, snap.sketches, lo, hi, slots, precise_delta(getattr(opts, knob), target)), True
