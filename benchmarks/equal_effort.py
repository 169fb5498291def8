"""vecnest against the raw FAISS call on the same HNSW graph, at the same effort.

    .venv/bin/python benchmarks/equal_effort.py            # ~4 min on a quiet 2-core machine
    .venv/bin/python benchmarks/equal_effort.py --quick    # smoke: 10k rows, 100 queries, 2 reps

On the 75k arXiv title vectors, in one process, one thread, interleaved query by query
(the sides' order changing from query to query in a carry-over balanced cycle: each side runs
first, second … equally often, and follows each other side equally often, never itself):

1. **Façade overhead** (unfiltered): ``col.search(q, k=10, ef_search=E, include=())`` against
   ``index.search_c`` with cached ``SearchParametersHNSW(efSearch=E)`` on the same graph object
   (the searches of each step run different queries, so none walks nodes another just
   brought into the CPU caches).
   Overhead = median(vecnest) / median(FAISS) − 1; issue target ≤ 10 %. For context, the
   same against FAISS's documented Python call ``index.search(x, k, params=...)``, interleaved
   as a third side (the verdict stays against ``search_c``, the leanest call FAISS offers), and
   the **Python floor** as a fourth: the least a Python façade returning vecnest's ``Hits`` does
   per query (normalise the query, the same ``search_c`` call, slots to ids, ten ``Hit``
   objects; no argument checks, no freshness check, no plan lookup) — what is left of the
   overhead once the façade's own work is gone (see :class:`PythonFloor`).
2. **Equal-effort filtered cost** at 15 % and 50 % selectivity (and the other points): vecnest
   forced to ``strategy="ann_filtered", ef_search=E`` against FAISS with the same cached filter
   bitmap (``IDSelectorBitmap``) in cached ``SearchParametersHNSW(efSearch=E, sel=…)``, over the
   ef grid (on the graph itself, the bitmap permuted to graph positions, as vecnest searches it:
   see ``RawFaiss``), the Python floor beside them. Cost ratio = median(vecnest) / median(FAISS); issue target ≤ 1.1× at 15–50 %. The
   distance computations of both (vecnest's plan, FAISS's ``hnsw_stats``) show whether extra
   time is extra graph work or overhead.
3. **Default effort**: per workload, the effort vecnest's default uses (its plan, once the
   workload's queries have been searched: a repeated filter's effort is learned from its first
   64 distinct queries and confirmed on the next 128) against the least effort of the grid whose recall@10 reaches 0.95 on that
   workload; issue target: at most one grid step above.

The graph: the FAISS index object vecnest itself searches (FAISS is called on the same graph in
the same memory: a second copy read from the file would compete with it for the CPU caches,
interleaved query by query), else vecnest's own index file, read with ``faiss.read_index``
(labels = slots = row numbers, as rows are added in order) when exactly one ``*.faiss`` file is
in the store; else a
FAISS ``IndexHNSWSQ(fp16, M=32, efConstruction=128)`` built on the same rows in the same order
(recorded in the result). Writes ``benchmarks/results/equal-effort.json``.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from _arxiv import CACHE, Point, build_store, load_point
from _cli import Session, common_args, save
from _provenance import provenance
from _stats import Verdict, overshoot_steps, pick_effort, ratio_of_medians, verdict
from rich.table import Table

from peers.runner import ground_truth, recall_at_k
from peers.systems import EF_GRID

K = 10
OVERHEAD_GOAL = 1.10  # vecnest / raw FAISS, unfiltered
EQUAL_EFFORT_GOAL = 1.10  # vecnest / raw FAISS, filtered, at 15-50 %
GOAL_WORKLOADS = ("sel_15%", "sel_50%")
ALL_WORKLOADS = ("unfiltered", "sel_0.1%", "sel_1%", "sel_2%", "sel_15%", "sel_50%", "sel_100%")
RECALL_TARGET = 0.95
#: Orders of ``m`` interleaved sides (positions in the list of sides), one per query, cycled:
#: each side takes each place equally often and, across the whole cycle (the last of one
#: order before the first of the next included), follows each other side equally often and
#: never itself, so no side's walk inherits more of another's CPU-cache footprint (checked by
#: the harness's tests).
BALANCED: dict[int, list[tuple[int, ...]]] = {
    2: [(0, 1), (1, 0)],
    3: [(0, 1, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0), (1, 0, 2), (0, 2, 1)],
    4: [(0, 1, 2, 3), (0, 1, 2, 3), (0, 2, 1, 3), (1, 0, 3, 2), (1, 3, 0, 2), (3, 2, 1, 0),
        (1, 3, 2, 0), (2, 0, 3, 1), (2, 0, 3, 1), (2, 3, 0, 1), (3, 2, 1, 0), (3, 1, 0, 2)],
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_args(p, "equal-effort.json", "10k rows, 100 queries, 2 repetitions")
    p.add_argument("--reps", type=int, default=5, help="repetitions over the queries (default 5)")
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--no-floor", action="store_true", help="leave the Python floor out (a control: does timing a fourth side change the others?)")
    p.add_argument("--efs", default="16,32,64,128,256", help="ef_search values of the equal-effort comparison (default 16,32,64,128,256)")
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------
# the raw index
# ---------------------------------------------------------------------------------------------


def raw_index(store: Path, point: Point, col: Any) -> tuple[Any, str, int]:
    """The FAISS index object vecnest itself searches (the graph in its memory), else vecnest's
    HNSW file read by FAISS, else an equivalent FAISS index built here.

    The same object, not a second copy: interleaved query by query, two copies of a 75k graph
    (~80 MB each) compete for the CPU caches, which slowed each side's walk by up to ~70 % on
    this machine (raw FAISS ef 32: ~105 us beside its own copy, ~175 us beside vecnest's) and
    so diluted the measured overhead. The graph is moved onto huge pages first, as vecnest's
    searches do in the background (see ``vecnest.search.promote``), so the raw call searches
    the same pages vecnest does."""
    import faiss

    from vecnest.index import promotion

    col.search(point.queries[0], k=K, include=())  # (loads the index)
    snap = col._source.current()  # (private: the benchmark's only look inside the collection)
    ann = col._source.usable_ann(snap)
    if ann is not None and ann.index.ntotal == point.n:
        files = sorted(store.rglob("*.faiss"))
        # onto huge pages now (the store is opened with huge_pages=False: no background copy
        # later, mid-measurement): both sides search the same pages
        huge = promotion.promote(ann, store / "segments" / ann.file, dim=point.base.shape[1], n_indexed=point.n) if ann.file else 0
        return ann.index, (
            f"vecnest's own index object ({files[0].name if len(files) == 1 else 'its index file'}, as vecnest loaded it): "
            "FAISS called on the graph vecnest searches, in the same memory"
        ), huge
    files = sorted(store.rglob("*.faiss"))
    if len(files) == 1:
        try:
            index = faiss.read_index(str(files[0]))
            if index.ntotal == point.n:
                return index, f"vecnest's own index file ({files[0].name}) read with faiss.read_index: the identical graph", 0
        except RuntimeError:
            pass
    faiss.omp_set_num_threads(1)
    index = faiss.IndexHNSWSQ(point.base.shape[1], faiss.ScalarQuantizer.QT_fp16, 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 128
    index.add(point.base)
    return index, f"rebuilt: IndexHNSWSQ(fp16, M=32, efConstruction=128) on the same rows in the same order ({len(files)} index files found in the store)", 0


class RawFaiss:
    """The raw call: ``search_c`` with cached parameters and a cached bitmap per workload.

    A graph inside an ``IndexIDMap`` (vecnest's own file) is searched as a FAISS user would
    whose ids are not graph positions: unfiltered through the id map; filtered on the graph
    itself with the workload's mask permuted to graph positions once (outside the timed loop;
    the id map would translate every candidate of the walk), the ``k`` labels translated back
    with numpy (timed) — as vecnest does."""

    def __init__(self, index: Any) -> None:
        import faiss

        # one query at a time on one thread, as a competent FAISS user serving single queries
        # sets it (vecnest sets it per call): an idle OpenMP team spinning on the other core
        # slowed the raw call by up to 9 % at ef 256 on this 2-vCPU machine
        faiss.omp_set_num_threads(1)
        self.faiss = faiss
        self.index = index
        self.inner = None
        self.slot_of: np.ndarray | None = None
        outer = faiss.downcast_index(index)
        if isinstance(outer, (faiss.IndexIDMap, faiss.IndexIDMap2)):
            self.inner = faiss.downcast_index(outer.index)  # (owned by index, kept alive with it)
            self.slot_of = np.append(faiss.vector_to_array(outer.id_map).astype(np.int64), -1)
        self._params: dict[tuple[str, int], Any] = {}
        self._keep: dict[str, Any] = {}
        self.dist = np.empty((1, K), dtype=np.float32)
        self.labels = np.empty((1, K), dtype=np.int64)

    def params(self, workload: str, mask: np.ndarray | None, ef: int) -> Any:
        key = (workload, ef)
        if key not in self._params:
            f = self.faiss
            if mask is None:
                self._params[key] = f.SearchParametersHNSW(efSearch=ef)
            else:
                if workload not in self._keep:
                    by_position = mask if self.slot_of is None else mask[self.slot_of[:-1]]
                    bits = np.packbits(by_position, bitorder="little")
                    self._keep[workload] = (bits, f.IDSelectorBitmap(len(bits), f.swig_ptr(bits)))
                self._params[key] = f.SearchParametersHNSW(efSearch=ef, sel=self._keep[workload][1])
        return self._params[key]

    def search(self, q: np.ndarray, params: Any) -> np.ndarray:
        f = self.faiss
        direct = self.inner is not None and params.sel is not None
        (self.inner if direct else self.index).search_c(1, f.swig_ptr(q), K, f.swig_ptr(self.dist), f.swig_ptr(self.labels), params)
        return self.slot_of[self.labels[0]] if direct else self.labels[0]

    def search_api(self, q: np.ndarray, params: Any) -> np.ndarray:
        """FAISS's documented Python call, ``index.search(x, k, params=...)`` (it checks the
        arguments and allocates its outputs, as an application calling FAISS from Python does):
        context for the overhead, whose target is measured against ``search_c``."""
        return self.index.search(q[None, :], K, params=params)[1][0]

    def ndis(self, queries: np.ndarray, params: Any) -> float:
        """Mean distance computations per query (FAISS's ``hnsw_stats``)."""
        stats = self.faiss.cvar.hnsw_stats
        stats.reset()
        for q in queries:
            self.search(q, params)
        return float(stats.ndis) / len(queries)


class PythonFloor:
    """The least per-query work of a Python façade over :class:`RawFaiss`'s call that returns
    what vecnest returns (``Hits`` of ``Hit(id, score)``): the query normalised (cosine), the
    same ``search_c`` with the same cached parameters, graph positions to slots (filtered),
    slots to the stored ids (a fixed-width bytes array decoded, as vecnest keeps them), ten
    ``Hit`` objects. No argument checks, no snapshot freshness check, no plan lookup: the
    overhead a façade cannot shed while it stays in Python and builds result objects."""

    def __init__(self, raw: RawFaiss, n: int) -> None:
        from vecnest import Hit, Hits

        self.raw = raw
        self.ids = np.array([str(i).encode() for i in range(n)])  # (the ids build_store gives the rows)
        self.hit, self.hits = Hit, Hits
        self.ptr = raw.faiss.swig_ptr

    def search(self, q: np.ndarray, params: Any) -> Any:
        raw, ptr = self.raw, self.ptr
        unit = q * (1.0 / math.sqrt(float(np.vdot(q, q))))  # (a Python float: the product stays float32)
        dist = np.empty((1, K), dtype=np.float32)
        labels = np.empty((1, K), dtype=np.int64)
        direct = raw.inner is not None and params.sel is not None
        (raw.inner if direct else raw.index).search_c(1, ptr(unit), K, ptr(dist), ptr(labels), params)
        slots = raw.slot_of[labels[0]] if direct else labels[0]
        if slots.item(K - 1) < 0:  # (a short list: FAISS's filtered walks at 1-2 %)
            keep = slots >= 0
            slots, scores = slots[keep], dist[0][keep]
        else:
            scores = dist[0]
        return self.hits(map(self.hit, map(bytes.decode, self.ids[slots].tolist()), scores.tolist(), itertools.repeat(None)))


# ---------------------------------------------------------------------------------------------
# measurement
# ---------------------------------------------------------------------------------------------


def paired(
    col: Any, raw: RawFaiss, point: Point, qidx: np.ndarray, workload: str, ef: int, reps: int, kw: dict[str, Any], *, api: bool = False, floor: PythonFloor | None = None
) -> dict[str, Any]:
    """Per-query latencies of vecnest and FAISS, interleaved query by query (with ``api``,
    FAISS's Python call ``index.search`` as another side; with ``floor``, the Python floor as
    another; the orders of :data:`BALANCED` cycling through the steps). All search the same graph
    object, so the sides of a step run different queries (side ``s`` of ``m`` the query
    ``s / m`` of the list away): a walk right after the same query's walk would find its
    nodes in the CPU caches. Every query is still searched once per repetition by each side."""
    where = point.where(workload)
    params = raw.params(workload, point.mask(workload), ef)
    q = point.queries
    col.search(q[qidx[0]], k=K, where=where, include=(), ef_search=ef, **kw)  # warm them all
    raw.search(q[qidx[0]], params)
    sides = [0, 1] + ([2] if api else []) + ([3] if floor is not None else [])
    if api:
        raw.search_api(q[qidx[0]], params)
    if floor is not None:
        floor.search(q[qidx[0]], params)
    m = len(sides)
    lat = {side: np.full((reps, len(qidx)), np.nan) for side in (0, 1, 2, 3)}
    n = len(qidx)
    ids_v: list[list[int]] = [[] for _ in range(n)]
    ids_f: list[list[int]] = [[] for _ in range(n)]
    ids_p: list[list[int]] = [[] for _ in range(n)]
    order = qidx.tolist()
    perf = time.perf_counter
    orders = [tuple(sides[i] for i in o) for o in BALANCED[m]]
    offset = {side: (pos * n) // m for pos, side in enumerate(sides)}  # (vecnest's query: j; FAISS's: half the list away with two sides)
    for r in range(reps):
        for j in range(n):
            for side in orders[(r + j) % len(orders)]:
                js = (j + offset[side]) % n
                t0 = perf()
                if side == 0:
                    hits = col.search(q[order[js]], k=K, where=where, include=(), ef_search=ef, **kw)
                    lat[0][r, js] = perf() - t0
                    if r == 0:
                        ids_v[js] = [int(h.id) for h in hits]
                elif side == 1:
                    lab = raw.search(q[order[js]], params)
                    lat[1][r, js] = perf() - t0
                    if r == 0:
                        ids_f[js] = [int(x) for x in lab if x >= 0]
                elif side == 2:
                    raw.search_api(q[order[js]], params)
                    lat[2][r, js] = perf() - t0
                else:
                    got = floor.search(q[order[js]], params)  # type: ignore[union-attr]
                    lat[3][r, js] = perf() - t0
                    if r == 0:
                        ids_p[js] = [int(h.id) for h in got]
    return {"lat_v": lat[0], "lat_f": lat[1], "lat_a": lat[2] if api else None, "lat_p": lat[3] if floor is not None else None, "ids_v": ids_v, "ids_f": ids_f, "ids_p": ids_p}


def _recall(ids: list[list[int]], truth: list[list[int]]) -> float:
    vals = [recall_at_k(f, t) for f, t in zip(ids, truth, strict=True)]
    vals = [v for v in vals if v is not None]
    return float(np.mean(vals)) if vals else float("nan")


def _plans(col: Any, point: Point, qidx: np.ndarray, workload: str, **kw: Any) -> list[Any]:
    return [col.search(point.queries[i], k=K, where=point.where(workload), include=(), explain=True, **kw).plan for i in qidx.tolist()]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    efs = [int(x) for x in args.efs.split(",")]
    reps = 2 if args.quick and args.reps == 5 else args.reps
    n_queries = 100 if args.quick else args.queries
    started = time.monotonic()
    out: dict[str, Any] = {"benchmark": "equal-effort", "title": "Equal effort: vecnest vs the raw FAISS call on the same graph", "provenance": provenance(), "config": {"reps": reps, "queries": n_queries, "efs": efs, "quick": args.quick, "k": K, "floor": not args.no_floor}}
    import vecnest

    with Session() as ses:
        point = load_point(args.shared.resolve(), ses.log, ses.start_task)
        if args.quick:
            point = point.subset(10_000)
        qidx = np.arange(min(n_queries, len(point.queries)))
        store = CACHE / "equal-effort" / "store"
        adv = ses.start_task("build vecnest-hnsw store (bulk)", point.n)
        out["build"] = build_store(store, point, index="hnsw", advance=adv)
        db = vecnest.open(store, read_only=True, huge_pages=False)  # (promoted once, below: see raw_index)
        col = db.get_collection("bench", model=None)
        index, how, huge = raw_index(store, point, col)
        how += f"; {huge >> 20} MiB of it on huge pages (vecnest.index.promotion)" if huge else "; not on huge pages (a file under 16 MiB, or none granted)"
        out["graph"] = how
        out["graph_huge_pages_bytes"] = huge
        ses.log(how)
        raw = RawFaiss(index)
        floor = None if args.no_floor else PythonFloor(raw, point.n)
        out["n"], out["n_queries"] = point.n, len(qidx)
        truth = {w: ground_truth(point.base, point.queries[qidx], point.mask(w)) for w in ALL_WORKLOADS}
        sel = {w: (float(point.mask(w).mean()) if w != "unfiltered" else 1.0) for w in ALL_WORKLOADS}
        out["workloads"] = {w: {"selectivity": sel[w], "where": point.where(w)} for w in ALL_WORKLOADS}

        # 3. default effort first (cheap, explains what the default does)
        adv = ses.start_task("default effort vs needed (explain + recall per ef)", len(ALL_WORKLOADS) * (len(EF_GRID) + 1))
        out["default_effort"] = {}
        for w in ALL_WORKLOADS:
            # the default as an application sees it: from the first query on (vecnest learns a
            # repeated filter's effort from its first 64 + 128 queries, which are part of these)
            default_hits = [col.search(point.queries[i], k=K, where=point.where(w), include=()) for i in qidx.tolist()]
            plans = _plans(col, point, qidx[:50], w)  # the settled plan
            adv(1)
            used = [int(v) for p in plans for n, v in (p.knob or {}).items() if n == "ef_search"]  # (not a sketch plan's depth)
            strategies = sorted({str(p.strategy) for p in plans})
            recalls = []
            for ef in EF_GRID:
                hits = [col.search(point.queries[i], k=K, where=point.where(w), include=(), ef_search=ef) for i in qidx.tolist()]
                recalls.append(_recall([[int(h.id) for h in hs] for hs in hits], truth[w]))
                adv(1)
            entry: dict[str, Any] = {"strategies": strategies, "default_recall": _recall([[int(h.id) for h in hs] for hs in default_hits], truth[w]), "recall_by_ef": dict(zip(map(str, EF_GRID), recalls, strict=True))}
            i = pick_effort(recalls, RECALL_TARGET)
            if used and i is not None:
                med = float(np.median(used))
                steps = overshoot_steps(EF_GRID, EF_GRID[i], med)
                entry.update({"used_median": med, "used_min": min(used), "used_max": max(used), "needed": EF_GRID[i], "steps_above": steps, "verdict": (Verdict.MET if steps <= 1 else Verdict.NOT_MET).value})
            else:
                how = ", ".join(strategies)
                entry.update({"verdict": "n/a", "why": f"the default plan searched no index ({how})" if not used else f"no ef up to {EF_GRID[-1]} reached {RECALL_TARGET}"})
            out["default_effort"][w] = entry

        # 1. façade overhead, unfiltered
        over_efs = sorted({*efs[:3], int(out["default_effort"]["unfiltered"].get("used_median") or 64)})
        adv = ses.start_task(f"façade overhead: {len(over_efs)} ef × {reps} reps", len(over_efs))
        out["overhead"] = []
        for ef in over_efs:
            m = paired(col, raw, point, qidx, "unfiltered", ef, reps, {}, api=True, floor=floor)
            sp = ratio_of_medians(m["lat_v"], m["lat_f"])
            row = _row("unfiltered", ef, m, sp, truth["unfiltered"], OVERHEAD_GOAL)
            api = ratio_of_medians(m["lat_v"], m["lat_a"])  # (context: the target is against search_c)
            row["faiss_api_p50_ms"] = float(np.nanmedian(m["lat_a"]) * 1e3)
            row["cost_ratio_vs_api"] = api.to_json() if api else None
            out["overhead"].append(row)
            adv(1)

        # 2. equal-effort filtered
        wl = [w for w in ALL_WORKLOADS if w not in ("unfiltered", "sel_0.1%")]
        adv = ses.start_task(f"equal effort, filtered: {len(wl)} workloads × {len(efs)} ef × {reps} reps", len(wl) * len(efs))
        out["filtered"] = []
        for w in wl:
            for ef in efs:
                m = paired(col, raw, point, qidx, w, ef, reps, {"strategy": "ann_filtered"}, floor=floor)
                sp = ratio_of_medians(m["lat_v"], m["lat_f"])
                row = _row(w, ef, m, sp, truth[w], EQUAL_EFFORT_GOAL if w in GOAL_WORKLOADS else None)
                plans = _plans(col, point, qidx[:30], w, ef_search=ef, strategy="ann_filtered")
                row["vecnest_effort_used"] = sorted({int(v) for p in plans for v in (p.knob or {}).values()})
                row["vecnest_distances_per_query"] = float(np.mean([p.candidates_visited for p in plans]))
                row["faiss_distances_per_query"] = raw.ndis(point.queries[qidx[:30]], raw.params(w, point.mask(w), ef))
                out["filtered"].append(row)
                adv(1)
        db.close()
        out["duration_s"] = time.monotonic() - started
        print_summary(ses, out)
        save(ses, args.out, out, report=not args.no_report)
    return 0


def _row(workload: str, ef: int, m: dict[str, Any], sp: Any, truth: list[list[int]], goal: float | None) -> dict[str, Any]:
    agree = float(np.mean([set(a) == set(b) for a, b in zip(m["ids_v"], m["ids_f"], strict=True)]))
    return {
        "workload": workload,
        "ef": ef,
        "vecnest_p50_ms": float(np.nanmedian(m["lat_v"]) * 1e3),
        "faiss_p50_ms": float(np.nanmedian(m["lat_f"]) * 1e3),
        "extra_us": float((np.nanmedian(m["lat_v"]) - np.nanmedian(m["lat_f"])) * 1e6),
        "cost_ratio": sp.to_json() if sp else None,
        "goal": goal,
        "verdict": verdict(sp, goal, higher_is_better=False).value if goal else None,
        "vecnest_recall": _recall(m["ids_v"], truth),
        "faiss_recall": _recall(m["ids_f"], truth),
        "same_top10_fraction": agree,
        **_floor(m),
    }


def _floor(m: dict[str, Any]) -> dict[str, Any]:
    """The Python floor's latency and its cost ratio to the raw call (``{}`` when not timed)."""
    if m.get("lat_p") is None:
        return {}
    sp = ratio_of_medians(m["lat_p"], m["lat_f"])
    return {
        "floor_p50_ms": float(np.nanmedian(m["lat_p"]) * 1e3),
        "floor_extra_us": float((np.nanmedian(m["lat_p"]) - np.nanmedian(m["lat_f"])) * 1e6),
        "floor_cost_ratio": sp.to_json() if sp else None,
        # (a check that the floor ran the same search: its lists equal the raw call's)
        "floor_same_as_faiss": float(np.mean([a == b for a, b in zip(m["ids_p"], m["ids_f"], strict=True)])),
    }


def print_summary(ses: Session, out: dict[str, Any]) -> None:
    t = Table(title="vecnest / raw FAISS on the same graph, same ef (cost ratio: ≤ 1.10 is the goal)")
    for c in ("workload", "ef", "vecnest p50 ms", "FAISS p50 ms", "extra µs", "cost ratio [spread]", "verdict", "Python floor ratio", "recall v / f", "same top-10"):
        t.add_column(c, justify="left" if c in ("workload", "verdict") else "right")
    for r in out["overhead"] + out["filtered"]:
        sp = r["cost_ratio"] or {}
        fl = r.get("floor_cost_ratio") or {}
        t.add_row(r["workload"], str(r["ef"]), f"{r['vecnest_p50_ms']:.3f}", f"{r['faiss_p50_ms']:.3f}", f"{r['extra_us']:.0f}", f"{sp.get('point', float('nan')):.2f} [{sp.get('lo', float('nan')):.2f}–{sp.get('hi', float('nan')):.2f}]", r["verdict"] or "", f"{fl.get('point', float('nan')):.2f}", f"{r['vecnest_recall']:.3f} / {r['faiss_recall']:.3f}", f"{r['same_top10_fraction']:.2f}")
    ses.console.print(t)
    t = Table(title="vecnest's default effort vs the least ef reaching recall 0.95 (goal: ≤ 1 step of the grid above)")
    for c in ("workload", "strategies", "default recall", "effort used", "needed", "steps", "verdict"):
        t.add_column(c)
    for w, e in out["default_effort"].items():
        t.add_row(w, ", ".join(e["strategies"]), f"{e['default_recall']:.3f}", str(e.get("used_median", "–")), str(e.get("needed", "–")), str(e.get("steps_above", "–")), e["verdict"])
    ses.console.print(t)


if __name__ == "__main__":
    raise SystemExit(main())
