"""Side-by-side peer benchmark: vecnest vs Chroma, LanceDB, Qdrant local, FAISS, hnswlib, usearch,
Milvus Lite — same vectors, same filters, k=10, same machine, one run, systems interleaved.

    .venv/bin/python benchmarks/peers.py --all      # SciFact, arXiv titles (75k), ≥1M chunks; ≤60 min
    .venv/bin/python benchmarks/peers.py            # SciFact and arXiv titles only
    .venv/bin/python benchmarks/peers.py --quick    # smoke: tiny subsets, two knobs per system

Writes ``benchmarks/results/peers.json``, PNG plots under ``benchmarks/results/`` and regenerates
``BENCHMARKS.md``. Each system runs in its own subprocess (``peers/worker.py``) so its memory is
measured alone; queries are issued one at a time (single-threaded query loop, one BLAS/OpenMP
thread), interleaved across systems chunk by chunk. Install the peers with
``pip install -e '.[bench]'``; a peer that cannot be imported or fails is recorded with its error.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import RESULTS_DIR, command_line, default_shared_dir, machine_info, require_files, write_json
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from peers import analysis, plots
from peers.data import load_columns, prepare
from peers.predicates import WORKLOADS
from peers.runner import K, Worker, WorkerError, ground_truth, knob_label, ndcg_at_10, operating_knob, run_interleaved, summarize
from peers.systems import SYSTEMS

BENCH_DIR = Path(__file__).resolve().parent
CACHE = BENCH_DIR / ".cache" / "peers"
TITLE = "Peers: vecnest vs Chroma, LanceDB, Qdrant, FAISS, hnswlib, usearch, Milvus Lite"

#: Per scale point: systems, workloads, queries, per-task time budget (s of summed latency).
POINTS: dict[str, dict[str, Any]] = {
    "scifact": {"systems": list(SYSTEMS), "workloads": [], "queries": None, "task_s": 8.0},
    "arxiv-75k": {"systems": list(SYSTEMS), "workloads": list(WORKLOADS), "queries": None, "task_s": 10.0},
    "arxiv-1m": {
        # in priority order: each is built only if its estimated build fits the remaining budget
        "systems": ["vecnest", "faiss-flat", "vecnest-hnsw", "faiss-hnsw", "faiss-ivfpq", "vecnest-ivf_pq", "hnswlib", "lance-ivfpq", "usearch", "chroma", "milvus-lite"],
        "workloads": ["sel_1%", "sel_10%"],
        "queries": 300,
        "task_s": 10.0,
    },
    "arxiv-10k": {"systems": list(SYSTEMS), "workloads": list(WORKLOADS), "queries": 30, "task_s": 2.0},
}
#: Growth of build time from 75k to 1M relative to row count (graph builds grow ~n log n).
BUILD_GROWTH = {"hnsw": 1.3, "default": 1.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--all", action="store_true", help="every scale point, including the ≥1M one")
    p.add_argument("--quick", action="store_true", help="smoke run on small subsets (a few minutes)")
    p.add_argument("--points", default=None, help="comma list of scale points (scifact,arxiv-75k,arxiv-1m,arxiv-10k)")
    p.add_argument("--systems", default=None, help="comma list of systems (default: all)")
    p.add_argument("--shared", type=Path, default=default_shared_dir(), help="folder with datasets/ and embeddings/ (default: $VECNEST_SHARED_DIR or <repo>/../shared)")
    p.add_argument("--queries", type=int, default=500, help="held-out arXiv titles used as queries (default 500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target-1m", type=int, default=1_000_000, help="minimum number of chunks for the large point")
    p.add_argument("--build-threads", type=int, default=1, help="threads for index builds (OpenMP / the library's thread argument); queries always use 1. Default 1: on a shared 2-core machine OpenMP with 2 threads was up to 4x slower (FAISS PQ training: 15 s on 1 thread, 70 s on 2)")
    p.add_argument("--budget-min", type=float, default=58.0, help="wall-clock budget for the whole run; the 1M point builds only what fits")
    p.add_argument("--task-scale", type=float, default=1.0, help="multiply every per-task query time budget")
    p.add_argument("--chunk", type=int, default=10, help="queries per interleaving chunk in the filtered workloads")
    p.add_argument("--chunk-unfiltered", type=int, default=50, help="queries per interleaving chunk in the unfiltered knob sweep (larger: fewer knob switches, which cost Chroma a client rebuild)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "peers.json")
    p.add_argument("--cache", type=Path, default=CACHE, help="scale-point vectors and the stores (gitignored)")
    p.add_argument("--keep-stores", action="store_true")
    p.add_argument("--no-report", action="store_true")
    return p.parse_args(argv)


class Run:
    def __init__(self, args: argparse.Namespace, console: Console, progress: Progress) -> None:
        self.args = args
        self.console = console
        self.progress = progress
        self.started = time.monotonic()
        self.deadline = self.started + args.budget_min * 60
        self.only = set(args.systems.split(",")) if args.systems else None

    def log(self, msg: str) -> None:
        self.progress.console.log(msg)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def start_task(self, label: str, total: int):  # noqa: ANN201
        task = self.progress.add_task(label, total=total)
        return lambda n: self.progress.advance(task, n)

    # ----------------------------------------------------------------------------------------
    def point(self, name: str, res: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
        args, cfg = self.args, dict(POINTS[name])
        quick = args.quick
        n_queries = cfg["queries"] if cfg["queries"] is not None else args.queries
        src = name if name != "arxiv-10k" else "arxiv-75k"
        folder = args.cache / "data" / src
        meta = prepare(src, args.shared, folder, n_queries=args.queries, seed=args.seed, target_1m=args.target_1m, start_task=self.start_task, log=self.log)
        if name == "arxiv-10k":
            folder, meta = self._subset(folder, meta, 10_000, args.cache / "data" / "arxiv-10k")
        base = np.load(folder / "base.npy")
        queries = np.load(folder / "queries.npy")
        query_idx = list(range(min(n_queries, len(queries))))
        cols = load_columns(folder) if (folder / "cols.npz").is_file() else None
        workloads = {w: meta["workloads"][w] for w in cfg["workloads"] if w in meta.get("workloads", {})}
        out: dict[str, Any] = {
            "name": name,
            "n": meta["n"],
            "dim": meta["dim"],
            "n_queries": len(query_idx),
            "k": K,
            **{k: meta[k] for k in ("vectors", "queries_from", "encoder", "embed_seconds", "n_papers") if k in meta},
            "workloads": {w: {"text": s["text"], "pred": s["pred"], "selectivity": s["selectivity"], "n_match": s["n_match"], "target": s["target"]} for w, s in workloads.items()},
            "task_budget_s": cfg["task_s"] * args.task_scale,
            "builds": {},
            "unfiltered": [],
            "filtered": {},
        }
        self.log(f"[bold]{name}[/]: {meta['n']:,} × {meta['dim']}, {len(query_idx)} queries, workloads: " + ", ".join(f"{w} ({s['selectivity']:.3%})" for w, s in workloads.items()))
        # ground truth (numpy, exact)
        t0 = time.perf_counter()
        truth = {None: ground_truth(base, queries[query_idx], None)}
        for w, spec in workloads.items():
            truth[w] = ground_truth(base, queries[query_idx], cols.mask(spec["pred"]))
        out["ground_truth_s"] = time.perf_counter() - t0
        n_base = len(base)
        del base

        systems = [s for s in cfg["systems"] if self.only is None or s in self.only]
        workers: dict[str, Worker] = {}
        work_root = args.cache / "stores" / name
        shutil.rmtree(work_root, ignore_errors=True)
        advance = self.start_task(f"{name}: build", len(systems))
        try:
            for s in systems:
                skip = self._should_skip(name, s, n_base, previous)
                if skip:
                    out["builds"][s] = {"status": "skipped", "reason": skip}
                    self.log(f"  {s}: skipped ({skip})")
                    advance(1)
                    continue
                w = Worker(s, args.cache / "logs" / name, args.build_threads)
                timeout = max(60.0, self.remaining() - 360) if name == "arxiv-1m" else None
                try:
                    resp = w.request({"op": "build", "system": s, "data": str(folder), "work": str(work_root / s), "threads": args.build_threads, "disk_sample": s == "qdrant-local" and name != "scifact"}, timeout=timeout)
                except WorkerError as exc:
                    resp = {"ok": False, "status": "error", "error": str(exc)}
                out["builds"][s] = {k: v for k, v in resp.items() if k != "ok"}
                if resp.get("ok"):
                    workers[s] = w
                    mem = resp["memory"]["steady_delta"] / 2**20
                    self.log(f"  {s}: built in {resp['build_s']:.1f} s, ~{mem:,.0f} MiB, {(resp.get('disk_bytes') or 0) / 2**20:,.0f} MiB on disk")
                else:
                    self.log(f"  [red]{s}: {resp.get('status')}: {resp.get('error')}[/]")
                    w.close()
                advance(1)
                self._record_system(res, s, out["builds"][s])
            families = {s: out["builds"][s].get("family", s) for s in workers}
            self._unfiltered(out, workers, query_idx, truth, name, meta, folder)
            write_json(args.out, res)
            self._filtered(out, workers, query_idx, truth, workloads, name)
            self._explain(out, workers, workloads)
            out["tables"] = {
                "unfiltered": analysis.unfiltered_table(out["unfiltered"], families),
                "resources": analysis.resource_table(out["builds"], families),
            }
            for w in out["filtered"]:
                out["filtered"][w] = analysis.filtered_table(out["filtered"][w]["rows"], families)
            out["families"] = families
        finally:
            for w in workers.values():
                w.close()
            if not args.keep_stores:
                shutil.rmtree(work_root, ignore_errors=True)
        out["plots"] = self._plots(out)
        return out

    def _subset(self, folder: Path, meta: dict[str, Any], n: int, dest: Path) -> tuple[Path, dict[str, Any]]:
        from peers.data import DATA_FORMAT

        dest.mkdir(parents=True, exist_ok=True)
        rows = np.sort(np.random.default_rng(self.args.seed).choice(meta["n"], size=n, replace=False))
        np.save(dest / "base.npy", np.load(folder / "base.npy")[rows])
        shutil.copy(folder / "queries.npy", dest / "queries.npy")
        with np.load(folder / "cols.npz") as npz:
            z = {f: npz[f] for f in npz.files}
        ind, all_values = z["cat_indptr"], z["cat_values"]
        lens = ind[rows + 1] - ind[rows]
        values = np.concatenate([all_values[ind[r] : ind[r + 1]] for r in rows.tolist()])
        cols = {f: a[rows] for f, a in z.items() if not f.startswith("cat_")}
        np.savez(dest / "cols.npz", **cols, cat_values=values, cat_indptr=np.concatenate([[0], np.cumsum(lens)]))
        sub = {**meta, "n": n, "name": "arxiv-10k", "vectors": meta["vectors"] + f" (a random {n:,} of the indexed rows)", "key": {"format": DATA_FORMAT, "subset": n}}
        c = load_columns(dest)
        sub["workloads"] = {w: {**s, "n_match": int(c.mask(s["pred"]).sum())} for w, s in meta["workloads"].items()}
        for s in sub["workloads"].values():
            s["selectivity"] = s["n_match"] / n
        (dest / "meta.json").write_text(json.dumps(sub))
        return dest, sub

    def _should_skip(self, point: str, system: str, n: int, previous: dict[str, Any] | None) -> str | None:
        if point != "arxiv-1m":
            return None
        if previous is None:
            return None
        prev = previous["builds"].get(system) or {}
        if prev.get("status") != "ok":
            return f"not built at {previous['name']} ({prev.get('status', 'not run')})"
        growth = BUILD_GROWTH["hnsw"] if any(h in system for h in ("hnsw", "chroma", "usearch", "milvus")) else BUILD_GROWTH["default"]
        est = prev["build_s"] * n / previous["n"] * growth
        reserve = 480.0  # queries and the report after the last build
        if est > self.remaining() - reserve:
            return f"estimated build {est / 60:.1f} min (from {prev['build_s']:.0f} s at {previous['n']:,}) exceeds the remaining budget {max(0.0, self.remaining() - reserve) / 60:.1f} min"
        try:
            import psutil

            need = 2.5 * n * previous["dim"] * 4  # input copy + index, conservatively
            avail = psutil.virtual_memory().available
            if avail < need:
                return f"not enough free memory ({avail / 2**30:.1f} GiB available, ~{need / 2**30:.1f} GiB needed)"
        except ImportError:
            pass
        return None

    def _record_system(self, res: dict[str, Any], s: str, build: dict[str, Any]) -> None:
        entry = res["systems"].setdefault(s, {"status": build.get("status")})
        if build.get("versions"):
            entry["versions"] = build["versions"]
        if build.get("status") == "ok":
            entry.update({"status": "ok", "family": build.get("family"), "settings": build.get("settings"), "filter_note": build.get("filter_note"), "supports_filter": build.get("supports_filter"), "exact": build.get("exact")})
            for d, v in (build.get("versions") or {}).items():
                res["versions"][d] = v
        elif entry.get("status") != "ok":
            entry.update({k: build.get(k) for k in ("status", "error", "reason") if build.get(k)})
            for d, v in (build.get("versions") or {}).items():
                res["versions"][d] = v

    def _unfiltered(self, out: dict[str, Any], workers: dict[str, Worker], query_idx: list[int], truth: dict[Any, Any], name: str, meta: dict[str, Any], folder: Path) -> None:
        tasks = []
        for s, w in workers.items():
            knobs = out["builds"][s]["knobs"]
            if self.args.quick and len(knobs) > 2:
                knobs = [knobs[0], knobs[-1]]
            tasks += [(s, kb) for kb in knobs]
        advance = self.start_task(f"{name}: unfiltered ({len(tasks)} system×knob)", len(tasks) * len(query_idx))
        state = run_interleaved(workers, tasks, query_idx, workload=None, pred=None, chunk=self.args.chunk_unfiltered, budget_s=out["task_budget_s"], min_queries=min(50, len(query_idx)), advance=advance, on_error=self._on_error)
        for t, (s, kb) in enumerate(tasks):
            st = state[t]
            row: dict[str, Any] = {"system": s, "knob": kb, "label": knob_label(kb)}
            if st["error"]:
                row["error"] = st["error"]
            if st["lat"]:
                row.update(summarize(st["lat"], st["ids"], truth[None], st["q"]))
                if "doc_ids" in meta:
                    row["ndcg@10"] = ndcg_at_10(st["ids"], st["q"], meta["doc_ids"], meta["query_ids"], self.args.shared / "datasets" / "scifact" / "qrels" / "test.tsv")
            out["unfiltered"].append(row)
        if "doc_ids" in meta:
            exact_ids = truth[None]
            out["ndcg_exact_numpy"] = ndcg_at_10(exact_ids, query_idx, meta["doc_ids"], meta["query_ids"], self.args.shared / "datasets" / "scifact" / "qrels" / "test.tsv")
        out["operating_knobs"] = {s: operating_knob(out["unfiltered"], s) for s in workers}

    def _filtered(self, out: dict[str, Any], workers: dict[str, Worker], query_idx: list[int], truth: dict[Any, Any], workloads: dict[str, Any], name: str) -> None:
        tasks = [(s, out["operating_knobs"][s]) for s in workers if out["builds"][s].get("supports_filter")]
        for w, spec in workloads.items():
            advance = self.start_task(f"{name}: {w} ({spec['selectivity']:.2%})", len(tasks) * len(query_idx))
            state = run_interleaved(workers, tasks, query_idx, workload=w, pred=spec["pred"], chunk=self.args.chunk, budget_s=out["task_budget_s"], min_queries=min(20, len(query_idx)), advance=advance, on_error=self._on_error)
            rows = []
            for t, (s, kb) in enumerate(tasks):
                st = state[t]
                row: dict[str, Any] = {"system": s, "knob": kb, "label": knob_label(kb)}
                if st["error"]:
                    row["error"] = st["error"]
                if st["lat"]:
                    row.update(summarize(st["lat"], st["ids"], truth[w], st["q"]))
                row["first_ms"] = st["first_ms"]
                rows.append(row)
            out["filtered"][w] = {"rows": rows}

    def _explain(self, out: dict[str, Any], workers: dict[str, Worker], workloads: dict[str, Any]) -> None:
        """vecnest's own account of how it ran each workload (its planner's plan), if it has one."""
        plans: dict[str, Any] = {}
        for s, w in workers.items():
            if out["builds"][s].get("family") != "vecnest":
                continue
            for wl, spec in [(None, None), *((k, v["pred"]) for k, v in workloads.items())]:
                try:
                    resp = w.request({"op": "explain", "knob": out["operating_knobs"].get(s, {}), "workload": wl, "pred": spec, "query": 0, "k": K}, timeout=120)
                except WorkerError:
                    continue
                if resp.get("ok") and resp.get("plan") is not None:
                    plans.setdefault(s, {})[wl or "unfiltered"] = resp["plan"]
        if plans:
            out["vecnest_plans"] = plans

    def _on_error(self, system: str, error: str) -> None:
        self.log(f"  [red]{system}: {error}[/]")

    def _plots(self, out: dict[str, Any]) -> list[str]:
        paths = []
        try:
            p = plots.recall_qps(out, RESULTS_DIR / f"peers-{out['name']}-recall-qps.png")
            paths.append(p)
            p2 = plots.selectivity(out, RESULTS_DIR / f"peers-{out['name']}-selectivity.png")
            if p2:
                paths.append(p2)
        except Exception as exc:  # noqa: BLE001 - a plot must not lose the numbers
            self.log(f"[red]plot failed: {exc}[/]")
        return [str(Path(p).relative_to(BENCH_DIR.parent)) for p in paths]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.points:
        points = [p.strip() for p in args.points.split(",") if p.strip()]
    elif args.quick:
        points = ["scifact", "arxiv-10k"]
        args.queries = min(args.queries, 500)
        args.task_scale = min(args.task_scale, 0.3)
    elif args.all:
        points = ["scifact", "arxiv-75k", "arxiv-1m"]
    else:
        points = ["scifact", "arxiv-75k"]
    if args.quick:
        POINTS["scifact"]["queries"] = 30
    for p in points:
        if p not in POINTS:
            raise SystemExit(f"unknown scale point {p!r}; choose from {', '.join(POINTS)}")
    shared = args.shared.resolve()
    args.shared = shared
    require_files([shared / "embeddings" / "scifact.docs.f16.npy", shared / "embeddings" / "arxiv-daily-cs.titles.f16.npy", shared / "datasets" / "arxiv-daily-cs" / "corpus.jsonl", shared / "datasets" / "scifact" / "qrels" / "test.tsv"])
    console = Console() if sys.stdout.isatty() else Console(width=150)
    res: dict[str, Any] = {
        "benchmark": "peers",
        "title": TITLE,
        "command": command_line(),
        "machine": machine_info(),
        "config": {
            "points": points,
            "k": K,
            "queries_arxiv": args.queries,
            "seed": args.seed,
            "build_threads": args.build_threads,
            "query_threads": 1,
            "threads_note": "queries are issued one at a time (single-threaded loop); env OMP_NUM_THREADS="
            f"{args.build_threads} (FAISS builds; set to 1 by omp_set_num_threads after each build), OPENBLAS/MKL/RAYON/LANCE_CPU_THREADS=1; "
            "hnswlib/usearch builds get num_threads/threads=build_threads, their queries 1",
            "interleaving": f"queries in chunks ({args.chunk_unfiltered} in the unfiltered sweep, {args.chunk} in filtered workloads); each chunk runs on every system×knob in turn, the starting task rotating; knob changes are untimed; before its timed queries each system×knob answers one untimed warm-up query per workload (its latency is reported as the first-query time)",
            "budget_min": args.budget_min,
            "quick": args.quick,
        },
        "systems": {},
        "versions": {},
        "points": {},
    }
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)
    run = Run(args, console, progress)
    previous = None
    try:
        with progress:
            for p in points:
                if p == "arxiv-1m" and run.remaining() < 600:
                    res["points"][p] = {"name": p, "status": "skipped", "reason": f"only {run.remaining() / 60:.1f} min of the budget left"}
                    continue
                res["points"][p] = run.point(p, res, previous if p == "arxiv-1m" else None)
                if p == "arxiv-75k":
                    previous = res["points"][p]
                res["duration_s"] = time.monotonic() - run.started
                write_json(args.out, res)
    finally:
        res["duration_s"] = time.monotonic() - run.started
        write_json(args.out, res)
    console.print(f"results: {args.out}  ({res['duration_s'] / 60:.1f} min)")
    if not args.no_report:
        from report import write_report

        console.print(f"report: {write_report()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
