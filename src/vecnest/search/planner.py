"""The filter-aware planner: pick a strategy per query batch from the filter's selectivity.

Strategies (see :class:`Strategy`): an exact scan of all rows or of the matching rows only; the
approximate index restricted by the filter bitmap, with ``ef_search``/``nprobe`` raised as the
selectivity falls; or post-filtering an oversampled unfiltered index search, with retries when
too few results pass. The switch points come from the index's build-time calibration
(:mod:`vecnest.index.calibrate`) and can be overridden per search. Rows appended since the last
index build (the delta) are always scanned exactly and merged in; deleted rows never come back.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vecnest import filter as vfilter
from vecnest._threads import PARALLEL_MIN_QUERIES
from vecnest.config import IndexKind
from vecnest.index.ann import IndexUnusable
from vecnest.kernels.distance import top_k
from vecnest.search import learned as learning
from vecnest.search import sketch_filter
from vecnest.search.delta import merge, precise_delta, search_delta
from vecnest.search.options import SearchOptions, Strategy
from vecnest.search.snapshot import Reader, Snapshot
from vecnest.search.warn import warn_now
from vecnest.search.widen import widening

_MAX_RETRIES = 3


@dataclass(slots=True)
class Plan:
    """What a search did, returned with ``explain=True``.

    A plain slotted dataclass (every search makes one; a frozen one costs 6x more to build).

    Attributes:
        strategy: the strategy used.
        reason: why the planner chose it.
        n_live: documents in the collection.
        n_matching: documents matching the filter (counted from the filter bitmap).
        estimated_selectivity: ``n_matching / n_live``: what the planner decided on (while rows
            wait in the exact delta, on the filter's selectivity among the indexed rows: the
            reason says it where the two differ).
        actual_selectivity: for post-filtering, the fraction of index candidates that passed the
            filter (the selectivity seen near the query); else ``None``.
        knob: the effort used (``ef_search`` or ``nprobe``), if an index was searched.
        delta_rows: rows scanned exactly because they are not in the index yet.
        candidates_visited: distance computations (index + exact scan).
        retries: post-filter retries with a larger oversampling, or the times a filtered index
            search searched the queries it left short again at a raised effort.
        timings_ms: time per stage.
    """

    strategy: Strategy
    reason: str
    n_live: int
    n_matching: int
    estimated_selectivity: float
    actual_selectivity: float | None
    knob: dict[str, int]
    delta_rows: int
    candidates_visited: int
    retries: int
    timings_ms: dict[str, float] = field(default_factory=dict)
    provisional: bool = False
    #: hybrid/lexical searches: the mode, the fusion weights and each hit's ranks and scores
    #: on each side (see ``vecnest.search.ranked.explain_hits``)
    hybrid: dict[str, Any] | None = None
    #: exact strategies over compression tiers: each stage (tier, RAM or disk, rows in and
    #: out, milliseconds)
    tiers: list[dict[str, Any]] | None = None


def keep_latest(kept: dict[Any, Any], key: Any, value: Any, limit: int) -> None:
    """``kept[key] = value``, dropping the oldest entries beyond ``limit`` (a cache of plans
    keeps an application's latest ones, rather than its first ``limit`` forever). Searches in
    other threads may read and add meanwhile: each step is one dictionary operation."""
    kept[key] = value
    while len(kept) > limit:
        try:
            kept.pop(next(iter(kept)), None)
        except (StopIteration, RuntimeError):  # emptied or changed by another thread: done
            break


def _choose(
    snap: Snapshot, filtered: bool, sel: float, opts: SearchOptions
) -> tuple[Strategy, str]:
    if opts.strategy is not None:
        if snap.ann is None and opts.strategy not in (Strategy.EXACT, Strategy.EXACT_FILTERED):
            return (Strategy.EXACT_FILTERED if filtered else Strategy.EXACT), "no index built yet: exact"
        if opts.strategy is Strategy.SKETCH_FILTERED and not sketch_filter.segment_sketchable(snap):
            if snap.sketch_problem is not None and snap.tiers is None:  # (approximate was asked for: the index)
                return (Strategy.ANN_FILTERED if filtered else Strategy.ANN), f"sign sketches asked for, but {snap.sketch_problem}: the index"
            why = "sign sketches rank a cosine collection of 64+ dimensions without compression tiers only: exact"
            return (Strategy.EXACT_FILTERED if filtered else Strategy.EXACT), why
        return opts.strategy, "forced by the caller"
    if snap.ann is None:
        reason = "no approximate index (kind exact, or fewer rows than min_rows)"
        return (Strategy.EXACT_FILTERED if filtered else Strategy.EXACT), reason
    cal = snap.calibration
    exact_below = opts.exact_below if opts.exact_below is not None else (cal.exact_below if cal else 0.01)
    post_above = opts.post_filter_above if opts.post_filter_above is not None else (cal.post_filter_above if cal else 1.1)
    if not filtered:
        if exact_below > 1.0:
            return Strategy.EXACT, "calibration: an exact scan beats the index at this size"
        return Strategy.ANN, "no filter"
    if sel < exact_below:
        return Strategy.EXACT_FILTERED, f"selectivity {sel:.4f} < exact_below {exact_below:.4f}"
    if sel >= post_above:
        return Strategy.POST_FILTER, f"selectivity {sel:.4f} >= post_filter_above {post_above:.4f}"
    return Strategy.ANN_FILTERED, f"exact_below {exact_below:.4f} <= selectivity {sel:.4f} < post_filter_above {post_above:.4f}"


def _nlist(ann: Any) -> int:
    return int(getattr(ann.index, "nlist", 0) or 0)


def execute(
    snap: Snapshot,
    queries: np.ndarray,
    k: int,
    node: vfilter.Node,
    read: Reader,
    opts: SearchOptions,
    *,
    explain: bool = True,
    key: str | None = None,
) -> tuple[np.ndarray, np.ndarray, Plan]:
    """Run one batch of queries; returns slots, scores (``-1``/``-inf`` padded) and the plan.

    ``explain=False`` skips what only the plan reports (FAISS's distance-computation counters),
    so ``candidates_visited`` counts the exact scans alone. ``key``: ``repr(node)`` if the
    caller has it (the filter's cache key).
    """
    perf = time.perf_counter
    t0 = perf()
    filtered = not isinstance(node, vfilter.TrueFilter)
    match = snap.match(node, read, key)
    allowed, n_match = match.mask, match.count
    timings = {"filter_ms": (perf() - t0) * 1000}
    n_live = snap.n_live
    keeps_all = filtered and n_match == n_live
    if keeps_all:  # the filter keeps every document: search as if unfiltered
        filtered = False
    sel = n_match / max(n_live, 1)
    gsel = learning.index_selectivity(snap, match, sel) if filtered and snap.ann is not None else sel
    strategy, reason = _choose(snap, filtered, gsel, opts)
    if gsel != sel and opts.strategy is None:
        reason = reason.replace("selectivity", f"selectivity among the indexed rows ({sel:.4f} overall)", 1)
    provisional = False
    if strategy is Strategy.ANN_FILTERED:
        unproven = learning.unproven(snap, match, gsel, opts, queries, key or repr(node))
        if unproven is not None:
            # inside the bias of the switch point, the index is taken for being cheaper in real
            # workloads than the calibration measured, at an effort calibrated on synthetic masks;
            # where it did not even measure cheaper, its recall on this filter is a guess until the
            # filter's own queries have measured it: exact meanwhile (such plans are not replayed),
            # and for good where no effort of the ladder reached the target
            strategy, provisional = Strategy.EXACT_FILTERED, unproven is learning.LEARNING
            assert snap.calibration is not None
            reason += (
                ("; but the filtered index measured no cheaper than an exact scan at this selectivity and "
                 if not snap.calibration.index_measured_cheaper(gsel) else
                 "; but its effort is calibrated on synthetic filters, an exact scan is cheap here, and ")
                + ("this filter's effort is not learned yet: exact" if provisional else
                   "no effort measured on this filter's queries reached the target: exact")
            )
    if keeps_all:
        reason = f"the filter matches all {n_live} documents, so it is skipped; {reason}"
    visited, retries, actual, knob = 0, 0, None, {}

    t0 = time.perf_counter()
    if strategy in (Strategy.EXACT, Strategy.EXACT_FILTERED) or n_match == 0:
        cand = match if (filtered or snap.n_live < snap.n_slots) else None
        trace: list[Any] | None = [] if explain else None
        if snap.tiers is not None:  # the compression tiers: codes in RAM, rescored from disk
            slots, scores = snap.tiers.search(
                queries, k, cand, rescore_multiplier=opts.rescore_multiplier, tiers=opts.tiers, trace=trace
            )
        else:
            # (a bridge while the filter's effort is learned stands in for the index: transient)
            slots, scores = snap.flat.search(queries, k, cand, transient=provisional)
            if snap.tier_problem:
                reason += f"; {snap.tier_problem}"
        visited = len(queries) * (n_match if cand is not None else snap.n_slots)
        timings["exact_ms"] = (time.perf_counter() - t0) * 1000
        plan = Plan(strategy, reason, snap.n_live, n_match, sel, None, {}, 0, visited, 0, timings, provisional)
        if trace:
            plan.tiers = [
                {"tier": t.tier, "where": t.where, "rows_in": t.rows_in, "rows_out": t.rows_out, "ms": round(t.ms, 4)}
                for t in trace
            ]
        return slots, scores, plan

    ann = snap.ann
    assert ann is not None
    cal = snap.calibration
    knob_name = "ef_search" if ann.config.kind is IndexKind.HNSW else "nprobe"
    decided, note = match.plans.get((strategy, opts), (None, ""))
    if decided is None:
        target = opts.target_recall or ann.config.target_recall
        decided = getattr(opts, knob_name) or (
            cal.knob_for_recall(target)[0] if (target and cal) else getattr(ann.config, knob_name)
        )
        settled = True
        if strategy is Strategy.ANN_FILTERED and cal is not None and not getattr(opts, knob_name):
            # measured under clustered filter masks (the hard case), interpolated to this selectivity,
            # until this filter's own queries have measured what it needs (see search.effort)
            decided = cal.knob_for_selectivity(gsel, decided)
            if target and ann.config.kind is not IndexKind.IVF_PQ:  # (PQ: rescored candidates, not learned)
                decided, settled, note = learning.learned_effort(snap, match, key or repr(node), queries, knob_name, target, decided)
        if settled:
            keep_latest(match.plans, (strategy, opts), (decided, note), 32)
            if strategy is Strategy.ANN_FILTERED:
                # (the rows its exact scans gathered while it was learned go back to the snapshot's
                # budget for filters that stay exact)
                match.release()
    reason += note
    forced = strategy is Strategy.SKETCH_FILTERED
    if forced or (strategy is Strategy.ANN_FILTERED and len(queries) < PARALLEL_MIN_QUERIES):
        # (a batch takes the index: sketches are for one query or a few at a time)
        settled = (Strategy.ANN_FILTERED, opts) in match.plans
        depth, snote = sketch_filter.choice(snap, match, opts, key or repr(node), knob_name, int(decided), k, forced=forced, settled=settled)
        t0 = time.perf_counter()
        fs = None
        try:
            fs = match.sketched(lambda rows: sketch_filter.sketches_of(snap, rows), sketch_filter.expected_bytes(snap, n_match)) if depth else None
            if fs is None and forced:  # (no room in the snapshot's budget: for this search alone)
                fs = sketch_filter.sketches_of(snap, match.slots)
        except IndexUnusable:
            raise
        except Exception:  # (the segment's file unreadable, no memory for the codes: the index answers, unless sketches were asked for)
            if forced:
                raise
            warn_now("coding sign sketches failed; searching the index")
            depth, snote = 0, ""
            if len(match.sketch_plans) < 64:  # (this snapshot's next searches of the filter take the index at once)
                match.sketch_plans[(opts, k)] = (0, "")
        if fs is not None:
            reason += snote
            slots, scores = sketch_filter.search(snap.flat, fs, queries, k, depth)
            timings["sketch_ms"] = (time.perf_counter() - t0) * 1000
            visited = len(queries) * min(depth, n_match)  # (rows scored exactly)
            delta_rows = snap.n_slots - snap.built_upto
            plan = Plan(Strategy.SKETCH_FILTERED, reason, n_live, n_match, sel, None, {"rescore_depth": depth}, delta_rows, visited, 0, timings)
            return slots, scores, plan
        if depth:
            reason += "; sign sketches measured faster on this filter's queries, but the snapshot's budget cannot keep them"
        elif snote:
            reason += snote
    base = decided
    knob = {knob_name: int(base)}
    pq = ann.config.kind is IndexKind.IVF_PQ
    fetch = k * ann.config.rescore_multiplier if pq else k
    indexed = allowed[: snap.built_upto]
    if filtered:  # (a pass over the mask only when the filter could keep every indexed row)
        all_indexed_live = n_match >= snap.built_upto and bool(indexed.all())
    else:
        all_indexed_live = snap.indexed_all_live

    if strategy is Strategy.POST_FILTER:
        live_idx = snap.alive[: snap.built_upto]
        kk = min(int(math.ceil(fetch / max(gsel, 1e-9) * 1.5)), snap.n_live)
        while True:
            eff = max(base, 2 * kk) if knob_name == "ef_search" else base
            raw, raw_scores, v = ann.search(
                queries, kk, allowed=None if live_idx.all() else live_idx, count=explain, **{knob_name: eff}
            )
            visited += v
            ok = (raw >= 0) & allowed[np.maximum(raw, 0)]
            enough = ok.sum(axis=1).min() >= min(fetch, n_match)
            if enough or retries >= _MAX_RETRIES or kk >= snap.n_live:
                break
            retries += 1
            kk = min(kk * 2, snap.n_live)
        returned = int((raw >= 0).sum())
        actual = float(ok.sum() / returned) if returned else 0.0
        knob = {knob_name: int(eff), "oversampled_k": int(kk)}
        scores_pf = np.where(ok, raw_scores, -np.inf).astype(np.float32)
        idx, best = top_k(scores_pf, fetch)
        ann_slots = np.take_along_axis(raw, idx, axis=1)
        ann_slots[~np.isfinite(best)] = -1
        ann_res = (ann_slots, best)
    else:
        graph_args = dict(
            allowed=None if all_indexed_live else indexed, count=explain,
            packed=match.packed(snap.built_upto) if not all_indexed_live else None, cache=match.params,
        )
        ann_slots, ann_scores, v = ann.search(queries, fetch, **graph_args, **{knob_name: int(base)})
        visited += v
        ann_res = (ann_slots, ann_scores)
    timings["ann_ms"] = (time.perf_counter() - t0) * 1000

    if pq:  # rescore the candidates with the exact float32 vectors
        t0 = time.perf_counter()
        ann_res = snap.flat.rescore(queries, ann_res[0], k)
        timings["rescore_ms"] = (time.perf_counter() - t0) * 1000

    delta_rows = snap.n_slots - snap.built_upto
    found = None
    if delta_rows:
        t0 = time.perf_counter()
        delta = snap.built_upto + np.flatnonzero(allowed[snap.built_upto :])
        visited += len(queries) * len(delta)
        if len(delta):
            target = opts.target_recall or ann.config.target_recall
            precise = precise_delta(getattr(opts, knob_name), target)
            found, note = search_delta(snap.flat, snap.sketches, snap.built_upto, snap.n_slots, queries, k, delta, precise)
            ann_res = merge(ann_res, found, k)
            reason += note
        timings["delta_ms"] = (time.perf_counter() - t0) * 1000
    slots, scores = ann_res
    if slots.shape[1] > k:
        slots, scores = slots[:, :k], scores[:, :k]
    if strategy is Strategy.ANN_FILTERED and n_match >= k and (slots < 0).any():
        # the graph ran out of matching neighbours: search those queries again at twice the
        # effort while that is estimated cheaper than an exact scan of the matches (see
        # search.widen), then finish what is still short exactly
        t0 = time.perf_counter()
        short = np.flatnonzero((slots < 0).any(axis=1))
        start = max(int(base), fetch) if knob_name == "ef_search" else int(base)  # (as AnnIndex.search)
        raised = start
        n_indexed = int(np.count_nonzero(indexed))  # (the matches the index holds, as effort learning counts them)
        for effort in widening(knob_name, start, n_match=n_indexed, m=ann.config.m, nlist=_nlist(ann)):
            if not len(short):
                break
            retries += 1
            raised = effort
            again, again_scores, v = ann.search(queries[short], fetch, **graph_args, **{knob_name: effort})
            visited += v
            redo = snap.flat.rescore(queries[short], again, k) if pq else (again, again_scores)
            if found is not None:  # (the delta's matches: disjoint from the index's)
                redo = merge(redo, (found[0][short], found[1][short]), k)
            slots[short], scores[short] = redo[0][:, :k], redo[1][:, :k]
            short = short[(slots[short] < 0).any(axis=1)]
        if retries:
            reason += f"; {knob_name} raised to {raised} for the queries the index left short"
            timings["widen_ms"] = (time.perf_counter() - t0) * 1000
        if len(short):
            t0 = time.perf_counter()
            exact_slots, exact_scores = snap.flat.search(queries[short], k, match, transient=True)
            slots[short], scores[short] = exact_slots, exact_scores
            reason += f"; {len(short)} query(s) completed exactly"
            timings["exact_fallback_ms"] = (time.perf_counter() - t0) * 1000
    return slots, scores, Plan(strategy, reason, snap.n_live, n_match, sel, actual, knob, delta_rows, visited, retries, timings)
