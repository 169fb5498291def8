"""Build-time calibration of an approximate index, measured on the collection's own vectors.

Two tables come out of it, both saved with the index:

* recall@10 for each value of the search knob (``ef_search`` for HNSW, ``nprobe`` for IVF), so
  ``search(..., target_recall=0.95)`` can pick the cheapest knob that reaches it;
* for a ladder of filter selectivities, the knob that keeps recall@10 >= 0.95 under a filter
  bitmap whose matches cluster in vector space (:func:`clustered_mask`), and the per-query time
  of three strategies (exact scan of the matching rows, filtered ANN, post-filtering an
  oversampled unfiltered ANN), from which the planner's switch points (``exact_below``,
  ``post_filter_above``: where the interpolated costs cross) are read.

Queries are stored vectors held out of the index while it is measured (they are added right
after), so the numbers are those of unseen queries, not inflated by the query's own graph node.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vecnest.config import IndexKind
from vecnest.index.ann import AnnIndex
from vecnest.index.flat import FlatIndex
from vecnest.store.rowio import blocks
from vecnest.store.segments import release_pages

K = 10
TARGET = 0.95


def half_miss_rate(target: float) -> float:
    """The recall a measurement must reach for ``target`` to hold when its noise is unknown:
    the measured miss rate at most half the allowed one."""
    return target + (1.0 - target) * 0.5


#: What a filtered measurement (64 held-out queries, a noisy sample) must reach for TARGET.
NEEDED = half_miss_rate(TARGET)
SELECTIVITIES = (0.001, 0.003, 0.01, 0.03, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0)
#: The efforts measured, each at most 1.5x the one before: a filter's effort is interpolated
#: between the selectivities measured, so a coarse step at one of them overshoots every filter
#: near it (1M arXiv titles at 14.5 %: 1,024 measured at 10 % and 512 at 20 % gave 706 where 512
#: was enough).
_LADDER = {
    "ef_search": (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048),
    "nprobe": (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256),
}


@dataclass(frozen=True)
class Calibration:
    """What the planner knows about this index (see module docstring)."""

    knob: str
    #: ``(knob, recall@10, standard error)`` per ladder value (older tables lack the error)
    recall: list[tuple[float, ...]]
    filtered: list[dict[str, float]] = field(default_factory=list)
    exact_below: float = 0.01
    post_filter_above: float = 1.1
    n_indexed: int = 0  #: rows in the index when it was measured
    #: the graph this was measured on, by descent: a fresh token at each build or rebuild, kept
    #: by the merges that grow that graph (re-measured or not); "" in calibrations stored before
    lineage: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        """Inverse of :meth:`to_json`."""
        return cls(
            knob=data["knob"],
            recall=[(int(row[0]), *(float(x) for x in row[1:])) for row in data["recall"]],
            filtered=list(data.get("filtered", [])),
            exact_below=float(data["exact_below"]),
            post_filter_above=float(data["post_filter_above"]),
            n_indexed=int(data.get("n_indexed", 0)),
            lineage=str(data.get("lineage") or ""),
        )

    def knob_for_recall(self, target: float) -> tuple[int, float]:
        """Cheapest knob whose measured recall@10 reaches ``target`` with a safety margin of
        two standard errors of the measured mean (tables without errors: the measured miss
        rate must be at most half the allowed one), else the best measured."""
        for value, rec, *se in self.recall:
            needed = target + 2.0 * se[0] if se else half_miss_rate(target)
            if rec >= min(needed, 1.0):
                return int(value), rec
        best = max(self.recall, key=lambda t: (t[1], t[0]))
        return int(best[0]), best[1]

    def index_measured_cheaper(self, selectivity: float) -> bool:
        """Whether the filtered index search measured cheaper than an exact scan of the
        matches at this selectivity (interpolated; the switch point itself allows the index up
        to :data:`EXACT_BIAS` times the exact cost, as exact timings are understated)."""
        rows = sorted(self.filtered, key=lambda r: r["selectivity"])
        if not rows:
            return True
        return _interp(rows, "ann_ms", selectivity) < _interp(rows, "exact_ms", selectivity)

    def exact_ms_at(self, selectivity: float) -> float:
        """The calibrated exact scan of a filter of this selectivity, in milliseconds
        (interpolated; ``inf`` where not measured)."""
        rows = sorted(self.filtered, key=lambda r: r["selectivity"])
        return _interp(rows, "exact_ms", selectivity) if rows else math.inf

    def knob_for_selectivity(self, selectivity: float, base: int) -> int:
        """Knob keeping recall under a filter of this selectivity (log-interpolated, >= base)."""
        if not self.filtered:
            return base
        pts = sorted((row["selectivity"], row["knob"]) for row in self.filtered if row["knob"] > 0)
        if not pts:
            return base
        s = min(max(selectivity, pts[0][0]), pts[-1][0])
        for (s0, k0), (s1, k1) in zip(pts, pts[1:], strict=False):
            if s0 <= s <= s1:
                t = 0.0 if s1 == s0 else (math.log(s) - math.log(s0)) / (math.log(s1) - math.log(s0))
                return max(base, int(math.ceil(math.exp(math.log(k0) + t * (math.log(k1) - math.log(k0))))))
        return max(base, int(pts[-1][1] if s >= pts[-1][0] else pts[0][1]))


#: Voronoi cells (of random stored vectors) that the calibration's filter masks are made of.
CELLS = 16
#: Stop raising a filtered search's effort once it is this many times slower than an exact scan.
_GIVE_UP = 10.0
#: Held-out queries timing the filtered strategies (the recall table uses all of them).
FILTER_QUERIES = 64
#: The calibration times each strategy on 64 queries in a row, so the rows an exact scan reads
#: stay in the CPU caches; interleaved with other work (other filters, the application) the
#: scan costs 2-4x more (74k arXiv titles, 10 % of the rows: 0.7-0.9 ms calibrated, 3.5 ms in the
#: interleaved peer benchmark) while a graph walk, which touches different rows every query,
#: does not change much. The planner therefore takes an exact scan only where it measured this
#: many times cheaper than the index.
EXACT_BIAS = 2.0
#: A filter whose exact scan was calibrated at most this many milliseconds is answered exactly
#: until its own queries have measured the index effort it needs (see ``search.planner``): the
#: calibration's synthetic masks under-state what a real filter clustered in vector space needs
#: (74k arXiv titles, HNSW: ``primary_category`` cs.CL, 28 %, recall@10 0.80 at the calibrated
#: ef 80 and still 0.88 at 4x it; cs.AI, 16 %: 0.80 at 123; calibrating on fully clustered masks
#: instead still gives 0.875), and only its own queries tell. The price: each learning cycle (a
#: filter's first 64 + 128 distinct queries, up to 2 x 256 when they repeat; again after a
#: re-calibration, a rebuild, a restart or a 1.25x drift of its matches) is scanned exactly, at
#: 2-4x the calibrated cost in real workloads; and a filter that never gathers a sample (a key
#: new at every query, more filters in rotation than the 128 kept) is always scanned exactly: on
#: the 74k titles up to ~6 ms calibrated where the index took 0.3-0.7 ms. Beyond this bound (1M
#: rows: from ~3 % on) the calibrated effort is used meanwhile, as before.
LEARN_EXACT_MS = 8.0


def _cell_of(flat: FlatIndex, slots: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(len(slots),)`` the nearest of :data:`CELLS` random stored vectors for each (sorted)
    slot, the rows read block by block from the segment's file (see :meth:`FlatIndex.rows`)."""
    pick = rng.choice(slots, size=min(CELLS, len(slots)), replace=False)
    order = np.argsort(pick)
    centers = np.empty((len(pick), flat.vectors.shape[1]), dtype=np.float32)
    centers[order] = flat.rows(pick[order])
    out = np.empty(len(slots), dtype=np.int32)
    done = 0
    for _, part in blocks(flat.vectors, slots, path=flat.path):
        out[done : done + len(part)] = np.argmax(part @ centers.T, axis=1)
        done += len(part)
    return out


def clustered_mask(
    cells: np.ndarray, slots: np.ndarray, n_slots: int, sel: float, rng: np.random.Generator, *, clustered: float
) -> np.ndarray:
    """A filter bitmap over ``slots`` of selectivity ``sel`` made of whole cells (the last one
    cut at random), so the matching rows cluster in vector space as those of real predicates
    do (a category, a venue, a period): most queries lie outside the matching region, which is
    the hard case for a filtered search. Random masks spread the matches evenly and under-state
    the effort needed (74k arXiv titles at 10 %: HNSW reaches recall@10 0.95 at ef 96 under a
    random mask, 256 when every match comes from whole cells; the real predicate
    ``n_authors >= 10`` needs 128-192). ``clustered`` is the fraction of the matches taken from
    whole cells, the rest spread at random."""
    want = max(1, int(round(sel * len(slots))))
    target = int(want * clustered)
    picked: list[np.ndarray] = []
    have = 0
    for c in rng.permutation(int(cells.max()) + 1 if len(cells) else 0):
        if have >= target:
            break
        members = slots[cells == c]
        if have + len(members) > target:
            members = rng.choice(members, size=target - have, replace=False)
        picked.append(members)
        have += len(members)
    mask = np.zeros(n_slots, dtype=bool)
    if picked:
        mask[np.concatenate(picked)] = True
    rest = slots[~mask[slots]]
    mask[rng.choice(rest, size=min(want - have, len(rest)), replace=False)] = True
    return mask


#: The most of the segment the calibration's timed exact scans may map: a scan of a 100 %
#: filter at 1M x 256 float32 would otherwise add the whole 1 GiB segment to the build's memory
#: for a moment (2.1 GiB peak where FAISS's own HNSW build peaks at 1.35). With the buffer of
#: the untimed cache pass (at most :data:`PRESSURE_BYTES`), a timing holds at most 128 MiB (it
#: was 128 + 64 MiB).
EXACT_WINDOW_BYTES = 64 << 20
#: The most the untimed pass between two windowed queries streams (see :func:`_exact_ms`):
#: twice a 32 MiB last-level cache.
PRESSURE_BYTES = 64 << 20
#: Pages the kernel maps around each faulting one when they are cached (fault-around).
_FAULT_AROUND_BYTES = 64 << 10
#: The fewest matches a window is timed on (else it is timed on this many rows spread evenly).
_WINDOW_MIN_MATCHES = 256


def _cache_bytes() -> int:
    """The last-level CPU cache (32 MiB where it cannot be read)."""
    try:
        text = Path("/sys/devices/system/cpu/cpu0/cache/index3/size").read_text().strip()
        return int(text[:-1]) << {"K": 10, "M": 20}[text[-1]] if text[-1] in "KM" else int(text)
    except (OSError, ValueError, IndexError, KeyError):
        return 32 << 20


def _exact_ms(flat: FlatIndex, subset: np.ndarray, fq: np.ndarray, rng: np.random.Generator) -> float:
    """Per-query time of an exact scan of the sorted slots ``subset``, as a serving scan the
    planner chose finds its rows (mapped in and kept).

    Where such a scan would map more than :data:`EXACT_WINDOW_BYTES`, it is timed on the matches
    inside a random window of that many bytes of the segment (the same fraction of it, so the
    scan takes the same path) and scaled to the whole: a fixed per-query part, timed on ``K``
    rows, plus the rest in proportion to the matches. Each windowed query is preceded by an
    untimed pass over as many bytes as the whole scan reads beyond the window's matches (at most
    twice the last-level CPU cache), so it finds the caches as a query of the whole scan finds
    them after the last one: the window's rows alone would stay cached. What the window cannot
    reproduce is the whole scan's spread over more pages (TLB misses): on 74k arXiv titles
    timed whole and scaled from a 16 MiB window, 1 % matching 0.10 vs 0.09 ms a query, 10 %
    1.1-1.6 vs 0.8, 40 % 6.0 vs 4.8, 100 % 4.5 vs 3.9-4.7 (without the pass, 10 %: 0.5). The
    window's pages are released after."""
    n, dim = flat.vectors.shape
    rows = max(EXACT_WINDOW_BYTES // (dim * 4), 2 * _WINDOW_MIN_MATCHES)
    if n <= rows or len(subset) * _FAULT_AROUND_BYTES <= EXACT_WINDOW_BYTES:
        flat.search(fq[:1], K, subset)  # (untimed: the rows' pages mapped in)
        ms, _ = _per_query_ms(lambda q: flat.search(q, K, subset)[0], fq)
        return ms
    lo = int(rng.integers(0, n - rows + 1))
    view = flat.vectors[lo : lo + rows]
    window = FlatIndex(view, None, l2=flat.l2)
    inside = subset[(subset >= lo) & (subset < lo + rows)] - lo
    if len(inside) < _WINDOW_MIN_MATCHES:  # (a window of a few matches would scale noise)
        inside = np.linspace(0, rows - 1, _WINDOW_MIN_MATCHES).astype(np.int64)
    # between two queries, the whole scan streams its matching rows through the CPU caches; the
    # window's stream is shorter: the rest is streamed untimed (up to twice the last-level cache,
    # beyond which nothing of the last query is left)
    pressure = min((len(subset) - len(inside)) * dim * 4, 2 * _cache_bytes(), PRESSURE_BYTES) // 8
    evict = np.ones(pressure) if pressure > 0 else None

    def ms(slots: np.ndarray) -> float:
        window.search(fq[:1], K, slots)
        spent = 0.0
        for q in fq:
            if evict is not None:
                float(evict.sum())
            start = time.perf_counter()
            window.search(q[None, :], K, slots)
            spent += time.perf_counter() - start
        return spent * 1000 / len(fq)

    try:
        full_ms, fixed_ms = ms(inside), ms(inside[:K])
    finally:
        release_pages(view)
    return fixed_ms + max(full_ms - fixed_ms, 0.0) * (len(subset) - K) / (len(inside) - K)


def _interp(rows: list[dict[str, float]], key: str, sel: float) -> float:
    """``rows[key]`` at ``sel``, piecewise linear in (log selectivity, log ms); ``inf`` outside
    the measured points or between a measured and an unmeasured one."""
    pts = [(r["selectivity"], r[key]) for r in rows]
    for (s0, v0), (s1, v1) in zip(pts, pts[1:], strict=False):
        if s0 <= sel <= s1:
            if not (math.isfinite(v0) and math.isfinite(v1)):
                return v0 if sel == s0 else (v1 if sel == s1 else math.inf)
            t = (math.log(sel) - math.log(s0)) / (math.log(s1) - math.log(s0))
            return math.exp(math.log(v0) + t * (math.log(v1) - math.log(v0)))
    return math.inf


def switch_points(rows: list[dict[str, float]]) -> tuple[float, float]:
    """``(exact_below, post_filter_above)`` from the measured costs: the selectivity where the
    interpolated cost of the filtered index search (or post-filtering) first drops below
    :data:`EXACT_BIAS` times that of an exact scan of the matches, and where post-filtering first
    beats the filtered index."""
    rows = sorted(rows, key=lambda r: r["selectivity"])
    if not rows:
        return 0.01, 1.1
    grid = np.geomspace(rows[0]["selectivity"], rows[-1]["selectivity"], 241)
    exact_below, post_above = 1.1, 1.1
    for sel in grid:
        exact, ann, post = (_interp(rows, key, float(sel)) for key in ("exact_ms", "ann_ms", "post_ms"))
        if exact_below > 1.0 and min(ann, post) < EXACT_BIAS * exact:
            exact_below = float(sel)
        if exact_below <= 1.0 and post < ann and post < exact:
            post_above = float(sel)
            break
    return exact_below, post_above


def _per_query_recall(got: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.array([len(set(g[g >= 0].tolist()) & set(t[t >= 0].tolist())) / max(1, (t >= 0).sum()) for g, t in zip(got, truth, strict=True)])


def _recall(got: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(_per_query_recall(got, truth)))


def _recall_and_error(got: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Mean recall@10 over the queries and its standard error."""
    per = _per_query_recall(got, truth)
    return float(per.mean()), float(per.std(ddof=1) / math.sqrt(len(per))) if len(per) > 1 else 0.0


def _per_query_ms(fn: Any, queries: np.ndarray) -> tuple[float, list[np.ndarray]]:
    out = []
    start = time.perf_counter()
    for q in queries:
        out.append(fn(q[None, :]))
    return (time.perf_counter() - start) * 1000 / len(queries), out


#: Knob values measured between the ladder's two that bracket the default target (bisection on
#: a log scale): the default lands within a quarter of a ladder step of what the target needs.
REFINE_STEPS = 2
#: Held-out queries the whole ladder is measured on; the values around the default target are
#: measured again on all of them (:func:`precise`), as are the refinement's.
LADDER_QUERIES = 256


def _clears(rec: float, se: float, target: float) -> bool:
    """:meth:`Calibration.knob_for_recall`'s rule: ``rec`` clears ``target`` by two standard errors."""
    return rec >= min(target + 2.0 * se, 1.0)


def precise(table: list[tuple[float, ...]], measure: Any, target: float) -> list[tuple[float, ...]]:
    """``table`` (``(knob, recall, standard error)`` rows on a sample of the queries, ascending
    knob) with the rows around the least value clearing ``target`` measured again on every query
    (``measure(knob) -> (recall, standard error)``), walking down from it while those still clear
    and up while they do not, so the bracket :func:`refined` splits is drawn with the smaller
    error. The margin is two standard errors of the mean and shrinks with the square root of the
    queries: measured on 256 held-out rows the bracket sat a whole ladder step above what the
    target needed (1M arXiv title chunks, unfiltered: ef 256 where 192 reached 0.956 on the
    benchmark's queries), on 1,024 it sits about half as far. Nothing changes where no value
    clears it on the sample."""
    rows = sorted(table, key=lambda r: r[0])
    at = next((i for i, r in enumerate(rows) if _clears(r[1], r[2], target)), None)
    if at is None:
        return rows
    done: dict[int, tuple[float, ...]] = {}

    def again(i: int) -> bool:
        if i not in done:
            done[i] = (rows[i][0], *measure(int(rows[i][0])))
        return _clears(done[i][1], done[i][2], target)

    if again(at):
        while at > 0 and again(at - 1):
            at -= 1
        if at > 0:
            again(at - 1)  # (the bracket's lower end, on every query)
    else:
        while at + 1 < len(rows) and not again(at + 1):
            at += 1
    for i, row in done.items():
        rows[i] = row
    return rows


def refined(
    table: list[tuple[float, ...]], measure: Any, target: float, steps: int = REFINE_STEPS
) -> list[tuple[float, ...]]:
    """``table`` (``(knob, recall, standard error)`` rows, ascending knob) with up to ``steps``
    more rows measured between the last value whose recall falls short of ``target`` plus its
    margin (:meth:`Calibration.knob_for_recall`'s rule) and the first that clears it, each at the
    geometric middle of the bracket left (``measure(knob) -> (recall, standard error)``), so the
    default effort is the least *measured* value that clears the target, about a quarter step
    past what it needs instead of up to a whole one (1M WordLlama chunks, unfiltered: the ladder
    gave 256 where 192 was enough). Nothing is added where the first value already clears it,
    none does, or the bracket holds no whole value between its ends."""

    def clears(rec: float, se: float) -> bool:
        return _clears(rec, se, target)

    rows = sorted(table, key=lambda r: r[0])
    first = next((i for i, r in enumerate(rows) if clears(r[1], r[2])), None)
    if not first:  # (None: none clears; 0: the cheapest already does)
        return rows
    lo, hi = int(rows[first - 1][0]), int(rows[first][0])
    for _ in range(steps):
        mid = int(round(math.sqrt(lo * hi)))
        if not lo < mid < hi:
            break
        rec, se = measure(mid)
        rows.append((mid, rec, se))
        lo, hi = (lo, mid) if clears(rec, se) else (mid, hi)
    return sorted(rows, key=lambda r: r[0])


def calibrate(
    ann: AnnIndex,
    flat: FlatIndex,
    indexed_slots: np.ndarray,
    query_slots: np.ndarray,
    *,
    rng: np.random.Generator,
    with_filters: bool = True,
) -> Calibration:
    """Measure recall per knob and the strategy switch points on this index (see module doc).

    Args:
        ann: the index, holding exactly ``indexed_slots`` (live ones).
        flat: exact search over the same segment.
        indexed_slots: live slots in the index: the ground truth is computed over these.
        query_slots: live slots NOT in the index, used as held-out queries.
        rng: randomness for the filter masks.
    """
    knob = "ef_search" if ann.config.kind is IndexKind.HNSW else "nprobe"
    ladder = _LADDER[knob]
    if knob == "nprobe":
        ladder = tuple(v for v in ladder if v <= ann.index.nlist) or (1,)
    n_slots = flat.vectors.shape[0]
    # (read from the file, not the map: each row read through the map maps the pages around it)
    distinct, where = np.unique(np.asarray(query_slots, dtype=np.int64), return_inverse=True)
    # (in a random order: the ladder's sample and the filters' queries are the first ones, and
    # slots in order are rows in the order they came)
    queries = flat.rows(distinct)[where.reshape(-1)][rng.permutation(len(query_slots))]
    allowed = np.zeros(n_slots, dtype=bool)
    allowed[indexed_slots] = True
    cand = np.flatnonzero(allowed)
    truth, _ = flat.scan(queries, K, cand)

    pq = ann.config.kind is IndexKind.IVF_PQ

    def ann_search(q: np.ndarray, mask: np.ndarray, value: int, k: int = K) -> np.ndarray:
        fetch = k * ann.config.rescore_multiplier if pq else k
        slots, _, _ = ann.search(q, fetch, allowed=mask, **{knob: value})
        return flat.rescore(q, slots, k)[0] if pq else slots

    coarse = min(len(queries), LADDER_QUERIES)
    recall = [(v, *_recall_and_error(ann_search(queries[:coarse], allowed, v), truth[:coarse])) for v in ladder]
    goal = getattr(ann.config, "target_recall", None) or TARGET  # (the collection's default target)

    def measure(v: int) -> tuple[float, float]:
        return _recall_and_error(ann_search(queries, allowed, v), truth)

    if len(queries) > coarse:
        recall = precise(recall, measure, goal)
    recall = refined(recall, measure, goal)
    cal = Calibration(knob=knob, recall=recall, n_indexed=len(indexed_slots))
    if not with_filters:
        return cal

    rows: list[dict[str, float]] = []
    fq = queries[:FILTER_QUERIES]  # timing every strategy: fewer queries than the recall table
    cells = _cell_of(flat, cand, rng)
    # a graph walk crosses the space to clustered matches, IVF sees only its probed cells: IVF is
    # calibrated against fully clustered filters, HNSW against half-clustered ones
    clustered = 0.5 if knob == "ef_search" else 1.0
    for sel in SELECTIVITIES:
        mask = clustered_mask(cells, cand, n_slots, sel, rng, clustered=clustered)
        subset = np.flatnonzero(mask)
        if len(subset) < K:
            continue
        ftruth, _ = flat.scan(fq, K, subset)
        exact_ms = _exact_ms(flat, subset, fq, rng)
        best = {"selectivity": sel, "exact_ms": exact_ms, "knob": 0.0, "ann_ms": math.inf, "post_ms": math.inf}
        for v in ladder:
            ms, res = _per_query_ms(lambda q, m=mask, v=v: ann_search(q, m, v), fq)
            if _recall(np.vstack(res), ftruth) >= NEEDED:
                best["knob"], best["ann_ms"] = float(v), ms
                break
            if ms > _GIVE_UP * exact_ms:  # far slower than scanning the matches: the index has lost here
                break
        if sel >= 0.1:  # post-filter: oversample the unfiltered search, keep what passes
            kk = int(math.ceil(K / sel * 1.5))
            base = max(kk, cal.knob_for_recall(TARGET)[0]) if knob == "ef_search" else cal.knob_for_recall(TARGET)[0]

            def post(q: np.ndarray, m: np.ndarray = mask, kk: int = kk, base: int = base) -> np.ndarray:
                slots = ann_search(q, allowed, base, kk)[0]
                keep = slots[(slots >= 0) & m[np.maximum(slots, 0)]][:K]
                return np.pad(keep, (0, K - len(keep)), constant_values=-1)

            ms, res = _per_query_ms(post, fq)
            if _recall(np.vstack(res), ftruth) >= NEEDED:
                best["post_ms"] = ms
        rows.append(best)
        release_pages(flat.vectors)  # (what the timed scans, IVF-PQ's rescoring, mapped in: not held by the build)
    exact_below, post_above = switch_points(rows)
    return Calibration(
        knob=knob, recall=recall, filtered=rows, exact_below=exact_below,
        post_filter_above=post_above, n_indexed=len(indexed_slots),
    )
