"""The planner's side of per-filter effort learning (see :mod:`vecnest.search.effort`): the
selectivity a filtered index search is planned by, whether its effort is proven for the filter,
the effort it searches with (learned, a raise being confirmed, or calibrated) and what the plan
says of it."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from vecnest.config import IndexKind
from vecnest.index import calibrate
from vecnest.index.ann import IndexUnusable
from vecnest.search import sketch_filter
from vecnest.search.effort import _CEILING, SAMPLE, Learned, confirm, efforts_of, measure
from vecnest.search.match import Match
from vecnest.search.options import SearchOptions, Strategy
from vecnest.search.snapshot import Snapshot

log = logging.getLogger("vecnest")


def indexed_matches(snap: Snapshot, match: Match) -> int:
    """The filter's matching rows that are in the index (not the delta)."""
    built = snap.built_upto
    return match.count - int(np.count_nonzero(match.mask[built:])) if built < snap.n_slots else match.count


def index_selectivity(snap: Snapshot, match: Match, sel: float) -> float:
    """The filter's selectivity among the index's live rows (``sel``, the overall one, where no
    rows wait in the delta): what the strategy and the effort are chosen by, as the calibration
    measured them on the index (the delta's matches are scanned exactly whichever is chosen). A
    filter whose matches are mostly rows not yet indexed (a recency window) is far more selective
    in the graph than overall: it needs a higher effort there, or none (no indexed match: exact)."""
    built = snap.built_upto
    if built >= snap.n_slots:
        return sel
    return indexed_matches(snap, match) / max(int(np.searchsorted(snap.live_slots, built)), 1)


def learn(
    snap: Snapshot, match: Match, key: str, queries: np.ndarray, knob: str, target: float, calibrated: int
) -> Learned | None:
    """What this filter's own queries measured of its effort (see :mod:`vecnest.search.effort`),
    measuring it now if ``queries`` complete the sample; ``None`` until then, and where the
    measurement failed (it never fails the search: the filter samples again)."""
    ann = snap.ann
    assert ann is not None
    table = efforts_of(ann)
    built = snap.built_upto
    indexed = indexed_matches(snap, match)
    # (``rows``: a filter's first queries, scanned exactly, must not load a lazily opened index)
    learned = table.learned(key, target, indexed, calibrated, ann.rows)
    if learned is None:
        handed = table.observe(key, target, queries)
        if handed is None:
            return None
        try:
            slots = match.slots
            args = (ann, snap.flat, handed.queries, slots[slots < built] if built < snap.n_slots else slots,
                    match.mask[:built], match.packed(built))
            cand = handed.candidate
            if cand is None or not cand.holds_for_calibrated(calibrated):
                # (a candidate measured against a quite different calibrated effort: measure afresh)
                learned = measure(*args, knob=knob, target=target, calibrated=calibrated)
            else:  # (its steps reach up from the calibrated effort of now, if that is higher)
                learned = confirm(*args, knob=knob, target=target, measured_on=handed.measured_on,
                                  candidate=dataclasses.replace(cand, calibrated=max(cand.calibrated, calibrated)))
        except IndexUnusable:  # (the index, loaded lazily, is damaged: the caller marks it, searches exactly)
            raise
        except Exception:  # noqa: BLE001 -- learning is an optimisation: the search goes on
            log.warning("measuring the search effort of filter %s failed", key, exc_info=True)
            learned = None
        finally:
            table.keep(key, target, learned, handed.queries)
        if learned is not None and learned.needs_confirming:
            return None  # (a candidate: the next queries confirm it)
        if learned is not None and learned.reached and sketch_filter.sketchable(snap, indexed):
            # (on SAMPLE of them: a verdict keeps its sample to be judged again with, for up to
            # MAX_FILTERS filters; the first sample's where the confirming one is short)
            judged_on = handed.queries
            if len(judged_on) < SAMPLE and handed.measured_on is not None and len(handed.measured_on) > len(judged_on):
                judged_on = handed.measured_on
            sketch_filter.judge_filter(table, snap, match, key, target, knob, learned.effort, judged_on[:SAMPLE])
    return learned


#: :func:`unproven`'s answers.
LEARNING, UNREACHED = "learning", "unreached"


def unproven(snap: Snapshot, match: Match, sel: float, opts: SearchOptions, queries: np.ndarray, key: str) -> str | None:
    # (``sel``: the filter's selectivity among the indexed rows, see index_selectivity)
    """Whether a filtered index search the planner chose by default is unproven here: the
    calibration did not measure it cheaper than an exact scan at this selectivity (it was chosen
    for the switch point's bias), or an exact scan is cheap enough to answer the filter's first
    queries (:data:`~vecnest.index.calibrate.LEARN_EXACT_MS`: the effort calibrated on synthetic
    masks is a guess for a real filter), and this filter's own queries have not yet measured an
    effort (:data:`LEARNING`: they are observed meanwhile) or measured none reaching the target
    (:data:`UNREACHED`); ``None`` where it is proven or not in question. Never when the caller
    forced a strategy, a switch point or an effort, nor for IVF-PQ (rescored, not learned)."""
    ann, cal = snap.ann, snap.calibration
    if ann is None or cal is None or opts.strategy is not None or opts.exact_below is not None:
        return None
    if snap.tiers is not None:  # (its "exact" scan is the compression tiers' pipeline: not in question)
        return None
    if ann.config.kind is IndexKind.IVF_PQ or (Strategy.ANN_FILTERED, opts) in match.plans:  # (settled)
        return None
    knob = "ef_search" if ann.config.kind is IndexKind.HNSW else "nprobe"
    target = opts.target_recall or ann.config.target_recall
    if getattr(opts, knob) or not target:
        return None
    if cal.index_measured_cheaper(sel) and cal.exact_ms_at(sel) > calibrate.LEARN_EXACT_MS:
        return None
    calibrated = cal.knob_for_selectivity(sel, cal.knob_for_recall(target)[0])
    learned = learn(snap, match, key, queries, knob, target, calibrated)
    if learned is None:
        return LEARNING
    return None if learned.reached else UNREACHED


def learned_effort(
    snap: Snapshot, match: Match, key: str, queries: np.ndarray, knob: str, target: float, calibrated: int
) -> tuple[int, bool, str]:
    """``(effort, settled, note for the plan's reason)`` of a filtered index search: the effort
    this filter's own queries measured (see :mod:`vecnest.search.effort`), measuring it now
    if enough of them have been seen, else the calibrated one (not settled: not cached)."""
    learned = learn(snap, match, key, queries, knob, target, calibrated)
    if learned is None:
        assert snap.ann is not None
        pending = efforts_of(snap.ann).candidate(key, target, indexed_matches(snap, match), calibrated, snap.ann.rows)
        if pending is not None and pending.effort > calibrated:  # (a raise: the calibrated effort fell short)
            return pending.effort, False, (
                f"; {knob} {pending.effort} measured on this filter's last {pending.queries} queries (recall@10 "
                f"{pending.recall:.3f}; calibrated {calibrated}), used while its next queries confirm it"
            )
        return calibrated, False, ""
    return learned.effort, True, effort_note(learned, knob, target, calibrated)


def effort_note(learned: Learned, knob: str, target: float, calibrated: int) -> str:
    """What the plan's reason says of a filter's learned effort (``calibrated``: the
    calibrated effort now, which may have moved a little since it was learned)."""
    if not learned.reached:
        return (
            f"; no {knob} up to {_CEILING}x the calibrated {calibrated} reached recall {target} on this filter's last "
            f"{learned.queries} queries: the best measured, {learned.effort} (recall@10 {learned.recall:.3f})"
        )
    if learned.confirmed and not learned.queries:
        kept = f"the calibrated {learned.effort}" if learned.effort <= learned.calibrated else f"the measured {learned.effort}"
        return (
            f"; the {knob} {learned.measured or learned.effort} measured on this filter's queries could not be confirmed "
            f"(its later queries repeat the first ones): {kept}"
        )
    checked = "confirmed on" if learned.confirmed else "measured on"
    stepped = ""
    if learned.confirmed and 0 < learned.measured < learned.effort:
        stepped = f"stepped up from the measured {learned.measured}; "
    elif learned.confirmed and learned.effort < learned.measured:
        stepped = f"below the measured {learned.measured}; "
    return (
        f"; {knob} {learned.effort} {checked} this filter's last {learned.queries} queries "
        f"({stepped}recall@10 {learned.recall:.3f}; calibrated {calibrated})"
    )
