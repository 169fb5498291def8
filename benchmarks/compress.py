"""Compression tiers benchmark (issue 10); writes ``benchmarks/results/compress.json`` and Pareto PNGs.

For each point (SciFact with qrels, the 75k arXiv titles, the ≥1M abstract chunks; see
``_compress_points.py``) and each pipeline, in one run on one machine:

- quality at each first-tier ``rescore_multiplier`` (nDCG@10 over float32 nDCG@10 on SciFact,
  recall@10 against float32 exact elsewhere);
- RAM bytes per vector *measured* (``mincore`` of the RAM tier's codes, plus its fitted
  parameters), code bytes, disk bytes;
- single-query timings interleaved with the float32 exact search (FAISS brute force over the
  mapped segment): the first-tier scan alone, end to end (with milliseconds per tier), the
  scan's throughput in GB/s and as a ratio of the machine's single-core memory bandwidth
  (numpy sum over 256 MB, measured at the start);
- ANN structures over a tier's codes (HNSW over int8, IVF over binary) against flat scans;
- at 1M: the RSS of a fresh process after opening the best ≤ 48 B pipeline and running 100
  queries, against 25 % of the float32 segment's size.

Targets are checked by code at the end and written with the results. On a shared machine the
timings are noisy (the load average is recorded); run it on a quiet one for final numbers::

    nice -n 10 .venv/bin/python benchmarks/compress.py                 # all points, ~60 min budget
    .venv/bin/python benchmarks/compress.py --points scifact,arxiv-75k --budget-min 20
    .venv/bin/python benchmarks/compress.py --quick                    # smoke run, a few minutes
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import RESULTS_DIR, command_line, default_shared_dir, machine_info, write_json
from _compress_ann import ann_over_codes
from _compress_points import Point, arxiv_1m, arxiv_75k, arxiv_minilm_partial, scifact
from rich.console import Console

from vecnest.compress import memory, open_tiers, storage, tune
from vecnest.compress.spec import parse_pipeline
from vecnest.index.flat import FlatIndex

BENCH_DIR = Path(__file__).resolve().parent
K = 10
def _divisor(d: int, most: int) -> int:
    """The largest divisor of ``d`` that is at most ``most`` (PQ sub-quantizers)."""
    return max(m for m in range(1, most + 1) if d % m == 0)


def pipelines_for(d: int) -> list[tuple[str, tuple[int, ...]]]:
    """(pipeline, first-tier multipliers) for ``d``-dimensional vectors, in priority order (the
    time budget cuts from the end): first what the 48 B and 24 B targets need, then the scalar
    codes, the alternatives and the contrasts. At 384 dims: binary is 48 B, rot192 24 B."""
    m48, m32, m24, m16 = _divisor(d, 48), _divisor(d, 32), _divisor(d, 24), _divisor(d, 16)
    r320, r192, r176, r160 = (min(d, x) // 8 * 8 for x in (320, 192, 176, 160))
    out = [
        ("binary > float32", (10, 20)),
        ("binary/asym > float32", (10, 20)),
        (f"binary-rot{r320}/asym > float32", (10, 20)),
        (f"opq{m48} > float32", (10, 20)),
        (f"binary-rot{r192}/asym > float32", (10, 20, 40, 80)),
        (f"binary-rot{r176}/asym > float32", (10, 20, 40, 80)),
        (f"binary-pca{r192}/asym > float32", (10, 20)),
        (f"opq{m24} > float32", (10, 20, 40)),
        (f"binary-itq{r192}/asym > float32", (10, 20, 40, 80)),
        ("int8 > float32", (4, 10)),
        ("float8 > float32", (4, 10)),
        (f"binary-itq{d}/asym > float32", (10, 20)),
        (f"binary-rot{d}/asym > float32", (10, 20)),
        (f"pq{m48} > float32", (10, 20)),
        (f"opq{m32} > float32", (10, 20)),
        (f"binary-rot{r160}/asym > float32", (10, 20, 40, 80)),
        (f"pq{m24} > float32", (10, 20, 40)),
        ("binary/hamming > binary/asym@10 > float32", (40, 80)),
        (f"binary-rot{r192}/asym > int8 > float32", (10, 20)),
        (f"opq{m16} > float32", (20, 40)),
        ("float16 > float32", (4,)),
        ("int8", (1,)),
        (f"float8-pca{d // 2} > float32", (4, 10)),
        (f"int8-pca{d // 2} > float32", (4, 10)),
        (f"binary-mrl{r192}/asym > float32", (10, 20)),
    ]
    if m48 != 48 and d >= 48:  # 48 (and 46: room for the fitted arrays) sub-quantizers over a PCA they divide
        out[4:4] = [(f"opq48-pca{d // 48 * 48} > float32", (10, 20, 40)), (f"opq46-pca{d // 46 * 46} > float32", (10, 20, 40))]
    if m24 != 24 and d >= 24:
        out.insert(9, (f"opq24-pca{d // 24 * 24} > float32", (10, 20, 40)))
    seen: set[str] = set()
    return [p for p in out if not (p[0] in seen or seen.add(p[0]))]


QUICK = 6  # --quick: the first six of pipelines_for(dim)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--points", default="scifact,arxiv-75k,arxiv-1m", help="comma list of scifact, arxiv-75k, arxiv-1m, arxiv-partial (the default-model 1M set's shards built so far)")
    p.add_argument("--shared", type=Path, default=default_shared_dir())
    p.add_argument("--budget-min", type=float, default=60.0, help="wall-clock budget; each point gets a share, pipelines past it are recorded as skipped")
    p.add_argument("--set-1m", choices=("auto", "minilm", "wordllama"), default="auto", help="the ≥1M set: the default model's (benchmarks/build_1m.py) or the peers' WordLlama set; auto = MiniLM once built")
    p.add_argument("--minilm-1m", type=Path, default=Path(os.environ.get("VECNEST_1M_DIR", "/work/cache/arxiv-1m-minilm")))
    p.add_argument("--cache", type=Path, default=BENCH_DIR / ".cache" / "compress")
    p.add_argument("--timed-queries", type=int, default=60, help="single-query timings per pipeline (fewer at 1M: a third)")
    p.add_argument("--pipelines", default=None, help="';'-separated pipelines instead of the built-in list")
    p.add_argument("--quick", action="store_true", help="6 pipelines, SciFact and 75k only")
    p.add_argument("--no-ann", action="store_true", help="skip the ANN-over-codes section")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "compress.json")
    p.add_argument("--replot", type=Path, default=None, help="only redraw the Pareto PNGs from this results file")
    p.add_argument("--rss-child", nargs=4, metavar=("DIR", "MANIFEST", "SEGMENT", "QUERIES"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------
# measurements
# ---------------------------------------------------------------------------------------------


def memory_bandwidth() -> dict[str, float]:
    """Single-core read bandwidth: numpy's sum over 256 MB of float64 (best of 5)."""
    a = np.ones(32 * 1024 * 1024, dtype=np.float64)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        a.sum()
        best = min(best, time.perf_counter() - t)
    return {"bytes": float(a.nbytes), "seconds": best, "gb_per_s": a.nbytes / best / 1e9}


def _ms(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values) * 1e3
    return {"p50": float(np.median(arr)), "p95": float(np.percentile(arr, 95)), "mean": float(arr.mean())}


def measure_pipeline(point: Point, judge: tune.Judge, flat: FlatIndex, text: str, mults: tuple[int, ...], work: Path, timed: int, bw: float) -> dict[str, Any]:
    """Build, open, judge and time one pipeline (see the module docstring)."""
    vec = point.vectors()
    spec = parse_pipeline(text, point.dim)
    t0 = time.perf_counter()
    manifest = storage.build(work, spec, vec, l2=False, generation=0)
    build_s = time.perf_counter() - t0
    index = open_tiers(work, manifest.name, vec, None, l2=False)
    mem = index.memory()
    out: dict[str, Any] = {
        "pipeline": text,
        "manifest": manifest.name,
        "build_s": build_s,
        "codes_bytes_per_vector": index.ram_bytes_per_vector(),
        "fixed_ram_bytes": index.fixed_ram_bytes(),
        "ram_bytes_per_vector": index.ram_bytes_per_vector() + index.fixed_ram_bytes() / point.n,
        "code_size": spec.first.code_size(point.dim),
        "disk_bytes_per_vector": sum(manifest.disk_bytes().values()) / point.n,
        "memory": mem,
        "runs": [],
    }
    first = index.stages[0]
    single = len(spec.tiers) == 1
    qs_all = judge.queries
    for m in mults:
        mult = None if single else m
        quality = judge.quality(index.search(qs_all, judge.k_search, rescore_multiplier=mult))
        flat_t, scan_t, e2e_t, tiers = [], [], [], {}
        for q in qs_all[:timed]:
            q1 = q[None]
            t = time.perf_counter()
            flat.search(q1, K)
            flat_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            first.scanner.scan(first.codec.queries(q1, l2=False), K * (1 if single else m))
            scan_t.append(time.perf_counter() - t)
            trace: list = []
            t = time.perf_counter()
            index.search(q1, K, rescore_multiplier=mult, trace=trace)
            e2e_t.append(time.perf_counter() - t)
            for st in trace:
                tiers.setdefault(st.tier, []).append(st.ms)
        scan_ms = float(np.median(scan_t) * 1e3)
        flat_ms = float(np.median(flat_t) * 1e3)
        scanned = point.n * out["code_size"]
        out["runs"].append({
            "multiplier": mult,
            "quality": quality,
            "e2e_ms": _ms(e2e_t),
            "float32_exact_ms": _ms(flat_t),
            "first_scan_ms": _ms(scan_t),
            "scan_speedup_vs_float32": flat_ms / scan_ms,
            "e2e_vs_float32": float(np.median(e2e_t) * 1e3) / flat_ms,
            "scan_gb_per_s": scanned / (scan_ms / 1e3) / 1e9,
            "scan_vs_bandwidth": scanned / (scan_ms / 1e3) / 1e9 / bw,
            "float32_scan_vs_bandwidth": point.n * point.dim * 4 / (flat_ms / 1e3) / 1e9 / bw,
            "tiers_ms_p50": {k: float(np.median(v)) for k, v in tiers.items()},
        })
    index.close()
    return out


def rss_child(directory: str, manifest: str, segment: str, queries_path: str) -> None:
    """In a fresh process: RSS after imports, after opening the tiers, after 100 queries."""
    before = memory.process_rss()
    queries = np.load(queries_path)
    m = storage.read_manifest(Path(directory), manifest)
    vec = np.memmap(segment, dtype=np.float32, mode="r", shape=(m.upto, m.dim))
    index = open_tiers(Path(directory), manifest, vec, None, l2=m.l2)
    opened = memory.process_rss()
    for i in range(100):
        index.search(queries[i % len(queries)][None], K)
    after = memory.process_rss()
    print(json.dumps({"rss_after_imports": before, "rss_after_open": opened, "rss_after_100_queries": after, "memory": index.memory(), "segment_mapped_rss": memory.mapped_rss([Path(segment)])}))


def run_rss_child(point: Point, work: Path, manifest: str) -> dict[str, Any]:
    qpath = work / "rss-queries.npy"
    np.save(qpath, point.queries)
    proc = subprocess.run([sys.executable, __file__, "--rss-child", str(work), manifest, str(point.segment), str(qpath)], capture_output=True, text=True, check=True, cwd=BENCH_DIR)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    seg = point.n * point.dim * 4
    out.update({"float32_segment_bytes": seg, "limit_bytes": seg // 4, "met": out["rss_after_100_queries"] <= seg // 4})
    return out


# ---------------------------------------------------------------------------------------------
# a point
# ---------------------------------------------------------------------------------------------


def run_point(point: Point, pipelines: list[tuple[str, tuple[int, ...]]] | None, args: argparse.Namespace, deadline: float, bw: float, console: Console) -> dict[str, Any]:
    work = args.cache / "work" / point.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    vec = point.vectors()
    t = time.perf_counter()
    judge = tune.Judge(vec, k=K, queries=point.queries, qrels=point.qrels, doc_ids=point.doc_ids, query_ids=point.query_ids)
    console.log(f"{point.name}: {point.n:,} x {point.dim}, {len(point.queries)} queries, exact truth in {time.perf_counter() - t:.1f} s ({judge.kind})")
    flat = FlatIndex(vec, None, l2=False)
    timed = args.timed_queries if point.n < 500_000 else max(10, args.timed_queries // 3)
    res: dict[str, Any] = {"provenance": point.provenance, "n": point.n, "dim": point.dim, "n_queries": len(point.queries), "quality_kind": judge.kind, "timed_queries": timed, "pipelines": [], "skipped": []}
    if judge.qrels is not None:
        res["float32_ndcg@10"] = judge.base
    keep48: tuple[float, str] | None = None
    if pipelines is None:
        pipelines = pipelines_for(point.dim)[: QUICK if args.quick else None]
    for text, mults in pipelines:
        if time.perf_counter() > deadline:
            res["skipped"].append(text)
            continue
        try:
            r = measure_pipeline(point, judge, flat, text, mults, work, timed, bw)
        except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
            res["pipelines"].append({"pipeline": text, "error": f"{type(exc).__name__}: {exc}"})
            console.log(f"[red]{point.name}: {text}: {exc}")
            continue
        res["pipelines"].append(r)
        best = max(r["runs"], key=lambda x: x["quality"])
        console.log(f"{point.name}: {text:45s} RAM {r['ram_bytes_per_vector']:7.2f} B ({r['codes_bytes_per_vector']:.1f} + {r['fixed_ram_bytes'] / 1024:.0f} KiB)  q {best['quality']:.4f} (x{best['multiplier']})  scan x{best['scan_speedup_vs_float32']:.1f}  e2e {best['e2e_ms']['p50']:.2f} ms  build {r['build_s']:.0f} s")
        # at 1M keep the best <= 48 B pipeline's files for the RSS measurement, drop the rest
        keep = r["manifest"] if point.n >= 500_000 and r["ram_bytes_per_vector"] <= 48 and (keep48 is None or best["quality"] > keep48[0]) else None
        live = [keep] if keep else ([keep48[1]] if keep48 else [])
        if keep:
            keep48 = (best["quality"], keep)
        storage.remove_unreferenced(work, live)
    if keep48 is not None:
        console.log(f"{point.name}: RSS of a fresh process with {keep48[1]} ...")
        res["rss"] = {"manifest": keep48[1], "pipeline": storage.read_manifest(work, keep48[1]).pipeline, **run_rss_child(point, work, keep48[1])}
    if not args.no_ann and point.n >= 50_000 and time.perf_counter() < deadline + 300:
        res["ann_over_codes"] = ann_over_codes(point, judge, flat, work, K, console)
    shutil.rmtree(work, ignore_errors=True)
    return res


def runs(point_res: dict[str, Any]) -> list[tuple[tune.Evaluation, dict[str, Any]]]:
    """Every (pipeline, multiplier) as a tuner evaluation, with its measured run."""
    out = []
    for r in point_res["pipelines"]:
        if "error" in r:
            continue
        spec = parse_pipeline(r["pipeline"])
        for run in r["runs"]:
            name = str(spec.with_first_keep(run["multiplier"])) if run["multiplier"] else r["pipeline"]
            out.append((tune.Evaluation(name, run["quality"], point_res["quality_kind"], r["ram_bytes_per_vector"], r["codes_bytes_per_vector"], r["fixed_ram_bytes"], r["disk_bytes_per_vector"], run["e2e_ms"]["p50"], r["build_s"]), run))
    return out


def evaluations(point_res: dict[str, Any]) -> list[tune.Evaluation]:
    """Every (pipeline, multiplier) as a tuner evaluation, for the Pareto plot."""
    return [e for e, _ in runs(point_res)]


def check_targets(points: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, evaluated on the measured results."""
    out: list[dict[str, Any]] = []

    def best_under(name: str, budget: float, *, codes_only: bool = False) -> tuple[tune.Evaluation, dict[str, Any]] | None:
        fits = [(e, r) for e, r in runs(points[name]) if (e.codes_bytes_per_vector if codes_only else e.ram_bytes_per_vector) <= budget]
        return max(fits, key=lambda er: (er[0].quality, -er[0].latency_ms)) if fits else None

    for budget, floor_recall, floor_ndcg in ((48, 0.99, 0.995), (24, 0.95, 0.99)):
        for name in points:
            floor = floor_ndcg if name == "scifact" else floor_recall
            for codes_only in (False, True):
                best = best_under(name, budget, codes_only=codes_only)
                e = best[0] if best else None
                what = "codes only, fixed arrays not counted" if codes_only else "codes + fixed arrays / rows"
                out.append({"target": f"<= {budget} B RAM/vector ({what}): quality >= {floor}", "point": name, "met": bool(e and e.quality >= floor), "best": e.pipeline if e else None, "quality": e.quality if e else None, "ram_bytes_per_vector": e.ram_bytes_per_vector if e else None, "codes_bytes_per_vector": e.codes_bytes_per_vector if e else None, "fixed_ram_bytes": e.fixed_ram_bytes if e else None})
    if "scifact" in points:
        for code in ("float8 > float32", "int8 > float32"):
            qs = [e.quality for e, _ in runs(points["scifact"]) if e.pipeline.startswith(code.split(" ")[0] + "@")]
            q = max(qs) if qs else None
            out.append({"target": f"{code} keeps >= 99.5 % of nDCG@10", "point": "scifact", "met": bool(q and q >= 0.995), "best": code, "quality": q})
    for name, res in points.items():
        if name == "scifact":
            continue
        binary = [r for e, r in runs(res) if e.pipeline.startswith("binary@")]
        if binary:
            s = float(np.median([r["scan_speedup_vs_float32"] for r in binary]))
            out.append({"target": "binary first-stage scan >= 10x faster than float32 exact scan", "point": name, "met": s >= 10, "speedup": s})
        best = best_under(name, res["dim"] * 4 / 16)
        if best:
            e, run = best
            out.append({"target": "e2e latency of the best <= 1/16-RAM pipeline <= float32 exact latency", "point": name, "met": run["e2e_vs_float32"] <= 1.0, "best": e.pipeline, "e2e_ms": run["e2e_ms"]["p50"], "float32_ms": run["float32_exact_ms"]["p50"]})
        if "rss" in res:
            out.append({"target": "RSS after open + 100 queries <= 25 % of the float32 segment (<= 48 B pipeline)", "point": name, "met": res["rss"]["met"], "rss_bytes": res["rss"]["rss_after_100_queries"], "limit_bytes": res["rss"]["limit_bytes"], "best": res["rss"]["pipeline"]})
    # (SciFact's 5k rows scan in microseconds: call overhead, not bandwidth, so it is left out)
    ratios = [(n, p["pipeline"], max(x["scan_vs_bandwidth"] for x in p["runs"])) for n, res in points.items() if res["n"] >= 50_000 for p in res["pipelines"] if "runs" in p]
    if ratios:
        low = [r for r in ratios if r[2] < 0.5]
        out.append({"target": "scan throughput of each first tier >= 0.5x single-core memory bandwidth (goal)", "point": "all", "met": not low, "below": [f"{n}: {p} {r:.2f}" for n, p, r in low]})
    return out


def plot_point(name: str, res: dict[str, Any]) -> str:
    """Draw one point's Pareto PNG into ``benchmarks/results``; returns its path from the repo."""
    evs = evaluations(res)
    plot = RESULTS_DIR / f"compress-{name}-pareto.png"
    base = tune.Evaluation("float32", 1.0, res["quality_kind"], 4.0 * res["dim"], 4.0 * res["dim"], 0, 0.0, 0.0, 0.0)
    tune.plot_pareto(tune.TuneResult(evs, tune.pareto_front(evs), None, base), plot, title=f"{name}: quality vs RAM ({res['quality_kind']})")
    return str(plot.relative_to(BENCH_DIR.parent))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rss_child:
        rss_child(*args.rss_child)
        return 0
    if args.replot:
        for name, res in json.loads(args.replot.read_text())["points"].items():
            print(plot_point(name, res))
        return 0
    console = Console()
    start = time.perf_counter()
    info = machine_info()
    bw = memory_bandwidth()
    console.log(f"single-core memory bandwidth (numpy sum): {bw['gb_per_s']:.2f} GB/s; load {info['loadavg_at_start']}")
    names = ["scifact", "arxiv-75k"] if args.quick else [p.strip() for p in args.points.split(",") if p.strip()]
    pipelines = [(p.strip(), (10, 20)) for p in args.pipelines.split(";") if p.strip()] if args.pipelines else None
    loaders = {
        "scifact": lambda: scifact(args.shared, args.cache),
        "arxiv-75k": lambda: arxiv_75k(args.shared, args.cache),
        "arxiv-1m": lambda: arxiv_1m(args.shared, args.cache, args.set_1m, args.minilm_1m),
        "arxiv-partial": lambda: arxiv_minilm_partial(args.shared, args.cache, args.minilm_1m),
    }
    shares = {"scifact": 0.1, "arxiv-75k": 0.3, "arxiv-1m": 0.45, "arxiv-partial": 0.15}
    total = sum(shares[n] for n in names)
    results: dict[str, Any] = {}
    for name in names:
        point = loaders[name]()
        deadline = time.perf_counter() + args.budget_min * 60 * shares[name] / total
        res = run_point(point, pipelines, args, deadline, bw["gb_per_s"], console)
        results[point.name] = res
        res["pareto_png"] = plot_point(point.name, res)
        res["pareto"] = [e.to_json() for e in tune.pareto_front(evaluations(res))]
    targets = check_targets(results)
    summary = [
        {"point": n, "pipeline": e.pipeline, "quality": e.quality, "ram_B_per_vec": e.ram_bytes_per_vector, "codes_B_per_vec": e.codes_bytes_per_vector, "fixed_KiB": e.fixed_ram_bytes / 1024, "disk_B_per_vec": e.disk_bytes_per_vector, "e2e_p50_ms": e.latency_ms}
        for n, res in results.items()
        for e in sorted(evaluations(res), key=lambda e: e.ram_bytes_per_vector)
    ]
    out = {
        "benchmark": "compress",
        "title": "Compression tiers (issue 10): quality vs RAM, scan speed, memory",
        "command": command_line(),
        "machine": info,
        "noisy": bool(info["loadavg_at_start"] and info["loadavg_at_start"][0] > 1.5),
        "memory_bandwidth": bw,
        "elapsed_s": time.perf_counter() - start,
        "targets": targets,
        "summary": summary,
        "points": results,
    }
    write_json(args.out, out)
    for t in targets:
        console.log(("[green]MET  " if t["met"] else "[red]NOT  ") + f"{t['point']}: {t['target']}  {({k: v for k, v in t.items() if k not in ('target', 'point', 'met')})}")
    console.log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH_DIR))
    raise SystemExit(main())
