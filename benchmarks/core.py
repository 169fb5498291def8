"""Core benchmark of the store / model / exact-search issue; writes ``benchmarks/results/core.json``.

Sections (each a key of the JSON and a part of ``BENCHMARKS.md``):

1. ``ingest``  — SciFact ingest throughput: vecnest end to end vs. the same model run by hand with
   tokenizers + onnxruntime (model-card loop, and the same loop with vecnest's batching).
2. ``search``  — exact search latency at 10k and 100k real vectors, plain, batched and filtered
   (with and without indexed fields), checked against a numpy brute force.
3. ``open``    — ``import vecnest``, open, get_collection, first and second search, fresh processes.
4. ``disk``    — bytes on disk of the largest store and bytes per vector.
5. ``scifact`` — nDCG@10 of exact search over the precomputed SciFact embeddings (and, with the
   whole corpus ingested, over vecnest's own encoding).

Usage::

    .venv/bin/python benchmarks/core.py            # 1,000-doc ingest comparison, ~5 min on 2 cores
    .venv/bin/python benchmarks/core.py --full     # all 5,183 SciFact docs (slow)

Nothing touches the network. ``BENCHMARKS.md`` is regenerated from every JSON file in
``benchmarks/results/`` at the end (``benchmarks/report.py``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    RESULTS_DIR,
    beir_doc_text,
    default_shared_dir,
    load_embeddings,
    read_jsonl,
    read_qrels,
    require_files,
    write_json,
)
from _provenance import provenance
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

import vecnest

TITLE = "Core (issue: store/model/exact search)"
PUBLISHED_SCIFACT_NDCG10 = 0.645
SECTIONS = ("ingest", "search", "open", "disk", "scifact")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", type=Path, default=default_shared_dir(), help="folder with datasets/ and embeddings/ (default: $VECNEST_SHARED_DIR or <repo>/../shared)")
    p.add_argument("--full", action="store_true", help="ingest comparison on all 5,183 SciFact docs")
    p.add_argument("--ingest-docs", type=int, default=1000, help="SciFact docs for the ingest comparison (default 1000)")
    p.add_argument("--ingest-reps", type=int, default=2, help="rounds of the interleaved schedule raw, vecnest, raw-sorted (default 2)")
    p.add_argument("--no-probe", action="store_true", help="skip the onnxruntime session-options probe (128 docs x 3 rounds, ~2 min)")
    p.add_argument("--sizes", default="10000,100000", help="stored-vector counts for the search benchmark (default 10000,100000)")
    p.add_argument("--queries", type=int, default=200, help="held-out title vectors used as queries (default 200)")
    p.add_argument("--open-runs", type=int, default=5, help="fresh processes for the open-time median (default 5)")
    p.add_argument("--encode-scifact", action="store_true", help="also encode all of SciFact with the default model for nDCG@10 (done anyway with --full)")
    p.add_argument("--skip", default="", help=f"comma-separated sections to skip: {','.join(SECTIONS)}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", type=Path, default=None, help="scratch folder for the stores (default: a new temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the scratch stores")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "core.json", help="result file (default benchmarks/results/core.json)")
    p.add_argument("--no-report", action="store_true", help="do not regenerate BENCHMARKS.md")
    args = p.parse_args(argv)
    unknown = set(filter(None, args.skip.split(","))) - set(SECTIONS)
    if unknown:
        p.error(f"--skip: unknown sections {sorted(unknown)}; choose from {list(SECTIONS)}")
    return args


# ---------------------------------------------------------------------------------------------
# SciFact nDCG@10
# ---------------------------------------------------------------------------------------------


def _ranx_scores(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> dict[str, float]:
    from ranx import Qrels, Run, evaluate

    res = evaluate(Qrels(qrels), Run(run), ["ndcg@10", "recall@100"])
    return {k: float(v) for k, v in res.items()}


def run_scifact(shared: Path, work: Path, encoded_store: Path | None, encode: bool, start_task, log) -> dict[str, Any]:  # noqa: ANN001
    """nDCG@10 of exact search: precomputed vectors, and vecnest's own encoding when available."""
    base = shared / "datasets" / "scifact"
    qrels = read_qrels(base / "qrels" / "test.tsv")
    doc_vecs, doc_ids = load_embeddings(shared, "scifact.docs")
    q_vecs, q_ids = load_embeddings(shared, "scifact.queries")
    keep = [i for i, q in enumerate(q_ids) if q in qrels]
    q_vecs, q_ids = q_vecs[keep], [q_ids[i] for i in keep]

    root = work / "scifact-vectors"
    with vecnest.open(root) as db:
        col = db.create_collection("scifact", model=None, dim=doc_vecs.shape[1])
        col.add(doc_ids, vectors=doc_vecs)
        t0 = time.perf_counter()
        hits = col.search_batch(q_vecs, k=100)
        search_s = time.perf_counter() - t0
    run = {q: {h.id: h.score for h in hs} for q, hs in zip(q_ids, hits)}
    out: dict[str, Any] = {
        "queries": len(q_ids),
        "docs": len(doc_ids),
        "published_ndcg_at_10": PUBLISHED_SCIFACT_NDCG10,
        "precomputed_vectors": {**_ranx_scores(qrels, run), "search_batch_s": search_s},
    }
    log(f"SciFact nDCG@10 (precomputed vectors): {out['precomputed_vectors']['ndcg@10']:.4f}")

    if encoded_store is None and encode:
        docs = read_jsonl(base / "corpus.jsonl")
        encoded_store = work / "scifact-encoded"
        progress = start_task("encode SciFact with the default model", len(docs))
        t0 = time.perf_counter()
        with vecnest.open(encoded_store) as db:
            col = db.create_collection("scifact")
            for s in range(0, len(docs), 512):
                part = docs[s : s + 512]
                col.add([str(d["_id"]) for d in part], [beir_doc_text(d) for d in part], progress=progress)
        out["encode_ingest_s"] = time.perf_counter() - t0
    if encoded_store is not None:
        queries = {str(q["_id"]): q["text"] for q in read_jsonl(base / "queries.jsonl")}
        with vecnest.open(encoded_store, read_only=True) as db:
            col = db.get_collection("scifact")
            t0 = time.perf_counter()
            hits = col.search_batch([queries[q] for q in q_ids], k=100)
            search_s = time.perf_counter() - t0
        run = {q: {h.id: h.score for h in hs} for q, hs in zip(q_ids, hits)}
        out["vecnest_encoded"] = {**_ranx_scores(qrels, run), "search_batch_with_query_encoding_s": search_s}
        log(f"SciFact nDCG@10 (vecnest encoding): {out['vecnest_encoded']['ndcg@10']:.4f}")
    return out


# ---------------------------------------------------------------------------------------------
# terminal summary
# ---------------------------------------------------------------------------------------------


def print_summary(console: Console, res: dict[str, Any]) -> None:
    """Rich tables of the key numbers."""
    ing = res.get("ingest")
    if ing:
        t = Table(title=f"Ingest: {ing['docs']:,} SciFact docs (median of {len(ing['runs_s']['raw_fixed'])}+ runs)")
        for col in ("contender", "median s", "docs/s", "vecnest overhead"):
            t.add_column(col, justify="right" if col != "contender" else "left")
        labels = {"raw_fixed": "raw onnxruntime, batches of 32", "raw_sorted": "raw onnxruntime, vecnest batching", "vecnest": "vecnest create + add (512/chunk)"}
        for k in ("raw_fixed", "raw_sorted", "vecnest"):
            ov = {"raw_fixed": ing["overhead_vs_raw_fixed"], "raw_sorted": ing["overhead_vs_raw_sorted"]}.get(k)
            t.add_row(labels[k], f"{ing['median_s'][k]:.2f}", f"{ing['docs_per_s'][k]:.1f}", "" if ov is None else f"{ov:+.1%}")
        console.print(t)
        probe = ing.get("session_options_probe")
        if probe:
            console.print(
                "session-options probe (raw sorted loop, "
                f"{probe['docs']} docs): "
                + ", ".join(f"{k} {v:.1f} docs/s" for k, v in probe["docs_per_s"].items())
            )
    search = res.get("search")
    if search:
        t = Table(title="Exact search, k=10 (single query per call; batch = all queries in one call)")
        for col in ("stored", "p50 ms", "p95 ms", "p99 ms", "QPS", "batch QPS", "recall@10", "add vectors/s"):
            t.add_column(col, justify="right")
        for s in search["sizes"]:
            sr = s["search"]
            t.add_row(f"{s['n']:,}", f"{sr['p50_ms']:.2f}", f"{sr['p95_ms']:.2f}", f"{sr['p99_ms']:.2f}", f"{sr['qps']:.0f}", f"{s['search_batch']['qps']:.0f}", f"{s['exactness']['unfiltered']['recall_at_10']:.3f}", f"{s['add_vectors_per_s']:,.0f}")
        console.print(t)
        t = Table(title="Filtered exact search, k=10")
        for col in ("stored", "filter", "indexed", "match %", "p50 ms", "p95 ms", "p99 ms", "QPS", "SQL ms", "recall@10"):
            t.add_column(col, justify="left" if col in ("filter", "indexed") else "right")
        for s in search["sizes"]:
            for f in s["filtered"]:
                key = f["filter"] + (" (indexed)" if f["indexed_fields"] else "")
                sql = (f.get("diagnostics") or {}).get("candidate_sql_ms_median")
                t.add_row(f"{s['n']:,}", f["filter"], "yes" if f["indexed_fields"] else "no", f"{f['selectivity'] * 100:.1f}", f"{f['p50_ms']:.2f}", f"{f['p95_ms']:.2f}", f"{f['p99_ms']:.2f}", f"{f['qps']:.0f}", "" if sql is None else f"{sql:.2f}", f"{s['exactness'][key]['recall_at_10']:.3f}")
        console.print(t)
    op = res.get("open")
    if op:
        t = Table(title=f"Open the {op['n']:,}-vector store in a fresh process (median of {op['runs']})")
        t.add_column("step")
        t.add_column("ms", justify="right")
        for k, v in op["median_s"].items():
            t.add_row(k.removesuffix("_s"), f"{v * 1e3:.1f}")
        console.print(t)
    disk = res.get("disk")
    if disk:
        b = disk["bytes_per_vector"]
        console.print(
            f"[bold]Disk[/]: {disk['info']['disk_bytes'] / 1e6:.1f} MB for {disk['n']:,} vectors = "
            f"{b['info_total']:.0f} B/vector (vectors {b['vectors']:.0f}, documents+metadata {b['documents_and_metadata']:.0f})"
        )
    sf = res.get("scifact")
    if sf:
        line = f"[bold]SciFact nDCG@10[/]: {sf['precomputed_vectors']['ndcg@10']:.4f} (precomputed vectors)"
        if "vecnest_encoded" in sf:
            line += f", {sf['vecnest_encoded']['ndcg@10']:.4f} (vecnest encoding)"
        console.print(line + f"; published {sf['published_ndcg_at_10']}")


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    shared = args.shared.resolve()
    require_files(
        [
            shared / "datasets" / "scifact" / "corpus.jsonl",
            shared / "datasets" / "scifact" / "queries.jsonl",
            shared / "datasets" / "scifact" / "qrels" / "test.tsv",
            shared / "datasets" / "arxiv-daily-cs" / "corpus.jsonl",
            shared / "embeddings" / "arxiv-daily-cs.titles.f16.npy",
            shared / "embeddings" / "scifact.docs.f16.npy",
            shared / "embeddings" / "scifact.queries.f16.npy",
        ]
    )
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    console = Console() if sys.stdout.isatty() else Console(width=150)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="vecnest-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if any(work.iterdir()):
        raise SystemExit(f"--workdir {work} is not empty; pass an empty or new folder")

    res: dict[str, Any] = {
        "benchmark": "core",
        "title": TITLE,
        "provenance": provenance(),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    started = time.perf_counter()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )

    def start_task(label: str, total: int):  # noqa: ANN202
        task = progress.add_task(label, total=total)
        return lambda n: progress.advance(task, n)

    def log(msg: str) -> None:
        progress.console.log(msg)

    try:
        with progress:
            encoded_store = None
            if "ingest" not in skip:
                from _ingest import run_ingest

                log("1. ingest throughput")
                n_docs = None if args.full else args.ingest_docs
                res["ingest"] = run_ingest(shared, work, n_docs, args.ingest_reps, start_task, log, probe=not args.no_probe)
                if res["ingest"]["full_corpus"]:
                    encoded_store = Path(res["ingest"]["store_path"])
                write_json(args.out, res)
            if "search" not in skip:  # open and disk measure the largest search store
                import _search

                log("2. exact search: loading arXiv titles and metadata")
                titles, title_ids, title_meta = _search.load_arxiv(shared)
                sci_vecs, sci_ids = load_embeddings(shared, "scifact.docs")
                query_idx = np.sort(np.random.default_rng(args.seed).choice(len(titles), size=args.queries, replace=False))
                res["search"] = {
                    "k": _search.K,
                    "queries": args.queries,
                    "query_source": "held-out arXiv title vectors (removed from every stored set)",
                    "vectors": "real all-MiniLM-L6-v2 embeddings (shared/embeddings); above 74,528 titles: "
                    "+5,183 SciFact doc vectors, then copies of random title rows + N(0, 0.01²) noise per "
                    "component, renormalised, with the source row's metadata",
                    "sizes": [],
                }
                for size in sizes:
                    entry = _search.run_size(size, work, titles, title_ids, title_meta, query_idx, (sci_vecs, sci_ids), args.seed, start_task, log)
                    res["search"]["sizes"].append(entry)
                    write_json(args.out, res)
                largest = res["search"]["sizes"][-1]
                if "disk" not in skip:
                    log("4. bytes on disk")
                    res["disk"] = _search.run_disk(Path(largest["store_path"]), largest["n"])
                if "open" not in skip:
                    log("3. open time (fresh processes)")
                    res["open"] = {"n": largest["n"], **_search.run_open(Path(largest["store_path"]), "arxiv", titles[query_idx], work, args.open_runs)}
                write_json(args.out, res)
            if "scifact" not in skip:
                log("5. SciFact nDCG@10")
                res["scifact"] = run_scifact(shared, work, encoded_store, args.encode_scifact, start_task, log)
    finally:
        res["duration_s"] = time.perf_counter() - started
        write_json(args.out, res)
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    print_summary(console, res)
    console.print(f"results: {args.out}")
    if not args.no_report:
        from report import write_report

        path = write_report()
        console.print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
