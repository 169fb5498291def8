"""How safe is the per-filter effort learning? Its rules replayed on thousands of resampled
query samples, against recall measured on every held-out query.

    .venv/bin/python benchmarks/effort_learning.py            # ~2 min with the 1M graph cached (~11 min to build it once)
    .venv/bin/python benchmarks/effort_learning.py --quick    # the 75k point only

For each scale point of the peer suite (``make bench-peers`` prepares them: arXiv titles 75k and
1M WordLlama chunks) and each filtered workload at 15 / 50 / 100 %, a FAISS HNSW graph with
vecnest's default parameters (``IndexConfig``: M, efConstruction) is searched once under the
filter's bitmap at every step of the effort ladder, giving each of the 500 held-out queries its
recall@10 at each step (truth: an exact scan of the matching rows). The learning rules of
:mod:`vecnest.search.effort` are then replayed on ``--draws`` random pairs of disjoint samples
(``SAMPLE`` queries measure, the next ``CONFIRM_SAMPLE`` confirm), for calibrated efforts of the
step below the least reaching the target (which learning must raise), the least and the next two
(the calibration is generous by design) and the efforts between them (the geometric mean of two
steps: a calibrated effort is interpolated at the filter's selectivity, so it is seldom a step
itself), and the learned effort's recall on all 500 queries is what a user would get:

- ``measure only``: the bisection of ``measure`` (``MARGIN_SE`` standard errors), adopted at once;
- ``previous release (32 + 32, lower only)``: 32-query samples; only an effort below the
  calibrated one was confirmed, on the next 32, stepping up to the calibrated effort, else that
  (a raise, or the calibrated effort, adopted on one sample);
- ``confirm on the fresh sample``: the release before that (74a3819): whatever the first
  sample measured is confirmed on the fresh one, trying the ladder's step below it, it, then the
  steps above it (``effort.confirm_steps``), the first clearing ``CONFIRM_SE`` standard errors
  (none: the first clearing ``MARGIN_SE``); none: unreached (the planner scans exactly);
- ``measure + confirm, ladder steps``: the release before this one (ee4ada4): the same steps and
  bars, judged on the fresh sample pooled with the first (``effort.confirm``'s ``measured_on``);
- ``measure + confirm``: what ships: pooled as that, trying the efforts halfway between the
  ladder's steps too (``effort.between``).

Note: the samples are drawn from the same 500 queries the recall is averaged over (192 of them
per draw), so a draw's samples are a little less independent of the population than an
application's would be.

Reported per rule: the share of draws whose learned effort gives recall below the target and below
target − 0.01, the share left unreached, the lowest recall, and the mean effort (the cost; an
unreached draw counts as the ladder's top step). The rules' constants are
imported from vecnest, so a change to them is what this measures. Writes
``benchmarks/results/effort-learning.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import faiss
import numpy as np
from _arxiv import CACHE
from _cli import Session, common_args, save
from _provenance import provenance
from peers.data import load_columns
from peers.predicates import WORKLOADS

from vecnest.config import IndexConfig
from vecnest.index.calibrate import _LADDER
from vecnest.search import effort

POINTS = ("arxiv-75k", "arxiv-1m")
#: Efforts between the ladder's steps (their geometric means): calibrated efforts as interpolated,
#: and the finer steps the confirmation tries (``effort.between``).
BETWEEN = effort.between("ef_search")
SELS = ("sel_15%", "sel_50%", "sel_100%")
TARGET = 0.95
K = 10


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_args(p, "effort-learning.json", "the 75k point only")
    p.add_argument("--draws", type=int, default=2000, help="resampled sample pairs per case (default 2000)")
    return p.parse_args(argv)


def recall_table(point: str, session: Session) -> dict[str, dict[int, np.ndarray]]:
    """Per workload, per ladder step (and :data:`BETWEEN` effort): each held-out query's
    recall@10 under the filter."""
    folder = CACHE / "peers" / "data" / point
    if not (folder / "base.npy").is_file():
        raise SystemExit(f"{folder} is missing: run `make bench-peers` (or bench-peers-1m) first to prepare it")
    base = np.load(folder / "base.npy", mmap_mode="r")
    queries = np.load(folder / "queries.npy")
    n, dim = base.shape
    cfg = IndexConfig()
    path = CACHE / "effort-learning" / f"{point}-hnsw-m{cfg.m}-efc{cfg.ef_construction}.faiss"
    if path.is_file():
        index = faiss.read_index(str(path))
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        index = faiss.IndexHNSWFlat(dim, cfg.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = cfg.ef_construction
        advance = session.start_task(f"{point}: building the graph", n)
        for s in range(0, n, 50_000):
            index.add(np.ascontiguousarray(base[s : s + 50_000], dtype=np.float32))
            advance(min(50_000, n - s))
        faiss.write_index(index, str(path))
        session.log(f"{point}: graph built in {time.perf_counter() - t:.0f} s")
    cols = load_columns(folder)
    out: dict[str, dict[int, np.ndarray]] = {}
    for w in SELS:
        mask = cols.mask(WORKLOADS[w]["pred"])
        slots = np.flatnonzero(mask)
        flat = faiss.IndexFlatIP(dim)
        flat.add(np.ascontiguousarray(base[slots], dtype=np.float32))
        _, top = flat.search(queries, K)
        truth = [set(slots[t].tolist()) for t in top]
        packed = np.packbits(mask, bitorder="little")
        sel = faiss.IDSelectorBitmap(n, faiss.swig_ptr(packed))
        out[w] = {}
        efforts = sorted({*_LADDER["ef_search"], *BETWEEN})
        advance = session.start_task(f"{point} {w}: the ladder", len(efforts))
        for ef in efforts:
            params = faiss.SearchParametersHNSW(efSearch=ef, sel=sel)
            _, got = index.search(queries, K, params=params)
            out[w][ef] = np.array([len(t & set(g[g >= 0].tolist())) / K for t, g in zip(truth, got, strict=True)])
            advance(1)
        del sel, packed
    return out


def learn(rec: dict[int, np.ndarray], sample: np.ndarray, calibrated: int, ladder: list[int] | None = None) -> int | None:
    """``effort.measure`` on the per-query recalls of ``sample`` (its own ladder, test and
    bisection); ``None``: unreached (the planner then scans exactly)."""
    ladder = ladder or effort.ladder_for("ef_search", calibrated, len(sample))
    least = effort.least_passing(
        len(ladder), ladder.index(calibrated), lambda i: effort.clears(rec[ladder[i]][sample], TARGET, effort.MARGIN_SE)
    )
    return None if least is None else ladder[least]


#: The rule of the previous release: 32-query samples, and only an effort below the calibrated
#: one confirmed (on the next 32), stepping up to the calibrated effort, else that.
PREVIOUS_SAMPLE = 32


def previous_rule(rec: dict[int, np.ndarray], perm: np.ndarray, calibrated: int) -> int | None:
    first, fresh = perm[:PREVIOUS_SAMPLE], perm[PREVIOUS_SAMPLE : 2 * PREVIOUS_SAMPLE]
    # (its ladder: a 32-query sample was a full one then, searched down to FLOOR)
    ladder = sorted({*(v for v in _LADDER["ef_search"] if effort.FLOOR * calibrated <= v <= effort._CEILING * calibrated), calibrated})
    ef = learn(rec, first, calibrated, ladder)
    if ef is None or ef >= calibrated:
        return ef
    for e in (ef, *(v for v in _LADDER["ef_search"] if ef < v < calibrated)):
        if effort.clears(rec[e][fresh], TARGET, effort.CONFIRM_SE):
            return e
    return calibrated


#: The rules replayed, in the order reported.
RULES = (
    "measure only", "previous release (32 + 32, lower only)", "confirm on the fresh sample",
    "measure + confirm, ladder steps", "measure + confirm",
)


def coarse_steps(candidate: int, calibrated: int) -> list[int]:
    """``effort.confirm_steps`` of the release before this one (ee4ada4): the ladder's steps
    only, without the efforts between them."""
    top = effort._CEILING * calibrated
    ladder = sorted({*(v for v in _LADDER["ef_search"] if v <= top), calibrated, candidate})
    at = ladder.index(candidate)
    below = ladder[at - 1 : at] if at and ladder[at - 1] >= effort.FLOOR * calibrated else []
    return [*below, *ladder[at:]]


def confirmed(rec: dict[int, np.ndarray], candidate: int | None, calibrated: int, on: np.ndarray, coarse: bool = False) -> int | None:
    """``effort.confirm`` on the per-query recalls of ``on``: the first of ``confirm_steps``
    (``coarse``: :func:`coarse_steps`) clearing ``CONFIRM_SE`` standard errors, else the first
    clearing ``MARGIN_SE``, else ``None``."""
    if candidate is None:
        return None
    steps = coarse_steps(candidate, calibrated) if coarse else effort.confirm_steps("ef_search", candidate, calibrated)
    for margin in (effort.CONFIRM_SE, effort.MARGIN_SE):
        got = effort.confirmed_effort(steps, lambda e, m=margin: effort.clears(rec[e][on], TARGET, m))
        if got is not None:
            return got
    return None


def replay(rec: dict[int, np.ndarray], calibrated: int, draws: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """The learned effort of each rule on ``draws`` random pairs of disjoint samples: ``None``
    where no effort reached the target (the planner scans exactly: recall 1.0, at a cost the
    mean effort counts as the ladder's top step)."""
    n = len(next(iter(rec.values())))
    pop = {ef: float(r.mean()) for ef, r in rec.items()}
    top = effort.ladder_for("ef_search", calibrated, effort.SAMPLE)[-1]
    learned: dict[str, list[int | None]] = {r: [] for r in RULES}
    for _ in range(draws):
        perm = rng.permutation(n)
        first, fresh = perm[: effort.SAMPLE], perm[effort.SAMPLE : effort.SAMPLE + effort.CONFIRM_SAMPLE]
        ef = learn(rec, first, calibrated)
        learned["measure only"].append(ef)
        learned["previous release (32 + 32, lower only)"].append(previous_rule(rec, perm, calibrated))
        learned["confirm on the fresh sample"].append(confirmed(rec, ef, calibrated, fresh, coarse=True))
        pooled = perm[: effort.SAMPLE + effort.CONFIRM_SAMPLE]
        learned["measure + confirm, ladder steps"].append(confirmed(rec, ef, calibrated, pooled, coarse=True))
        learned["measure + confirm"].append(confirmed(rec, ef, calibrated, pooled))
    rows = []
    for rule, efs in learned.items():
        got = np.array([1.0 if e is None else pop[e] for e in efs])
        cost = [top if e is None else e for e in efs]
        rows.append({
            "rule": rule,
            "calibrated": calibrated,
            "p_below_target": round(float(np.mean(got < TARGET)), 4),
            "p_below_target_minus_0.01": round(float(np.mean(got < TARGET - 0.01)), 4),
            "p_unreached": round(float(np.mean([e is None for e in efs])), 4),
            "min_recall": round(float(got.min()), 4),
            "mean_effort": round(float(np.mean(cost)), 1),
        })
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.time()
    prov = provenance()
    rng = np.random.default_rng(0)
    cases: list[dict[str, Any]] = []
    with Session() as session:
        for point in POINTS[:1] if args.quick else POINTS:
            for w, rec in recall_table(point, session).items():
                pop = {ef: float(r.mean()) for ef, r in rec.items()}
                need = min((ef for ef in _LADDER["ef_search"] if pop[ef] >= TARGET), default=None)
                if need is None:
                    continue
                # (calibrated from one step below what the population needs, which learning must raise, to two above)
                steps = [ef for ef in _LADDER["ef_search"] if ef >= need][:3]
                steps = [*(ef for ef in _LADDER["ef_search"] if ef < need)][-1:] + steps
                for cal in sorted({*steps, *(e for e in BETWEEN if steps[0] < e < steps[-1])}):
                    for row in replay(rec, cal, args.draws, rng):
                        cases.append({"point": point, "workload": w, "needed_effort": need, **row})
                session.log(f"{point} {w}: needed ef {need}; recall by step " + ", ".join(f"{ef}: {pop[ef]:.3f}" for ef in sorted(pop) if ef in _LADDER["ef_search"]))
        data = {
            "benchmark": "effort-learning",
            "title": "Per-filter effort learning: resampled safety of its rules",
            "provenance": prov,
            "duration_s": time.time() - started,
            "config": {"draws": args.draws, "sample": effort.SAMPLE, "confirm_sample": effort.CONFIRM_SAMPLE, "margin_se": effort.MARGIN_SE, "confirm_se": effort.CONFIRM_SE,
                       "floor": effort.FLOOR, "target": TARGET, "queries_per_point": 500},
            "cases": cases,
        }
        save(session, args.out, data, report=not args.no_report)
        print(json.dumps(cases[:2], indent=1))


if __name__ == "__main__":
    main()
