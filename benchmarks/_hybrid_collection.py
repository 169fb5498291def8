"""The ``collection`` section of ``benchmarks/hybrid.py``: hybrid vs dense latency through the
product (``Collection.search``), at 75k arXiv documents (title + abstract texts, precomputed
title vectors), exact and HNSW (M=32, efConstruction=128, the calibrated default effort).

Timed, interleaved over the same held-out queries (``--repeats`` rounds):

* search only: ``search(vector, mode="dense")`` vs ``search(vector, text=title, mode="hybrid")``
  (and ``mode="lexical"``), ids and scores only;
* with the query embedded, as a user searching text does: ``search(title, mode="dense")`` vs
  ``search(title)`` (the default, hybrid).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import latency_summary, read_jsonl
from rich.console import Console
from rich.table import Table

import vecnest

console = Console()


def _arxiv(shared: Path) -> tuple[list[str], list[str], list[str], list[dict[str, Any]], np.ndarray]:
    rows = list(read_jsonl(shared / "datasets" / "arxiv-daily-cs" / "corpus.jsonl"))
    ids = json.loads((shared / "embeddings" / "arxiv-daily-cs.titles.ids.json").read_text())
    if ids != [r["_id"] for r in rows]:
        raise SystemExit("arxiv title vectors are not in corpus order")
    vecs = np.load(shared / "embeddings" / "arxiv-daily-cs.titles.f16.npy").astype(np.float32)
    texts = [f"{r['title']} {r['text']}".strip() for r in rows]
    metas = [{"year": r["year"], "primary_category": r["primary_category"]} for r in rows]
    return ids, texts, [r["title"] for r in rows], metas, vecs


def section_collection(shared: Path, repeats: int, n_queries: int) -> dict[str, Any]:
    ids, texts, titles, metas, vecs = _arxiv(shared)
    rng = np.random.default_rng(0)
    held = np.sort(rng.choice(len(ids), size=n_queries, replace=False))
    keep = np.setdiff1d(np.arange(len(ids)), held)
    tmp = Path(tempfile.mkdtemp(prefix="vecnest-bench-hybrid-"))
    out: dict[str, Any] = {"documents": len(keep), "queries": int(n_queries), "repeats": repeats}
    try:
        with vecnest.open(tmp / "s") as db:
            cols = {
                "exact": db.create_collection("exact", "default"),
                "hnsw": db.create_collection("hnsw", "default", index="hnsw"),
            }
            for name, col in cols.items():
                t0 = time.perf_counter()
                with col.bulk():
                    for lo in range(0, len(keep), 5000):
                        part = keep[lo : lo + 5000]
                        col.add([ids[i] for i in part], [texts[i] for i in part], [metas[i] for i in part], vecs[part])
                col.wait_for_maintenance()
                out[f"{name}_load_seconds"] = round(time.perf_counter() - t0, 1)
            qv = vecs[held] / np.linalg.norm(vecs[held], axis=1, keepdims=True)
            qt = [titles[i] for i in held]
            variants: dict[str, Any] = {}
            for name, col in cols.items():
                variants[f"{name}: dense"] = lambda j, c=col: c.search(qv[j], k=10, mode="dense", include=())
                variants[f"{name}: hybrid"] = lambda j, c=col: c.search(qv[j], k=10, text=qt[j], mode="hybrid", include=())
                variants[f"{name}: text query, dense"] = lambda j, c=col: c.search(qt[j], k=10, mode="dense", include=())
                variants[f"{name}: text query, default (hybrid)"] = lambda j, c=col: c.search(qt[j], k=10, include=())
            variants["lexical"] = lambda j: cols["exact"].search(qt[j], k=10, mode="lexical", include=())
            for fn in variants.values():  # warm: snapshots, lexical searchers, caches
                fn(0)
            times: dict[str, list[float]] = {v: [] for v in variants}
            for _ in range(repeats):
                for label, fn in variants.items():
                    for j in range(n_queries):
                        t0 = time.perf_counter()
                        fn(j)
                        times[label].append(time.perf_counter() - t0)
        lat = {label: latency_summary(t) for label, t in times.items()}
        out["latency"] = lat
        ratios = {}
        for name in cols:
            for p in ("p50_ms", "p99_ms"):
                ratios[f"{name}: hybrid / dense, {p}, search only"] = round(lat[f"{name}: hybrid"][p] / lat[f"{name}: dense"][p], 2)
                ratios[f"{name}: hybrid / dense, {p}, text query"] = round(
                    lat[f"{name}: text query, default (hybrid)"][p] / lat[f"{name}: text query, dense"][p], 2
                )
        out["ratios"] = ratios
        t = Table(title="through Collection.search at 75k (ms)")
        for c in ("variant", "p50", "p99"):
            t.add_column(c, justify="left" if c == "variant" else "right")
        for label, s in lat.items():
            t.add_row(label, f"{s['p50_ms']:.3f}", f"{s['p99_ms']:.3f}")
        console.print(t)
        console.print_json(json.dumps(ratios))
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
