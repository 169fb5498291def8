"""Side-by-side peer benchmark: vecnest vs Chroma, LanceDB, Qdrant local, FAISS, hnswlib, usearch,
Milvus Lite — same vectors, same filters, k=10, same machine, effort swept per workload, timed in
interleaved repetitions.

    .venv/bin/python benchmarks/peers.py                       # scifact + arxiv-75k (~30-45 min quiet 2 cores)
    .venv/bin/python benchmarks/peers.py --points arxiv-1m     # the 1M point alone (~45-60 min)
    .venv/bin/python benchmarks/peers.py --all                 # all three
    .venv/bin/python benchmarks/peers.py --quick               # smoke: 10k rows, 2 reps, small budgets (~5 min)

Each point writes its own ``benchmarks/results/peers-<point>.json`` (one run of one commit, with
its provenance) and its raw per-query latencies to ``benchmarks/results/raw/``; BENCHMARKS.md is
regenerated from the JSON files. ``--resume`` skips points whose result file already comes from
this commit with the same settings. Each system is built in its own process under a time budget
and served from a fresh process (``peers/fleet.py``); queries are issued one at a time on one
thread. The schedule (sweep, interleaved repetitions) is in ``peers/schedule.py``, the ratios and
verdicts in ``peers/analysis.py``.
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
from _common import RESULTS_DIR, default_shared_dir, require_files, write_json
from _provenance import provenance
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from peers import analysis, plots
from peers.data import load_columns, prepare, subset
from peers.fleet import Fleet, build_decision
from peers.runner import K, ground_truth, ndcg_at_10
from peers.schedule import efforts_to_time, knob_label, sweep, task_row, timed
from peers.systems import SYSTEMS

BENCH_DIR = Path(__file__).resolve().parent
CACHE = BENCH_DIR / ".cache" / "peers"
TITLE = "Peers: vecnest vs Chroma, LanceDB, Qdrant, FAISS, hnswlib, usearch, Milvus Lite"

#: Per scale point: systems (in build-priority order), workloads, queries.
POINTS: dict[str, dict[str, Any]] = {
    "scifact": {"systems": list(SYSTEMS), "workloads": [], "queries": None},
    "arxiv-75k": {"systems": list(SYSTEMS), "workloads": ["sel_0.1%", "sel_1%", "sel_2%", "sel_15%", "sel_50%", "sel_100%"], "queries": None},
    "arxiv-1m": {
        "systems": ["vecnest", "vecnest-hnsw", "faiss-flat", "faiss-hnsw", "faiss-hnsw-fp16", "hnswlib", "usearch", "faiss-ivfpq", "vecnest-ivf_pq", "lance-ivfpq", "lance-flat", "chroma", "milvus-lite", "qdrant-local"],
        "workloads": ["sel_1%", "sel_15%", "sel_50%"],
        "queries": 300,
    },
    "arxiv-10k": {"systems": list(SYSTEMS), "workloads": ["sel_1%", "sel_15%", "sel_100%"], "queries": 60},
}
SWEEP_STOP = max(analysis.TARGETS)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--all", action="store_true", help="every scale point, including the 1M one")
    p.add_argument("--quick", action="store_true", help="smoke run: the 10k subset, 2 repetitions, small budgets")
    p.add_argument("--points", default=None, help=f"comma list of scale points ({','.join(POINTS)})")
    p.add_argument("--systems", default=None, help="comma list of systems (default: all of the point)")
    p.add_argument("--shared", type=Path, default=default_shared_dir(), help="folder with datasets/ and embeddings/ (default: $VECNEST_SHARED_DIR or <repo>/../shared)")
    p.add_argument("--queries", type=int, default=500, help="held-out arXiv titles used as queries (default 500)")
    p.add_argument("--reps", type=int, default=3, help="interleaved timed repetitions per workload (default 3; at least 3 for published numbers)")
    p.add_argument("--sweep-s", type=float, default=1.5, help="sweep: summed query latency per (system, effort) before it stops (default 1.5 s)")
    p.add_argument("--task-s", type=float, default=3.0, help="timed: summed query latency per (system, effort) and repetition (default 3 s)")
    p.add_argument("--min-queries", type=int, default=100, help="queries every (system, effort) answers whatever its budget (default 100) ...")
    p.add_argument("--max-s", type=float, default=10.0, help="... unless it has spent this long (default 10 s; then at least 5 queries): very slow systems")
    p.add_argument("--sweep-system-s", type=float, default=30.0, help="query time one system may spend on one workload's sweep before its sweep stops (default 30 s)")
    p.add_argument("--build-budget-min", type=float, default=20.0, help="per-system build budget in minutes; a build past it is stopped and recorded (default 20)")
    p.add_argument("--point-budget-min", type=float, default=60.0, help="budget of one point in minutes: systems whose estimated build does not fit what is left are skipped (default 60)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target-1m", type=int, default=1_000_000, help="minimum number of chunks for the large point")
    p.add_argument("--build-threads", type=int, default=1, help="threads for index builds (queries always use 1). Default 1: on a shared 2-core machine OpenMP with 2 threads was up to 4x slower")
    p.add_argument("--out-dir", type=Path, default=RESULTS_DIR, help="where peers-<point>.json go (default benchmarks/results; use a scratch folder for smoke runs)")
    p.add_argument("--cache", type=Path, default=CACHE, help="scale-point vectors and the stores (gitignored)")
    p.add_argument("--resume", action="store_true", help="skip points whose result file comes from this commit with the same settings")
    p.add_argument("--keep-stores", action="store_true")
    p.add_argument("--no-report", action="store_true")
    args = p.parse_args(argv)
    if args.reps < 1:
        p.error("--reps must be >= 1")
    return args


class Run:
    def __init__(self, args: argparse.Namespace, progress: Progress) -> None:
        self.args = args
        self.progress = progress
        self.only = set(args.systems.split(",")) if args.systems else None

    def log(self, msg: str) -> None:
        self.progress.console.log(msg)

    def start_task(self, label: str, total: int):  # noqa: ANN201
        task = self.progress.add_task(label, total=total)
        return lambda n: self.progress.advance(task, n)

    def on_error(self, system: str, error: str) -> None:
        self.log(f"  [red]{system}: {error}[/]")

    # ----------------------------------------------------------------------------------------
    def point(self, name: str, out_dir: Path) -> dict[str, Any]:
        args, cfg = self.args, POINTS[name]
        started = time.monotonic()
        deadline = started + args.point_budget_min * 60
        n_queries = cfg["queries"] if cfg["queries"] is not None else args.queries
        src = "arxiv-75k" if name == "arxiv-10k" else name
        folder = args.cache / "data" / src
        meta = prepare(src, args.shared, folder, n_queries=args.queries, seed=args.seed, target_1m=args.target_1m, start_task=self.start_task, log=self.log)
        if name == "arxiv-10k":
            folder, meta = subset(folder, meta, 10_000, args.cache / "data" / "arxiv-10k", seed=args.seed)
        base = np.load(folder / "base.npy")
        queries = np.load(folder / "queries.npy")
        query_idx = list(range(min(n_queries, len(queries))))
        cols = load_columns(folder) if (folder / "cols.npz").is_file() else None
        workloads = {w: meta["workloads"][w] for w in cfg["workloads"] if w in meta.get("workloads", {})}
        out: dict[str, Any] = {
            "benchmark": "peers",
            "point": name,
            "title": f"Peers at {name}",
            "provenance": provenance(),
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "n": meta["n"],
            "dim": meta["dim"],
            "n_queries": len(query_idx),
            "k": K,
            **{k: meta[k] for k in ("vectors", "queries_from", "encoder", "embed_seconds", "n_papers") if k in meta},
            "workloads": {w: {k: s[k] for k in ("text", "kind", "pred", "selectivity", "n_match", "target")} for w, s in workloads.items()},
            "targets": list(analysis.TARGETS),
            "status": "running",
        }
        self.log(f"[bold]{name}[/]: {meta['n']:,} × {meta['dim']}, {len(query_idx)} queries; workloads " + ", ".join(f"{w} ({s['selectivity']:.2%})" for w, s in workloads.items()))
        t0 = time.perf_counter()
        truth = {None: ground_truth(base, queries[query_idx], None)}
        for w, spec in workloads.items():
            truth[w] = ground_truth(base, queries[query_idx], cols.mask(spec["pred"]))
        out["ground_truth_s"] = time.perf_counter() - t0
        n_base = len(base)
        del base

        smaller = _load_json(out_dir / "peers-arxiv-75k.json") if name == "arxiv-1m" else None
        systems = [s for s in cfg["systems"] if self.only is None or s in self.only]
        work_root = args.cache / "stores" / name
        shutil.rmtree(work_root, ignore_errors=True)
        fleet = Fleet(folder, work_root, args.cache / "logs" / name, args.build_threads, self.log)
        out["budget"] = {"point_budget_min": args.point_budget_min, "build_budget_min": args.build_budget_min, "reserve_min_for_queries": _reserve_min(name), "estimates_from": "peers-arxiv-75k.json" if smaller else None}
        raw: dict[str, np.ndarray] = {}
        try:
            advance = self.start_task(f"{name}: build", len(systems))
            for s in systems:
                budget, reason = build_decision(s, n_base, meta["dim"], smaller=smaller, left_s=deadline - time.monotonic() - _reserve_min(name) * 60, build_budget_s=args.build_budget_min * 60, avail_bytes=_available_memory())
                if budget is None:
                    fleet.skip(s, f"{reason} (point budget {args.point_budget_min:.0f} min, build budget {args.build_budget_min:.0f} min)")
                else:
                    fleet.bring_up(s, budget_s=budget, disk_sample=(s == "qdrant-local" and name != "scifact"))
                advance(1)
            out["builds"] = fleet.builds
            out["families"] = {s: fleet.builds[s].get("family", s) for s in fleet.workers}
            out["workload_results"] = {}
            for w in [None, *workloads]:
                key = w or "unfiltered"
                ndcg = self._ndcg_fn(meta) if (key == "unfiltered" and "doc_ids" in meta) else None
                out["workload_results"][key] = self._workload(fleet, key, w, workloads.get(w, {}).get("pred") if w else None, query_idx, truth[w], raw, out["families"], ndcg)
                if ndcg is not None:
                    out["ndcg_exact_numpy"] = ndcg(truth[None], query_idx)
                write_json(out_dir / f"peers-{name}.json", out)
            fleet.measure_memory()
            out["serve"] = fleet.serve
            out["resources"] = analysis.resource_table(fleet.builds, fleet.serve, out["families"])
            out["status"] = "complete"
        finally:
            fleet.close()
            out["duration_s"] = time.monotonic() - started
            if not args.keep_stores:
                shutil.rmtree(work_root, ignore_errors=True)
        out["raw_latencies"] = _save_raw(out_dir / "raw" / f"peers-{name}.npz", raw)
        out["plots"] = self._plots(out, out_dir)
        write_json(out_dir / f"peers-{name}.json", out)
        return out

    def _workload(self, fleet: Fleet, key: str, w: str | None, pred: Any, query_idx: list[int], truth: list[list[int]], raw: dict[str, np.ndarray], families: dict[str, str], ndcg: Any = None) -> dict[str, Any]:
        args = self.args
        knobs = {s: fleet.builds[s]["knobs"] for s in fleet.workers}
        timeout = max(600.0, 10 * args.task_s)
        advance = self.start_task(f"{key}: sweep", sum(len(v) for v in knobs.values()))
        swept = sweep(fleet.workers, knobs, query_idx, truth, workload=w, pred=pred, stop_at=SWEEP_STOP, budget_s=args.sweep_s, min_queries=min(args.min_queries, len(query_idx)), max_s=args.max_s, system_s=args.sweep_system_s, timeout_s=timeout, advance=advance, on_error=self.on_error)
        tasks: list[tuple[str, dict[str, Any]]] = []
        roles: list[str] = []
        for s, rows in swept.items():
            for role, knob in efforts_to_time(rows, analysis.TARGETS).items():
                if (s, knob) in tasks:
                    roles[tasks.index((s, knob))] += f", {role}"
                else:
                    tasks.append((s, knob))
                    roles.append(role)
        advance = self.start_task(f"{key}: {args.reps} timed reps × {len(tasks)} settings", args.reps * len(tasks))
        states = timed(fleet.workers, tasks, query_idx, workload=w, pred=pred, reps=args.reps, budget_s=args.task_s, min_queries=min(args.min_queries, len(query_idx)), max_s=args.max_s, timeout_s=timeout, advance=advance, on_error=self.on_error)
        rows = []
        lat: analysis.Lat = {}
        for (s, knob), role, st in zip(tasks, roles, states, strict=True):
            role_key = "default" if role.split(",")[0] == "default" else role
            rows.append(task_row(s, knob, role_key, st, query_idx, truth))
            if ndcg is not None and st["ids"]:
                answered = [q for q in query_idx if q in st["ids"]]
                rows[-1]["ndcg@10"] = ndcg([st["ids"][q] for q in answered], answered)
            lat[(s, knob_label(knob))] = st["lat"]
            raw[f"{key}|{s}|{knob_label(knob)}"] = st["lat"].astype(np.float32)
        result = {"sweep": swept, "rows": rows, "table": analysis.workload_table(rows, lat, families)}
        plans = self._explain(fleet, w, pred, query_idx)
        if plans:
            result["vecnest_plans"] = plans
            result["effort_check"] = _effort_check(plans, swept, knobs)
        return result

    def _explain(self, fleet: Fleet, w: str | None, pred: Any, query_idx: list[int]) -> dict[str, Any]:
        """vecnest's own account of its default setting on this workload (first 20 queries)."""
        from peers.runner import WorkerError

        out: dict[str, Any] = {}
        for s, worker in fleet.workers.items():
            if fleet.builds[s].get("family") != "vecnest":
                continue
            try:
                resp = worker.request({"op": "explain", "knob": {}, "workload": w, "pred": pred, "queries": query_idx[:20], "k": K}, timeout=300)
            except WorkerError:
                continue
            plans = resp.get("plans") if resp.get("ok") else None
            if not plans:
                continue
            strategies: dict[str, int] = {}
            efforts: list[int] = []
            for p in plans:
                strategies[str(p.get("strategy"))] = strategies.get(str(p.get("strategy")), 0) + 1
                # (the index's effort only: a sketch-ranked plan's knob is its rescoring depth)
                efforts += [int(v) for n, v in (p.get("knob") or {}).items() if n in ("ef_search", "nprobe")]
            out[s] = {"strategies": strategies, "effort_used": {"median": float(np.median(efforts)), "min": min(efforts), "max": max(efforts)} if efforts else None, "first_plan": plans[0]}
        return out

    def _ndcg_fn(self, meta: dict[str, Any]) -> Any:
        """``f(ids per query, query numbers) -> nDCG@10`` against SciFact's qrels (ranx)."""
        qrels = self.args.shared / "datasets" / "scifact" / "qrels" / "test.tsv"
        return lambda ids, qs: ndcg_at_10(ids, qs, meta["doc_ids"], meta["query_ids"], qrels)

    def _plots(self, out: dict[str, Any], out_dir: Path) -> list[str]:
        paths = []
        try:
            paths.append(plots.recall_qps(out, out_dir / f"peers-{out['point']}-recall-qps.png"))
            p2 = plots.selectivity(out, out_dir / f"peers-{out['point']}-selectivity.png")
            if p2:
                paths.append(p2)
        except Exception as exc:  # noqa: BLE001 - a plot must not lose the numbers
            self.log(f"[red]plot failed: {exc}[/]")
        return [p.name for p in paths]


def _effort_check(plans: dict[str, Any], swept: dict[str, list[dict[str, Any]]], knobs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """vecnest's default effort on this workload vs the least effort of its own sweep reaching
    recall 0.95 (issue target: at most one step of the sweep grid above it)."""
    from _stats import overshoot_steps, pick_effort

    out = {}
    for s, p in plans.items():
        used = (p.get("effort_used") or {}).get("median")
        rows = [r for r in swept.get(s, []) if r["knob"]]
        grid = [next(iter(k.values())) for k in knobs.get(s, []) if k]
        if used is None or not rows:
            how = ", ".join(p.get("strategies") or {}) or "exact scan"
            out[s] = {"verdict": "n/a", "why": f"the default plan searched no index ({how})" if used is None else "no sweep"}
            continue
        i = pick_effort([r.get("recall") for r in rows], analysis.RECALL_GOAL)
        if i is None:
            out[s] = {"verdict": "n/a", "why": f"no effort of the sweep up to {rows[-1]['label']} reached {analysis.RECALL_GOAL}", "used": used}
            continue
        needed = next(iter(rows[i]["knob"].values()))
        steps = overshoot_steps(grid, needed, used)
        out[s] = {"used": used, "needed": needed, "grid": grid, "steps_above": steps, "verdict": "met" if steps <= 1 else "not met"}
    return out


def _reserve_min(point: str) -> float:
    """Minutes of a point's budget kept for its queries after the last build."""
    return 15.0 if point == "arxiv-1m" else 5.0


def _available_memory() -> int | None:
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def _load_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _save_raw(path: Path, raw: dict[str, np.ndarray]) -> str | None:
    """Per-query latencies ``(reps, queries) float32`` seconds of every timed setting (``nan``:
    not answered), keyed ``workload|system|knob``."""
    if not raw:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **{k.replace("/", "_"): v for k, v in raw.items()})
    return str(path.relative_to(RESULTS_DIR)) if path.is_relative_to(RESULTS_DIR) else str(path)


def _same_run_settings(old: dict[str, Any] | None, args: argparse.Namespace) -> bool:
    if not old or old.get("status") != "complete":
        return False
    prov = provenance()
    keys = ("queries", "reps", "sweep_s", "task_s", "min_queries", "max_s", "sweep_system_s", "seed", "systems", "quick")
    cfg = old.get("config") or {}
    return (old.get("provenance") or {}).get("commit") == prov["commit"] and not prov["dirty_src"] and all(cfg.get(k) == getattr(args, k) for k in keys)


def print_summary(console: Console, point: dict[str, Any]) -> None:
    """Per workload: the reference peer at recall ≥ 0.95 and vecnest by default against it."""
    t = Table(title=f"{point['point']}: vecnest by default vs the fastest peer reaching recall@10 ≥ 0.95 (speed > 1: vecnest faster)")
    for c in ("workload", "reference (its setting)", "ref p50 ms", "system", "recall", "p50 ms", "speed [spread]", "verdict"):
        t.add_column(c, justify="left" if c in ("workload", "reference (its setting)", "system", "verdict") else "right")
    for key, res in (point.get("workload_results") or {}).items():
        ref = res["table"]["targets"]["0.95"]["reference"]
        for v in res["table"]["vecnest_default"]:
            sp = v.get("speed_vs_ref") or {}
            t.add_row(
                key,
                f"{ref['system']} ({ref['label']})" if ref else "–",
                f"{ref['p50_ms']:.3f}" if ref else "–",
                v["system"],
                f"{v['recall']:.3f}" if v.get("recall") is not None else "–",
                f"{v['p50_ms']:.3f}",
                f"{sp['point']:.2f} [{sp['lo']:.2f}..{sp['hi']:.2f}]" if sp else "–",
                f"recall {v['recall_verdict']}, speed {v['speed_verdict']}",
            )
    console.print(t)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.quick:
        points = ["arxiv-10k"]
        args.reps = min(args.reps, 2) if args.reps == 3 else args.reps
        args.sweep_s, args.task_s, args.min_queries = min(args.sweep_s, 0.5), min(args.task_s, 0.5), min(args.min_queries, 30)
        args.max_s, args.sweep_system_s = min(args.max_s, 2.0), min(args.sweep_system_s, 6.0)
    elif args.points:
        points = [p.strip() for p in args.points.split(",") if p.strip()]
    elif args.all:
        points = ["scifact", "arxiv-75k", "arxiv-1m"]
    else:
        points = ["scifact", "arxiv-75k"]
    for p in points:
        if p not in POINTS:
            raise SystemExit(f"unknown scale point {p!r}; choose from {', '.join(POINTS)}")
    unknown = set((args.systems or "").split(",")) - set(SYSTEMS) - {""}
    if unknown:
        raise SystemExit(f"unknown systems {sorted(unknown)}; choose from {', '.join(SYSTEMS)}")
    args.shared = args.shared.resolve()
    require_files([args.shared / "embeddings" / "scifact.docs.f16.npy", args.shared / "embeddings" / "arxiv-daily-cs.titles.f16.npy", args.shared / "datasets" / "arxiv-daily-cs" / "corpus.jsonl", args.shared / "datasets" / "scifact" / "qrels" / "test.tsv"])
    console = Console() if sys.stdout.isatty() else Console(width=160)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)
    run = Run(args, progress)
    done = []
    with progress:
        for p in points:
            path = args.out_dir / f"peers-{p}.json"
            if args.resume and _same_run_settings(_load_json(path), args):
                run.log(f"{p}: {path} is complete for this commit and these settings; skipped (--resume)")
                continue
            done.append(run.point(p, args.out_dir))
    for point in done:
        print_summary(console, point)
        console.print(f"results: {args.out_dir / ('peers-' + point['point'] + '.json')} ({point['duration_s'] / 60:.1f} min)")
    if not args.no_report:
        from report import write_report

        console.print(f"report: {write_report()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
