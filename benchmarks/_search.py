"""Exact search latency (plain and filtered), exactness against numpy, open time and bytes on disk.

Stored vectors are real all-MiniLM-L6-v2 embeddings: arXiv titles (``shared/embeddings``) with
their real metadata. Above the 74,528 titles left after holding out the queries, the store gets
the 5,183 SciFact document vectors and then copies of random title rows plus Gaussian noise
(σ = 0.01 per component, renormalised), each copy carrying its source row's metadata.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _common import REPO_ROOT, dir_bytes, latency_summary, load_embeddings, median

import vecnest

K = 10
ADD_CHUNK = 10_000
NOISE_SIGMA = 0.01
FILTERS: list[tuple[str, dict[str, Any]]] = [
    ("primary_category = cs.IT", {"primary_category": "cs.IT"}),
    ("categories ∋ cs.LG", {"categories": {"$contains": "cs.LG"}}),
    ("year = 2026", {"year": 2026}),
]
INDEXED_FIELDS = ("primary_category", "year")
META_FIELDS = ("primary_category", "year", "month", "n_authors", "categories")

StartTask = Callable[[str, int], Callable[[int], None]]


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


def load_arxiv(shared: Path) -> tuple[np.ndarray, list[str], list[dict[str, Any]]]:
    """Title vectors, their ids and the matching metadata from the real arXiv records."""
    vecs, ids = load_embeddings(shared, "arxiv-daily-cs.titles")
    meta_by_id: dict[str, dict[str, Any]] = {}
    with (shared / "datasets" / "arxiv-daily-cs" / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                obj = json.loads(line)
                meta_by_id[str(obj["_id"])] = {f: obj.get(f) for f in META_FIELDS}
    return vecs, ids, [meta_by_id[i] for i in ids]


def _unit(x: np.ndarray) -> np.ndarray:
    """vecnest's own normalisation (kernels.distance.l2_normalize), reproduced."""
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32, copy=False)


def compose(
    size: int,
    titles: np.ndarray,
    title_ids: list[str],
    title_meta: list[dict[str, Any]],
    pool: np.ndarray,
    scifact: tuple[np.ndarray, list[str]],
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[str], list[dict[str, Any]], dict[str, int]]:
    """The stored set of ``size`` rows: ``(vectors, ids, metadatas, composition)``."""
    if size <= len(pool):
        sel = np.sort(rng.choice(pool, size=size, replace=False))
        return (
            titles[sel],
            [title_ids[i] for i in sel],
            [title_meta[i] for i in sel],
            {"arxiv_titles": size, "scifact_docs": 0, "noisy_title_copies": 0},
        )
    sci_vecs, sci_ids = scifact
    n_sci = min(len(sci_ids), size - len(pool))
    n_syn = size - len(pool) - n_sci
    src = rng.choice(pool, size=n_syn, replace=True)
    noisy = titles[src] + rng.normal(0.0, NOISE_SIGMA, size=(n_syn, titles.shape[1])).astype(np.float32)
    vecs = np.concatenate([titles[pool], sci_vecs[:n_sci], _unit(noisy)]).astype(np.float32)
    ids = (
        [title_ids[i] for i in pool]
        + [f"scifact:{i}" for i in sci_ids[:n_sci]]
        + [f"copy{j}:{title_ids[s]}" for j, s in enumerate(src)]
    )
    metas = (
        [title_meta[i] for i in pool]
        + [{"source": "scifact"}] * n_sci
        + [dict(title_meta[s]) for s in src]
    )
    return vecs, ids, metas, {"arxiv_titles": len(pool), "scifact_docs": n_sci, "noisy_title_copies": n_syn}


def filter_mask(metas: list[dict[str, Any]], where: dict[str, Any]) -> np.ndarray:
    """Pure-Python evaluation of the three benchmark filters (a single ``field: value`` each)."""
    ((field, cond),) = where.items()
    if isinstance(cond, dict):
        value = cond["$contains"]
        return np.fromiter((value in (m.get(field) or ()) for m in metas), dtype=bool, count=len(metas))
    return np.fromiter(
        (m.get(field) == cond and type(m.get(field)) is type(cond) for m in metas), dtype=bool, count=len(metas)
    )


# ---------------------------------------------------------------------------------------------
# measurement
# ---------------------------------------------------------------------------------------------


def _timed_searches(
    col: vecnest.Collection, queries: np.ndarray, where: dict[str, Any] | None, progress: Callable[[int], None]
) -> tuple[list[float], list[list[str]], list[list[float]]]:
    for q in queries[:5]:  # warm-up: snapshot, page cache, SQLite statement cache
        col.search(q, k=K, where=where)
    gc.collect()
    times, ids, scores = [], [], []
    for q in queries:
        t0 = time.perf_counter()
        hits = col.search(q, k=K, where=where)
        times.append(time.perf_counter() - t0)
        ids.append([h.id for h in hits])
        scores.append([h.score for h in hits])
        progress(1)
    return times, ids, scores


def _brute_force(
    qn: np.ndarray, vn: np.ndarray, mask: np.ndarray | None, stored_ids: list[str]
) -> tuple[list[list[str]], np.ndarray]:
    scores = qn @ vn.T
    if mask is not None:
        scores[:, ~mask] = -np.inf
    part = np.argpartition(-scores, K - 1, axis=1)[:, :K]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    top = np.take_along_axis(part, order, axis=1)
    top_scores = np.take_along_axis(part_scores, order, axis=1)
    return [[stored_ids[j] for j, s in zip(row, srow) if np.isfinite(s)] for row, srow in zip(top, top_scores)], top_scores


def _compare(
    got_ids: list[list[str]], got_scores: list[list[float]], bf_ids: list[list[str]], bf_scores: np.ndarray
) -> dict[str, Any]:
    """recall@10 and order agreement of vecnest's hits against the brute-force top-10."""
    recalls, same_order, max_diff, tie_only = [], 0, 0.0, 0
    for q, (g, b) in enumerate(zip(got_ids, bf_ids)):
        recalls.append(len(set(g) & set(b)) / max(1, len(b)))
        same_order += g == b
        n = min(len(g), len(b))
        if n:
            max_diff = max(max_diff, float(np.max(np.abs(np.asarray(got_scores[q][:n]) - bf_scores[q, :n]))))
        if set(g) != set(b) and len(g) == len(b):
            # a swap at the cut-off between (near-)equal scores is not an error of exact search
            tie_only += abs(got_scores[q][-1] - float(bf_scores[q, len(b) - 1])) < 1e-5
    return {
        "queries": len(got_ids),
        "recall_at_10": float(np.mean(recalls)),
        "identical_top10_fraction": same_order / len(got_ids),
        "max_abs_score_diff": max_diff,
        "set_mismatches_at_score_ties": int(tie_only),
    }


def _plan(db: vecnest.Database, col: vecnest.Collection, where: dict[str, Any]) -> dict[str, Any]:
    """Diagnostics through internals (SQL plan and time of the candidate query); best effort."""
    try:
        from vecnest import filter as vfilter

        frag, params = vfilter.to_sql(vfilter.parse(where, None))
        sql = f"SELECT slot FROM {col._table} WHERE {frag} ORDER BY slot"  # noqa: SLF001
        with db.catalog.read() as conn:
            plan = [r[-1] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                rows = conn.execute(sql, params).fetchall()
                times.append(time.perf_counter() - t0)
        return {"query_plan": plan, "candidate_sql_ms_median": median(times) * 1e3, "candidates": len(rows)}
    except Exception as exc:  # noqa: BLE001 - diagnostics must never break the benchmark
        return {"error": repr(exc)}


def run_size(
    size: int,
    work: Path,
    titles: np.ndarray,
    title_ids: list[str],
    title_meta: list[dict[str, Any]],
    query_idx: np.ndarray,
    scifact: tuple[np.ndarray, list[str]],
    seed: int,
    start_task: StartTask,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Build a store of ``size`` vectors and measure plain, batch and filtered exact search."""
    rng = np.random.default_rng(seed + size)
    pool = np.setdiff1d(np.arange(len(titles)), query_idx)
    vecs, ids, metas, composition = compose(size, titles, title_ids, title_meta, pool, scifact, rng)
    queries = titles[query_idx]
    root = work / f"search-{size}"

    progress = start_task(f"{size:,}: add vectors + metadata", size)
    gc.collect()
    t0 = time.perf_counter()
    db = vecnest.open(root)
    col = db.create_collection("arxiv", model=None, dim=titles.shape[1])
    for s in range(0, size, ADD_CHUNK):
        col.add(ids[s : s + ADD_CHUNK], metadatas=metas[s : s + ADD_CHUNK], vectors=vecs[s : s + ADD_CHUNK])
        progress(min(ADD_CHUNK, size - s))
    add_s = time.perf_counter() - t0
    log(f"{size:,}: stored in {add_s:.1f} s")

    vn, qn = _unit(vecs), _unit(queries)
    sample = sorted(np.random.default_rng(seed).choice(size, size=min(1000, size), replace=False).tolist())
    got = col.get(ids=[ids[i] for i in sample], include_vectors=True)
    stored_diff = float(np.max(np.abs(np.stack([d.vector for d in got]) - vn[sample])))

    out: dict[str, Any] = {
        "n": size,
        "composition": composition,
        "add_s": add_s,
        "add_vectors_per_s": size / add_s,
        "stored_vs_numpy_max_abs_diff": stored_diff,
    }

    progress = start_task(f"{size:,}: search (k={K})", len(queries))
    times, got_ids, got_scores = _timed_searches(col, queries, None, progress)
    out["search"] = latency_summary(times)
    bf_ids, bf_scores = _brute_force(qn, vn, None, ids)
    checks: dict[str, Any] = {"unfiltered": _compare(got_ids, got_scores, bf_ids, bf_scores)}

    batch_times, batch_hits = [], None
    for _ in range(3):
        gc.collect()
        t0 = time.perf_counter()
        batch_hits = col.search_batch(queries, k=K)
        batch_times.append(time.perf_counter() - t0)
    assert batch_hits is not None
    out["search_batch"] = {
        "queries": len(queries),
        "runs_s": batch_times,
        "median_s": median(batch_times),
        "qps": len(queries) / median(batch_times),
        "same_hits_as_search": float(np.mean([[h.id for h in b] == g for b, g in zip(batch_hits, got_ids)])),
    }

    filtered: list[dict[str, Any]] = []
    masks = {name: filter_mask(metas, where) for name, where in FILTERS}
    for indexed in (False, True):
        if indexed:
            t0 = time.perf_counter()
            for field in INDEXED_FIELDS:
                col.create_index(field)
            out["create_index_s"] = time.perf_counter() - t0
        for name, where in FILTERS:
            progress = start_task(f"{size:,}: filter {name}{' (indexed)' if indexed else ''}", len(queries))
            times, f_ids, f_scores = _timed_searches(col, queries, where, progress)
            bf_ids, bf_scores = _brute_force(qn, vn, masks[name], ids)
            entry = {
                "filter": name,
                "where": where,
                "indexed_fields": list(INDEXED_FIELDS) if indexed else [],
                "matching": int(masks[name].sum()),
                "selectivity": float(masks[name].mean()),
                **latency_summary(times),
                "diagnostics": _plan(db, col, where),
            }
            filtered.append(entry)
            checks[f"{name}{' (indexed)' if indexed else ''}"] = _compare(f_ids, f_scores, bf_ids, bf_scores)
            log(f"{size:,}: {name}{' (indexed)' if indexed else ''}: p50 {entry['p50_ms']:.2f} ms")
    out["filtered"] = filtered
    out["exactness"] = checks
    out["all_exact"] = all(c["recall_at_10"] == 1.0 for c in checks.values())
    db.close()
    out["store_path"] = str(root)
    return out


# ---------------------------------------------------------------------------------------------
# open time and bytes on disk
# ---------------------------------------------------------------------------------------------

_OPEN_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import vecnest
t1 = time.perf_counter()
loaded = sorted(m for m in ("onnxruntime", "tokenizers", "rich", "faiss", "numba", "sqlite3", "numpy")
                if m in sys.modules)
import numpy as np
q = np.load(sys.argv[3])
t2 = time.perf_counter()
db = vecnest.open(sys.argv[1])
t3 = time.perf_counter()
col = db.get_collection(sys.argv[2])
t4 = time.perf_counter()
col.search(q[0], k=10)
t5 = time.perf_counter()
col.search(q[1], k=10)
t6 = time.perf_counter()
db.close()
print(json.dumps({"import_vecnest_s": t1 - t0, "open_s": t3 - t2, "get_collection_s": t4 - t3,
                  "first_search_s": t5 - t4, "second_search_s": t6 - t5,
                  "open_to_first_hit_s": t5 - t2, "modules_after_import": loaded}))
"""


def run_open(root: Path, name: str, queries: np.ndarray, work: Path, runs: int) -> dict[str, Any]:
    """Median over ``runs`` fresh interpreters of each step of opening a store and searching it."""
    qfile = work / "open-queries.npy"
    np.save(qfile, queries[:2].astype(np.float32))
    samples = []
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _OPEN_SCRIPT, str(root), name, str(qfile)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        walls.append(time.perf_counter() - t0)
        samples.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    keys = [k for k in samples[0] if k.endswith("_s")]
    return {
        "runs": runs,
        "page_cache": "warm (the store was just written and searched; caches are not dropped)",
        "median_s": {k: median([s[k] for s in samples]) for k in keys},
        "samples": samples,
        "subprocess_wall_s_median": median(walls),
        "modules_after_import": samples[0]["modules_after_import"],
    }


def run_disk(root: Path, n: int) -> dict[str, Any]:
    """Bytes of a closed store, from ``db.info()`` and from the filesystem."""
    fs_before = dir_bytes(root)  # before reopening: no WAL / shm files yet
    with vecnest.open(root, read_only=True) as db:
        info = db.info()
    col = info["collections"][0]
    return {
        "n": n,
        "info": info,
        "filesystem": fs_before,
        "files": {
            str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()
        },
        "bytes_per_vector": {
            "info_total": info["disk_bytes"] / n,
            "filesystem_apparent": fs_before["apparent_bytes"] / n,
            "vectors": col["vector_bytes"] / n,
            "documents_and_metadata": (col["document_bytes"] or 0) / n,
        },
    }
