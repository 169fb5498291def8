"""Per-filter search effort, learned from the queries an application actually sends.

The build-time calibration (:mod:`vecnest.index.calibrate`) picks a filtered search's effort from
the filter's selectivity alone, measured under synthetic masks whose matches cluster in vector
space: the hard case, so it has to be generous (74k arXiv titles: ``ef_search`` 132 at 15 %
where the real predicate reaches recall@10 0.95 at 96; 58 at 50 % where 32 does). Applications
repeat their filters (a tenant, a category, a date window), so the first :data:`SAMPLE` distinct
queries searched with one filter are kept, and the search that completes the sample measures, on
those queries, the recall@10 of the ladder's efforts against an exact scan of the filter's
matching rows (bisection: 3-5 measurements), and keeps the least effort whose mean recall clears
the target by :data:`MARGIN_SE` standard errors of that mean (at most the margin a filtered
calibration asks for). A filter that repeats a few queries (fewer than :data:`SAMPLE` distinct
ones in its first :data:`PATIENCE` queries) is measured on those it has, so learning never stalls
(its search would otherwise be planned in full, not replayed, for good). Safeguards: the learned
effort is never below :data:`FLOOR` × the calibrated one, nor below the calibrated one when
measured on fewer than :data:`SAMPLE` distinct queries (a sample that is not representative
cannot take the effort down far, or at all); what a full sample measured, lower, equal to or
higher than the calibrated effort, is only a candidate until the filter's next
:data:`CONFIRM_SAMPLE` distinct queries (none of the first sample's) confirm it
(:data:`CONFIRM_SE`): the first effort from the ladder's step below it upwards, the efforts
halfway between the ladder's steps included (up to :data:`_CEILING` × the calibrated effort), that
clears the bar on them pooled with the first sample, else no effort reached the target (the least passing step of a bisection is the one whose sample was luckiest: on its own,
the rule let 1M arXiv chunks at 50 % down to recall@10 0.936 on the queries it had not seen; and
a calibrated effort or a raise adopted on one sample missed the target in 3-15 % of resampled
draws where the calibration was a step short; while a raise waits, its searches use it); it
holds only while the filter matches about as many indexed rows as when it was
measured, the index holds about as many rows and its calibration gives the filter about the same
calibrated effort (else the filter learns again); it is kept per index lineage (a merge's new
index file inherits what its predecessor learned and the candidates it was confirming, whether
or not the merge re-measured the calibration: the same graph, grown; a rebuild is a new graph
and learns again), filter and target. Until then the calibrated effort is used. The searches that measure pay
for it, once per filter (74k rows, on the 32 + 32 queries of an earlier release: ~0.1-0.2 s and
~0.02-0.05 s; the samples of 64 + 128, and a confirmation that tries the efforts above the
candidate too, halfway steps included, each judged on the 192 queries of both, cost about two and
six to twelve times that, not re-measured).
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vecnest.index.ann import AnnIndex
from vecnest.index.calibrate import _LADDER, K, half_miss_rate
from vecnest.index.flat import FlatIndex
from vecnest.search.widen import widening

#: Distinct queries kept per filter before its effort is measured (64: the 1-SE margin of a
#: 32-query sample, ~0.013 of recall@10, landed the learned effort ~1.5 ladder steps above what
#: the filter needs; see ``benchmarks/effort_learning.py``).
SAMPLE = 64
#: Fresh distinct queries that confirm (or correct) what a sample measured.
CONFIRM_SAMPLE = 2 * SAMPLE
#: Queries (repeats included) a filter is observed for before it is measured on the distinct
#: ones it has, however few.
PATIENCE = 4 * SAMPLE
#: Filters one index keeps learned efforts for, least recently used out...
MAX_FILTERS = 256
#: ... and, apart from those, filters it keeps samples for (at most ``(SAMPLE + CONFIRM_SAMPLE) ×
#: dim × 4`` bytes each: 384 dimensions, 36 MiB when every one of them is mid-sample)...
MAX_SAMPLING = 128
#: ... and filters it counts the queries of (a sample evicted by more filters in rotation than
#: it keeps samples for is started again with its count: the filter is measured on what it
#: has once the count reaches :data:`PATIENCE`, so learning settles however many filters rotate).
MAX_COUNTED = 4096
#: Sketch verdicts kept per index with their samples (``SAMPLE × dim × 4`` bytes each) are at
#: most :data:`MAX_FILTERS`, and at most this many more wait to be judged again (see
#: ``FilterEfforts.stale_sketch``).
MAX_STALE = 64
#: The ladder is searched up to this many times the calibrated effort...
_CEILING = 4
#: ... and down to this fraction of it.
FLOOR = 0.5
#: An effort is kept when the sample's mean recall@10 is at least the target plus this many
#: standard errors of that mean (32 queries: ~0.01; two would cost about one step of the ladder
#: more on 74k arXiv titles, where the calibrated effort is already that step above).
MARGIN_SE = 1.0
#: A candidate is confirmed when the mean recall@10 of the fresh sample pooled with the first is
#: at least the target plus this many standard errors; the ladder's step below it is tried first,
#: then the efforts up from there, halfway steps included (see :func:`confirm_steps`). The first
#: sample chose the candidate, so alone it would flatter it; pooled, the step below (which the
#: first sample failed) is judged on the same queries first. The bound that argument gives holds
#: per step, not for the whole confirmation: the halfway step between the step below and the
#: candidate was never measured on the first sample, so some of that sample's luck at the
#: candidate carries over to it, and more steps near the target each get a chance to pass; the
#: replay measures what that costs in misses. Replayed on 2,000 resampled pairs of a 64-query and a 128-query sample of 500 held-out
#: queries per case (arXiv 75k titles and 1M chunks at 15 / 50 / 100 %, calibrated a step short of
#: the need to two steps over): ``benchmarks/effort_learning.py`` reports how often the learned
#: effort's recall on all 500 fell below 0.95 and its mean cost: at most 0.3 % of draws, at 1.28×
#: the least ladder step reaching 0.95 (the ladder's steps alone: 0.15 %, 1.41×; the fresh sample
#: alone, on them: 0.2 %, 1.49×).
CONFIRM_SE = 2.0
#: A learned effort holds while the filter's indexed matches stay within this factor of the
#: count it was measured at.
_DRIFT = 1.25
#: Queries whose cosine with a kept one exceeds this are the same query (retries, health checks).
_SAME = 0.999


@dataclass(frozen=True, slots=True)
class Learned:
    """A filter's effort measured on its own queries."""

    effort: int
    recall: float  #: mean recall@10 of the sample at that effort
    queries: int  #: sample size
    matches: int  #: indexed rows the filter matched when measured
    reached: bool = True  #: whether ``recall`` cleared the target (else: the best measured step)
    calibrated: int = 0  #: the calibrated effort it was measured against
    confirmed: bool = False  #: whether fresh queries confirmed it (what a full sample measured)
    measured: int = 0  #: confirmed: the candidate the first sample measured (0: none recorded)
    indexed: int = 0  #: rows in the index (its graph) when measured (0: not recorded)

    def holds_for(self, matches: int) -> bool:
        """Whether this still describes a filter matching ``matches`` indexed rows."""
        return self.matches / _DRIFT <= matches <= self.matches * _DRIFT

    def holds_for_index(self, indexed: int) -> bool:
        """Whether an index of ``indexed`` rows is about the one this was measured on (within
        :data:`_DRIFT`: a merge that grew the graph further, with rows the filter does not
        match, lowers its selectivity without moving its match count)."""
        return not self.indexed or self.indexed / _DRIFT <= indexed <= self.indexed * _DRIFT

    def holds_for_calibrated(self, calibrated: int) -> bool:
        """Whether a calibrated effort of ``calibrated`` is about the one this was measured
        against (within :data:`_DRIFT`: the selectivity moved, not the calibration)."""
        return self.calibrated / _DRIFT <= calibrated <= self.calibrated * _DRIFT

    @property
    def needs_confirming(self) -> bool:
        """Whether this is a candidate its filter's next queries must confirm first: an effort
        that reached the target on a full sample, not yet confirmed (a measurement on fewer
        queries, a filter repeating them, is of the queries it sends: never below the
        calibrated effort, and nothing fresh would confirm it)."""
        return self.reached and not self.confirmed and self.queries >= SAMPLE


@dataclass(frozen=True, slots=True)
class Handover:
    """Queries handed to one caller to measure: the first sample (``candidate`` ``None``:
    :func:`measure` it) or the fresh sample confirming a candidate (:func:`confirm` it)."""

    queries: np.ndarray
    candidate: Learned | None = None
    #: confirming: the queries the candidate was measured on (``None``: not kept)
    measured_on: np.ndarray | None = None


class FilterEfforts:
    """The efforts learned for one index, by ``(filter key, target recall)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._learned: OrderedDict[tuple[str, float], Learned] = OrderedDict()
        #: per filter being sampled: the distinct queries kept
        self._samples: OrderedDict[tuple[str, float], list[np.ndarray]] = OrderedDict()
        #: per filter not learned yet: the queries observed
        self._seen: OrderedDict[tuple[str, float], int] = OrderedDict()
        self._measuring: set[tuple[str, float]] = set()
        #: per filter whose measured effort awaits confirmation: the candidate and the queries
        #: it was measured on (a confirming sample never repeats them)
        self._candidates: OrderedDict[tuple[str, float], tuple[Learned, list[np.ndarray]]] = OrderedDict()
        #: per filter whose effort is learned: what its sample measured of sign sketches
        #: against the graph (a ``vecnest.search.sketch_filter.Verdict``)
        self._sketches: OrderedDict[tuple[str, float], Any] = OrderedDict()
        #: per filter whose verdict no longer holds for its matches: that verdict (its sample)
        self._stale: OrderedDict[tuple[str, float], Any] = OrderedDict()

    def sketch_verdict(self, key: str, target: float, matches: int, at: tuple[int, int] | None = None) -> Any | None:
        """The sketches' verdict for this filter and target, if it still holds for a filter
        matching ``matches`` indexed rows. One that no longer holds is set aside to be judged
        again (see :meth:`stale_sketch`), unless the caller's snapshot (its ``(generation,
        version)`` ``at``) is older than the one the verdict was judged on: that caller takes the
        index and the verdict stays (CHANGES: threads on snapshots before and after a large
        write re-judged the filter in turn, each at its own match count)."""
        k = (key, target)
        with self._lock:
            got = self._sketches.get(k)
            if got is None:
                return None
            if not got.holds_for(matches):
                judged_at = getattr(got, "at", None)
                if at is not None and judged_at is not None and at < judged_at:
                    return None
                del self._sketches[k]
                self._stale[k] = (got, at)  # (judged again on its sample: see stale_sketch)
                while len(self._stale) > MAX_STALE:
                    self._stale.popitem(last=False)
                return None
            self._sketches.move_to_end(k)
            return got

    def candidate(
        self, key: str, target: float, matches: int, calibrated: int | None = None, indexed: int | None = None
    ) -> Learned | None:
        """The candidate this filter's next queries are confirming (or are being measured to
        confirm), if it holds as :meth:`learned` would judge a learned effort (a raise is
        searched with meanwhile)."""
        with self._lock:
            pending = self._candidates.get((key, target))
        if pending is None:
            return None
        got = pending[0]
        if (
            not got.holds_for(matches)
            or (calibrated is not None and got.calibrated and not got.holds_for_calibrated(calibrated))
            or (indexed is not None and not got.holds_for_index(indexed))
        ):
            return None
        return got

    def has_stale(self) -> bool:
        """Whether any verdict waits to be judged again (read without the lock: a hint)."""
        return bool(self._stale)

    def stale_sketch(self, key: str, target: float, at: tuple[int, int] | None = None) -> Any | None:
        """The verdict this filter's matches drifted away from, handed to one caller only (to
        judge the filter again on its sample), or ``None``: none, or the caller's snapshot
        (``at``) is older than the one that found it drifted."""
        with self._lock:
            got = self._stale.get((key, target))
            if got is None:
                return None
            verdict, found_at = got
            if at is not None and found_at is not None and at < found_at:
                return None
            del self._stale[(key, target)]
            return verdict

    def keep_sketch(self, key: str, target: float, verdict: Any) -> None:
        """Record the sketches' verdict for this filter and target, unless one judged on a newer
        snapshot is kept already (a slow judgement of an older snapshot finishing last)."""
        with self._lock:
            kept = self._sketches.get((key, target))
            new_at, kept_at = getattr(verdict, "at", None), getattr(kept, "at", None)
            if new_at is not None and kept_at is not None and new_at < kept_at:
                return
            self._stale.pop((key, target), None)
            self._sketches[(key, target)] = verdict
            self._sketches.move_to_end((key, target))
            while len(self._sketches) > MAX_FILTERS:
                self._sketches.popitem(last=False)

    def learned(
        self, key: str, target: float, matches: int, calibrated: int | None = None, indexed: int | None = None
    ) -> Learned | None:
        """What was measured for this filter and target, if it still holds for a filter matching
        ``matches`` indexed rows, measured against the ``calibrated`` effort and on an index of
        about ``indexed`` rows (``None``: any); one that no longer holds is forgotten: the filter
        learns again."""
        k = (key, target)
        with self._lock:
            pending = self._candidates.get(k)
            if pending is not None and not pending[0].holds_for(matches):
                del self._candidates[k]
            got = self._learned.get(k)
            if got is None:
                return None
            # (``calibrated`` is interpolated at the filter's selectivity, n_match / n_live: rows
            # added elsewhere move it by a unit or two; what was learned holds within _DRIFT of
            # it, of the matches and of the index's rows: an index merged from the one it was
            # measured on inherits it, see :meth:`inherit`, until the graph grew past that)
            if (
                not got.holds_for(matches)
                or (calibrated is not None and got.calibrated and not got.holds_for_calibrated(calibrated))
                or (indexed is not None and not got.holds_for_index(indexed))
            ):
                del self._learned[k]
                return None
            self._learned.move_to_end(k)
            return got

    def observe(self, key: str, target: float, queries: np.ndarray) -> Handover | None:
        """Keep ``queries`` (copied; repeats of a kept query, or of the queries a candidate was
        measured on, are skipped) for this filter; once :data:`SAMPLE` are kept
        (:data:`CONFIRM_SAMPLE` to confirm a candidate), or
        :data:`PATIENCE` queries were observed, hand the kept ones over, to one caller only, as
        ``(n, dim) float32`` to be measured or to confirm a candidate (then :meth:`keep` the
        answer). The queries' copies and norms are prepared before the table's lock is taken,
        and at most :data:`PATIENCE` of a batch are looked at (CHANGES: each query of a batch
        stacked the kept ones again under the lock: a large batch of repeated queries stalled
        every filtered search of the index)."""
        k = (key, target)
        fresh = np.array(queries[:PATIENCE], dtype=np.float32, ndmin=2)
        norms = np.linalg.norm(fresh, axis=1) if len(fresh) else np.empty(0, dtype=np.float32)
        usable = np.isfinite(norms) & (norms > 0)
        with self._lock:
            if k in self._learned or k in self._measuring:
                return None
            pending = self._candidates.get(k)
            kept = self._samples.get(k)
            if kept is None:
                kept = self._samples[k] = []
                while len(self._samples) > MAX_SAMPLING:
                    self._samples.popitem(last=False)  # the least recently sampled filter
            self._samples.move_to_end(k)
            seen = self._seen[k] = self._seen.get(k, 0) + len(queries)
            self._seen.move_to_end(k)
            while len(self._seen) > MAX_COUNTED:
                self._seen.popitem(last=False)
            earlier = kept + pending[1] if pending is not None else kept
            size = CONFIRM_SAMPLE if pending is not None else SAMPLE
            # unit rows of the earlier queries (finite and non-zero: kept so), room for new ones
            units = np.empty((len(earlier) + size, fresh.shape[1]), dtype=np.float32)
            n_units = len(earlier)
            if earlier:
                rows = np.stack(earlier)
                units[:n_units] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
            for i in np.flatnonzero(usable).tolist():
                if len(kept) >= size:
                    break
                unit = fresh[i] / norms[i]
                if n_units and float(np.max(units[:n_units] @ unit)) > _SAME:
                    continue
                kept.append(fresh[i].copy())
                units[n_units] = unit
                n_units += 1
            if len(kept) < size and (seen < PATIENCE or not kept):
                if pending is not None and not kept and seen >= PATIENCE:
                    # PATIENCE queries, none fresh (the filter repeats its first sample): nothing
                    # can confirm the candidate: the calibrated effort (a raise: the candidate,
                    # which the queries it repeats reached the target with), settled (never stall)
                    cand = pending[0]
                    del self._candidates[k]
                    self._samples.pop(k, None)
                    self._seen.pop(k, None)
                    self._learned[k] = Learned(
                        max(cand.effort, cand.calibrated), cand.recall, 0, cand.matches, calibrated=cand.calibrated,
                        confirmed=True, measured=cand.effort, indexed=cand.indexed,
                    )
                    while len(self._learned) > MAX_FILTERS:
                        self._learned.popitem(last=False)
                return None
            del self._samples[k]
            self._seen.pop(k, None)
            self._measuring.add(k)  # (a candidate stays readable, see :meth:`candidate`, until kept)
        if pending is None:
            return Handover(np.stack(kept))
        return Handover(np.stack(kept), pending[0], np.stack(pending[1]) if pending[1] else None)

    def keep(self, key: str, target: float, learned: Learned | None, sample: np.ndarray | None = None) -> None:
        """Record what the measurement of a handed-over sample found (``None``: it failed;
        the filter samples again): a candidate to confirm (kept with ``sample``, the queries it
        was measured on) or a learned effort."""
        k = (key, target)
        with self._lock:
            self._measuring.discard(k)
            self._samples.pop(k, None)
            self._candidates.pop(k, None)  # (the one just confirmed, if any: settled or replaced)
            if learned is None:
                return
            if learned.needs_confirming:
                self._candidates[k] = (learned, list(sample) if sample is not None else [])
                while len(self._candidates) > MAX_SAMPLING:
                    self._candidates.popitem(last=False)
                return
            self._learned[k] = learned
            while len(self._learned) > MAX_FILTERS:
                self._learned.popitem(last=False)

    def inherit(self, earlier: FilterEfforts) -> None:
        """Take over what ``earlier`` (the table of the index this one's was merged from) learned,
        and the candidates it was confirming, where this table has neither (each still holds
        only for about as many matches and calibrated effort: see :meth:`learned`; a candidate
        is confirmed on this index's graph, the one it will be used on)."""
        with earlier._lock:
            learned = list(earlier._learned.items())
            candidates = [(k, (c, list(q))) for k, (c, q) in earlier._candidates.items()]
            sketches = list(earlier._sketches.items())
            stale = list(earlier._stale.items())
        with self._lock:
            for k, got in learned:
                self._learned.setdefault(k, got)
            for k, verdict in sketches:
                self._sketches.setdefault(k, verdict)
            while len(self._sketches) > MAX_FILTERS:
                self._sketches.popitem(last=False)
            for k, held in stale:  # (the verdict, and the snapshot that set it aside)
                if k not in self._sketches:
                    self._stale.setdefault(k, held)
            while len(self._stale) > MAX_STALE:
                self._stale.popitem(last=False)
            for k, pending in candidates:
                if k not in self._learned:
                    self._candidates.setdefault(k, pending)
            while len(self._learned) > MAX_FILTERS:
                self._learned.popitem(last=False)
            while len(self._candidates) > MAX_SAMPLING:
                self._candidates.popitem(last=False)


_BY_INDEX: weakref.WeakKeyDictionary[AnnIndex, FilterEfforts] = weakref.WeakKeyDictionary()
_BY_INDEX_LOCK = threading.Lock()


def efforts_of(ann: AnnIndex) -> FilterEfforts:
    """The learned efforts of ``ann`` (one table per loaded index file)."""
    with _BY_INDEX_LOCK:
        table = _BY_INDEX.get(ann)
        if table is None:
            table = _BY_INDEX[ann] = FilterEfforts()
        return table


def inherit(ann: AnnIndex, earlier: AnnIndex) -> None:
    """Let ``ann`` (an index merged from ``earlier``: the same graph with rows added) start from
    the efforts ``earlier``'s filters learned (see :meth:`FilterEfforts.inherit`)."""
    with _BY_INDEX_LOCK:
        before = _BY_INDEX.get(earlier)
    if before is not None and ann is not earlier:
        efforts_of(ann).inherit(before)


def ladder_for(knob: str, calibrated: int, n_queries: int, nlist: int | None = None) -> list[int]:
    """The steps :func:`measure` searches: the ladder from :data:`FLOOR` (on fewer than
    :data:`SAMPLE` queries: 1) to :data:`_CEILING` × ``calibrated``, with ``calibrated`` itself
    (``nlist``: an IVF index's list count, the most ``nprobe`` can be)."""
    floor = FLOOR if n_queries >= SAMPLE else 1.0  # (a few repeated queries: never below the calibration)
    ladder = [v for v in _LADDER[knob] if floor * calibrated <= v <= _CEILING * calibrated]
    if knob == "nprobe" and nlist is not None:
        ladder = [v for v in ladder if v <= nlist]
    return sorted({*ladder, calibrated})


def clears(per: np.ndarray, target: float, margin_se: float) -> bool:
    """Whether per-query recalls ``per`` clear ``target`` by ``margin_se`` standard errors of
    their mean (the margin capped at the filtered calibration's: half the allowed miss rate)."""
    se = float(per.std(ddof=1) / math.sqrt(len(per))) if len(per) > 1 else 0.0
    return float(per.mean()) >= min(target + margin_se * se, half_miss_rate(target), 1.0)


def least_passing(n: int, start: int, passes: Callable[[int], bool]) -> int | None:
    """The least of steps ``0..n-1`` that ``passes`` (monotone: recall grows with the effort),
    by bisection starting from step ``start`` (the calibrated one), or ``None`` if none does."""
    lo, hi = 0, n - 1
    if passes(start):
        hi = start
    else:
        lo = start + 1
    if lo > hi or not passes(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if passes(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def _recalls(ann: AnnIndex, queries: np.ndarray, want: list[set[int]], allowed: np.ndarray, packed: np.ndarray, knob: str, effort: int) -> np.ndarray:
    """Each query's recall@10 against ``want`` of a filtered index search at ``effort``, as
    the search serves it: a query left short is searched again at the raised efforts of
    :func:`vecnest.search.widen.widening` (scored on what that finds), and what is still short
    is completed by an exact scan of the matches (scored exact)."""
    got, _, _ = ann.search(queries, K, allowed=allowed, packed=packed, count=False, **{knob: effort})
    n_match = int(np.count_nonzero(allowed))
    if n_match >= K:
        short = np.flatnonzero(got[:, -1] < 0)
        start = max(effort, K) if knob == "ef_search" else effort
        nlist = int(getattr(ann.index, "nlist", 0) or 0)
        for raised in widening(knob, start, n_match=n_match, m=ann.config.m, nlist=nlist):
            if not len(short):
                break
            got[short], _, _ = ann.search(queries[short], K, allowed=allowed, packed=packed, count=False, **{knob: raised})
            short = short[got[short, -1] < 0]
    return np.array([  # (no indexed match at all: nothing to miss)
        len(w & set(g[g >= 0].tolist())) / len(w) if w and (g[-1] >= 0 or len(w) < K) else 1.0
        for g, w in zip(got, want, strict=True)
    ])


def _truth(flat: FlatIndex, queries: np.ndarray, slots: np.ndarray) -> list[set[int]]:
    # (read from the segment's file: a pass over up to every row must not leave them resident)
    truth, _ = flat.scan(queries, K, slots)
    return [set(t[t >= 0].tolist()) for t in truth]


def measure(
    ann: AnnIndex,
    flat: FlatIndex,
    queries: np.ndarray,
    slots: np.ndarray,
    allowed: np.ndarray,
    packed: np.ndarray,
    *,
    knob: str,
    target: float,
    calibrated: int,
) -> Learned:
    """The least effort of :func:`ladder_for` whose recall@10 on ``queries`` against an exact
    scan of ``slots`` (the filter's indexed matching rows; ``allowed`` / ``packed``: the same as
    the index search's mask and bits) :func:`clears` ``target`` by :data:`MARGIN_SE` standard
    errors; if none does, the step that measured best (``reached`` false)."""
    want = _truth(flat, queries, slots)
    ladder = ladder_for(knob, calibrated, len(queries), int(getattr(ann.index, "nlist", 0)) or None)
    seen: dict[int, tuple[bool, float]] = {}

    def passes(i: int) -> bool:
        if i not in seen:
            per = _recalls(ann, queries, want, allowed, packed, knob, ladder[i])
            seen[i] = (clears(per, target, MARGIN_SE), float(per.mean()))
        return seen[i][0]

    least = least_passing(len(ladder), ladder.index(calibrated), passes)
    if least is None:
        best = max(seen, key=lambda i: (seen[i][1], -i))
        return Learned(int(ladder[best]), seen[best][1], len(queries), len(slots), reached=False, calibrated=calibrated, indexed=ann.rows)
    return Learned(int(ladder[least]), seen[least][1], len(queries), len(slots), calibrated=calibrated, indexed=ann.rows)


def confirm_steps(knob: str, candidate: int, calibrated: int, nlist: int | None = None) -> list[int]:
    """The efforts :func:`confirm` tries, in order: from the ladder's step below ``candidate``
    (a bisection's least passing step is a lucky one as often as the step below it is an
    unlucky one: the larger pooled sample settles which), through ``candidate``, up to
    :data:`_CEILING` × ``calibrated`` (a raise, or a candidate the fresh queries miss with, is
    stepped up, not thrown back to the calibration's guess), with the efforts halfway between
    the ladder's steps (:func:`between`): the bisection's coarse steps cost up to 1.5× what the
    filter needs; the pooled sample tells the finer ones apart (replayed: the learned effort's
    mean cost fell from 1.41× to 1.28× the least reaching the target, see :data:`CONFIRM_SE`)."""
    top = _CEILING * calibrated
    coarse = sorted({*(v for v in _LADDER[knob] if v <= top and (nlist is None or v <= nlist)), calibrated, candidate})
    at = coarse.index(candidate)
    start = coarse[at - 1] if at and coarse[at - 1] >= FLOOR * calibrated else candidate
    # (a halfway effort within 10 % of a step already tried, e.g. an off-ladder calibrated one,
    # would spend a measurement for almost no difference)
    halfway = (v for v in between(knob) if v <= top and (nlist is None or v <= nlist))
    fine = {*coarse, *(v for v in halfway if all(abs(v - c) > 0.1 * c for c in coarse))}
    return sorted(v for v in fine if v >= start)


def between(knob: str) -> tuple[int, ...]:
    """The efforts halfway (geometric mean, rounded) between consecutive steps of the ladder
    that are far enough apart to have one (``nprobe`` 1 and 2: none)."""
    ladder = _LADDER[knob]
    mids = (round(math.sqrt(a * b)) for a, b in zip(ladder, ladder[1:]))
    return tuple(m for m, a, b in zip(mids, ladder, ladder[1:]) if a < m < b)


def confirmed_effort(steps: list[int], passes: Callable[[int], bool]) -> int | None:
    """The first of ``steps`` (:func:`confirm_steps`) that ``passes`` on the fresh sample, else
    ``None`` (none reaches the target with the confidence asked)."""
    for effort in steps:
        if passes(effort):
            return effort
    return None


def confirm(
    ann: AnnIndex,
    flat: FlatIndex,
    queries: np.ndarray,
    slots: np.ndarray,
    allowed: np.ndarray,
    packed: np.ndarray,
    *,
    knob: str,
    target: float,
    candidate: Learned,
    measured_on: np.ndarray | None = None,
) -> Learned:
    """The effort ``candidate`` (what a first sample, ``measured_on``, measured) is confirmed
    at: the first of :func:`confirm_steps` whose recall@10 on ``queries`` (fresh ones: none it
    was measured on) pooled with ``measured_on`` (where kept) :func:`clears` ``target`` by
    :data:`CONFIRM_SE` standard errors (:func:`confirmed_effort`); if none does, the first that
    clears it by :data:`MARGIN_SE` (a small sample's 2-SE bar, capped at half the miss rate, can
    sit above what the top step reaches: not a reason to scan exactly for good); if none does,
    the best of them, not reached (the planner scans exactly). On fewer than half a sample of
    fresh queries, the higher of the candidate and the calibrated effort, settled as a filter
    repeating its queries is. The recall reported is the one measured on the pooled sample."""
    calibrated = candidate.calibrated
    if len(queries) < SAMPLE // 2:
        effort = max(candidate.effort, calibrated)
        return Learned(
            effort, candidate.recall, 0, len(slots), calibrated=calibrated, confirmed=True, measured=candidate.effort,
            indexed=ann.rows,
        )
    if measured_on is not None and len(measured_on):
        # (pooled: the fresh queries test the candidate, the first sample's add to their power;
        # replayed, fewer misses than the fresh ones alone at a lower effort, see CONFIRM_SE)
        queries = np.concatenate([np.asarray(measured_on, dtype=np.float32), queries])
    want = _truth(flat, queries, slots)
    seen: dict[int, np.ndarray] = {}

    def recalls(effort: int) -> np.ndarray:
        if effort not in seen:
            seen[effort] = _recalls(ann, queries, want, allowed, packed, knob, effort)
        return seen[effort]

    steps = confirm_steps(knob, candidate.effort, calibrated, int(getattr(ann.index, "nlist", 0)) or None)
    got = confirmed_effort(steps, lambda e: clears(recalls(e), target, CONFIRM_SE))
    if got is None:  # (every step was measured)
        got = confirmed_effort(steps, lambda e: clears(recalls(e), target, MARGIN_SE))
    reached = got is not None
    if got is None:
        got = max(steps, key=lambda e: (float(recalls(e).mean()), -e))
    per = recalls(got)
    return Learned(
        got, float(per.mean()), len(queries), len(slots), reached=reached, calibrated=calibrated, confirmed=True,
        measured=candidate.effort, indexed=ann.rows,
    )
