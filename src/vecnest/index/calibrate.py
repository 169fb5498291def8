"""Build-time calibration of an approximate index, measured on the collection's own vectors.

Two tables come out of it, both saved with the index:

* recall@10 for each value of the search knob (``ef_search`` for HNSW, ``nprobe`` for IVF), so
  ``search(..., target_recall=0.95)`` can pick the cheapest knob that reaches it;
* for a ladder of filter selectivities, the knob that keeps recall@10 >= 0.95 under a filter
  bitmap and the per-query time of three strategies (exact scan of the matching rows, filtered
  ANN, post-filtering an oversampled unfiltered ANN), from which the planner's switch points
  (``exact_below``, ``post_filter_above``) are read.

Queries are stored vectors held out of the index while it is measured (they are added right
after), so the numbers are those of unseen queries, not inflated by the query's own graph node.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from vecnest.config import IndexKind
from vecnest.index.ann import AnnIndex
from vecnest.index.flat import FlatIndex

K = 10
TARGET = 0.95
SELECTIVITIES = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 0.6, 1.0)
_LADDER = {
    "ef_search": (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 1024, 2048),
    "nprobe": (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 128, 256),
}


@dataclass(frozen=True)
class Calibration:
    """What the planner knows about this index (see module docstring)."""

    knob: str
    recall: list[tuple[int, float]]
    filtered: list[dict[str, float]] = field(default_factory=list)
    exact_below: float = 0.01
    post_filter_above: float = 1.1
    n_indexed: int = 0  #: rows in the index when it was measured

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        """Inverse of :meth:`to_json`."""
        return cls(
            knob=data["knob"],
            recall=[(int(a), float(b)) for a, b in data["recall"]],
            filtered=list(data.get("filtered", [])),
            exact_below=float(data["exact_below"]),
            post_filter_above=float(data["post_filter_above"]),
            n_indexed=int(data.get("n_indexed", 0)),
        )

    def knob_for_recall(self, target: float) -> tuple[int, float]:
        """Cheapest knob whose measured recall@10 reaches ``target`` with a safety margin (the
        measured miss rate must be at most half the allowed one: 64 held-out queries are a
        noisy sample), else the best measured."""
        needed = target + (1.0 - target) * 0.5
        for value, rec in self.recall:
            if rec >= needed:
                return value, rec
        return max(self.recall, key=lambda t: (t[1], t[0]))

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


def _recall(got: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(set(g[g >= 0].tolist()) & set(t[t >= 0].tolist())) / max(1, (t >= 0).sum()) for g, t in zip(got, truth, strict=True)]
    return float(np.mean(hits))


def _per_query_ms(fn: Any, queries: np.ndarray) -> tuple[float, list[np.ndarray]]:
    out = []
    start = time.perf_counter()
    for q in queries:
        out.append(fn(q[None, :]))
    return (time.perf_counter() - start) * 1000 / len(queries), out


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
    queries = np.asarray(flat.vectors[query_slots], dtype=np.float32)
    allowed = np.zeros(n_slots, dtype=bool)
    allowed[indexed_slots] = True
    cand = np.flatnonzero(allowed)
    truth, _ = flat.search(queries, K, cand)

    pq = ann.config.kind is IndexKind.IVF_PQ

    def ann_search(q: np.ndarray, mask: np.ndarray, value: int, k: int = K) -> np.ndarray:
        fetch = k * ann.config.rescore_multiplier if pq else k
        slots, _, _ = ann.search(q, fetch, allowed=mask, **{knob: value})
        return flat.rescore(q, slots, k)[0] if pq else slots

    recall = [(v, _recall(ann_search(queries, allowed, v), truth)) for v in ladder]
    cal = Calibration(knob=knob, recall=recall, n_indexed=len(indexed_slots))
    if not with_filters:
        return cal

    rows: list[dict[str, float]] = []
    timing_q = queries[: min(16, len(queries))]
    for sel in SELECTIVITIES:
        mask = allowed & (rng.random(n_slots) < sel)
        subset = np.flatnonzero(mask)
        if len(subset) < K:
            continue
        ftruth, _ = flat.search(timing_q, K, subset)
        exact_ms, _ = _per_query_ms(lambda q, s=subset: flat.search(q, K, s)[0], timing_q)
        best = {"selectivity": sel, "exact_ms": exact_ms, "knob": 0.0, "ann_ms": math.inf, "post_ms": math.inf}
        for v in ladder:
            ms, res = _per_query_ms(lambda q, m=mask, v=v: ann_search(q, m, v), timing_q)
            if _recall(np.vstack(res), ftruth) >= TARGET:
                best["knob"], best["ann_ms"] = float(v), ms
                break
        if sel >= 0.1:  # post-filter: oversample the unfiltered search, keep what passes
            kk = int(math.ceil(K / sel * 1.5))
            base = max(kk, cal.knob_for_recall(TARGET)[0]) if knob == "ef_search" else cal.knob_for_recall(TARGET)[0]

            def post(q: np.ndarray, m: np.ndarray = mask, kk: int = kk, base: int = base) -> np.ndarray:
                slots = ann_search(q, allowed, base, kk)[0]
                keep = slots[(slots >= 0) & m[np.maximum(slots, 0)]][:K]
                return np.pad(keep, (0, K - len(keep)), constant_values=-1)

            ms, res = _per_query_ms(post, timing_q)
            if _recall(np.vstack(res), ftruth) >= TARGET:
                best["post_ms"] = ms
        rows.append(best)
    exact_below = 0.0
    for row in sorted(rows, key=lambda r: r["selectivity"]):  # exact is fastest up to here
        if row["exact_ms"] > min(row["ann_ms"], row["post_ms"]):
            break
        exact_below = row["selectivity"] * 1.0001
    post_above = 1.1
    for row in sorted(rows, key=lambda r: r["selectivity"]):
        if row["post_ms"] < row["ann_ms"] and row["post_ms"] < row["exact_ms"]:
            post_above = row["selectivity"]
            break
    return Calibration(
        knob=knob, recall=recall, filtered=rows, exact_below=exact_below,
        post_filter_above=post_above, n_indexed=len(indexed_slots),
    )
