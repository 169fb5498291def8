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
cannot take the effort down far, or at all); it holds
only while the filter matches about as many indexed rows as when it was measured (else the
filter learns again); it is kept per loaded index file (a rebuilt index learns again), filter and
target. Until then the calibrated effort is used. The search that measures pays for it (74k
rows: ~0.1-0.2 s, once per filter).
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from vecnest.index.ann import AnnIndex
from vecnest.index.calibrate import _LADDER, K, half_miss_rate
from vecnest.index.flat import FlatIndex

#: Distinct queries kept per filter before its effort is measured.
SAMPLE = 32
#: Queries (repeats included) a filter is observed for before it is measured on the distinct
#: ones it has, however few.
PATIENCE = 4 * SAMPLE
#: Filters one index keeps learned efforts for, least recently used out...
MAX_FILTERS = 256
#: ... and, apart from those, filters it keeps samples for (at most ``SAMPLE × dim × 4`` bytes each)...
MAX_SAMPLING = 256
#: ... and filters it counts the queries of (a sample evicted by more filters in rotation than
#: it keeps samples for is started again with its count: the filter is measured on what it
#: has once the count reaches :data:`PATIENCE`, so learning settles however many filters rotate).
MAX_COUNTED = 16 * MAX_SAMPLING
#: The ladder is searched up to this many times the calibrated effort...
_CEILING = 4
#: ... and down to this fraction of it.
FLOOR = 0.5
#: An effort is kept when the sample's mean recall@10 is at least the target plus this many
#: standard errors of that mean (32 queries: ~0.01; two would cost about one step of the ladder
#: more on 74k arXiv titles, where the calibrated effort is already that step above).
MARGIN_SE = 1.0
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

    def holds_for(self, matches: int) -> bool:
        """Whether this still describes a filter matching ``matches`` indexed rows."""
        return self.matches / _DRIFT <= matches <= self.matches * _DRIFT


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

    def learned(self, key: str, target: float, matches: int) -> Learned | None:
        """What was measured for this filter and target, if it still holds for a filter matching
        ``matches`` indexed rows (one that no longer holds is forgotten: the filter learns again)."""
        k = (key, target)
        with self._lock:
            got = self._learned.get(k)
            if got is None:
                return None
            if not got.holds_for(matches):
                del self._learned[k]
                return None
            self._learned.move_to_end(k)
            return got

    def observe(self, key: str, target: float, queries: np.ndarray) -> np.ndarray | None:
        """Keep ``queries`` (copied; repeats of a kept query are skipped) for this filter; once
        :data:`SAMPLE` are kept, or :data:`PATIENCE` queries were observed, hand the kept ones
        over, to one caller only, as ``(n, dim) float32`` to be measured (then :meth:`keep` its
        answer)."""
        k = (key, target)
        with self._lock:
            if k in self._learned or k in self._measuring:
                return None
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
            for q in queries:
                if len(kept) >= SAMPLE:
                    break
                q = np.array(q, dtype=np.float32)
                norm = float(np.linalg.norm(q))
                if not math.isfinite(norm) or norm == 0.0:
                    continue
                if kept:
                    rows = np.stack(kept)
                    cos = rows @ q / (np.linalg.norm(rows, axis=1) * norm)
                    if float(cos.max()) > _SAME:
                        continue
                kept.append(q)
            if len(kept) < SAMPLE and (seen < PATIENCE or not kept):
                return None
            del self._samples[k]
            self._seen.pop(k, None)
            self._measuring.add(k)
        return np.stack(kept)

    def keep(self, key: str, target: float, learned: Learned | None) -> None:
        """Record what the measurement of a handed-over sample found (``None``: it failed;
        the filter samples again)."""
        k = (key, target)
        with self._lock:
            self._measuring.discard(k)
            self._samples.pop(k, None)
            if learned is not None:
                self._learned[k] = learned
                while len(self._learned) > MAX_FILTERS:
                    self._learned.popitem(last=False)


_BY_INDEX: weakref.WeakKeyDictionary[AnnIndex, FilterEfforts] = weakref.WeakKeyDictionary()
_BY_INDEX_LOCK = threading.Lock()


def efforts_of(ann: AnnIndex) -> FilterEfforts:
    """The learned efforts of ``ann`` (one table per loaded index file)."""
    with _BY_INDEX_LOCK:
        table = _BY_INDEX.get(ann)
        if table is None:
            table = _BY_INDEX[ann] = FilterEfforts()
        return table


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
    """The least effort of the ladder whose recall@10 on ``queries`` against an exact scan of
    ``slots`` (the filter's indexed matching rows; ``allowed`` / ``packed``: the same as the
    index search's mask and bits) reaches ``target`` + :data:`MARGIN_SE` standard errors
    (capped at the filtered calibration's margin), searching from :data:`FLOOR` to
    :data:`_CEILING` × ``calibrated`` (from ``calibrated`` on fewer than :data:`SAMPLE` queries);
    if none does, the step that measured best (``reached`` false)."""
    truth, _ = flat.search(queries, K, slots)
    want = [set(t[t >= 0].tolist()) for t in truth]
    floor = FLOOR if len(queries) >= SAMPLE else 1.0  # (a few repeated queries: never below the calibration)
    ladder = [v for v in _LADDER[knob] if floor * calibrated <= v <= _CEILING * calibrated]
    if knob == "nprobe":
        ladder = [v for v in ladder if v <= int(getattr(ann.index, "nlist", v))]
    if calibrated not in ladder:
        ladder = sorted({*ladder, calibrated})
    seen: dict[int, tuple[bool, float]] = {}

    def passes(i: int) -> bool:
        if i not in seen:
            got, _, _ = ann.search(queries, K, allowed=allowed, packed=packed, count=False, **{knob: ladder[i]})
            # a short list is completed by an exact scan of the matches in the real search: exact
            per = np.array([  # (no indexed match at all: nothing to miss)
                len(w & set(g[g >= 0].tolist())) / len(w) if w and (g[-1] >= 0 or len(w) < K) else 1.0
                for g, w in zip(got, want, strict=True)
            ])
            mean = float(per.mean())
            se = float(per.std(ddof=1) / math.sqrt(len(per))) if len(per) > 1 else 0.0
            seen[i] = (mean >= min(target + MARGIN_SE * se, half_miss_rate(target), 1.0), mean)
        return seen[i][0]

    # recall grows with the effort: the least passing step by bisection, starting from the
    # calibrated effort's step
    lo, hi = 0, len(ladder) - 1
    start = ladder.index(calibrated)
    if passes(start):
        hi = start
    else:
        lo = start + 1
    if lo > hi or not passes(hi):
        best = max(seen, key=lambda i: (seen[i][1], -i))
        return Learned(int(ladder[best]), seen[best][1], len(queries), len(slots), reached=False)
    while lo < hi:
        mid = (lo + hi) // 2
        if passes(mid):
            hi = mid
        else:
            lo = mid + 1
    return Learned(int(ladder[hi]), seen[hi][1], len(queries), len(slots))
