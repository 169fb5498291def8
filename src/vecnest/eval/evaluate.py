"""``vecnest.evaluate``: how good and how costly a configuration is, on a BEIR dataset.

Quality (nDCG, recall, MRR via ranx), agreement with exact search on the same stored vectors
(ANN recall@k), query latency percentiles and throughput (one thread, all cores, batched), ingest
time, and memory: bytes per vector by component, bytes on disk, and the process RSS delta.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from vecnest._version import __version__
from vecnest.collection import Collection
from vecnest.config import IndexConfig, parse_index
from vecnest.database import Database
from vecnest.database import open as open_store
from vecnest.encode.registry import resolve_encoder
from vecnest.errors import InvalidInputError
from vecnest.eval.beir import BeirDataset, load_beir
from vecnest.eval.cache import cached_embeddings, default_cache_dir
from vecnest.eval.metrics import check_metrics, ir_metrics
from vecnest.kernels.distance import top_k

DEFAULT_METRICS = ("ndcg@10", "recall@100", "mrr@10")


@dataclass(frozen=True)
class EvalReport:
    """The result of one evaluation; every number is measured in this run."""

    dataset: str
    n_docs: int
    n_queries: int
    config: dict[str, Any]
    quality: dict[str, float]
    ann_recall: dict[str, float]
    latency_ms: dict[str, float]
    throughput_qps: dict[str, float]
    timings_s: dict[str, float]
    bytes_per_vector: dict[str, float]
    disk_bytes: int
    rss_delta_bytes: int
    embeddings_cached: bool
    machine: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return asdict(self)

    def to_markdown(self) -> str:
        """A Markdown section with one table per group of numbers."""
        lines = [f"### {self.dataset} — {self.config.get('model')} ({self.config.get('index')})", ""]
        groups = {
            "quality": self.quality,
            "ANN recall vs exact": self.ann_recall,
            "latency (ms)": self.latency_ms,
            "throughput (QPS)": self.throughput_qps,
            "time (s)": self.timings_s,
            "bytes per vector": self.bytes_per_vector,
        }
        lines += ["| group | measure | value |", "|---|---|---:|"]
        for group, values in groups.items():
            for key, value in values.items():
                lines.append(f"| {group} | {key} | {value:,.4g} |")
        lines.append(f"| memory | disk bytes | {self.disk_bytes:,} |")
        lines.append(f"| memory | RSS delta bytes | {self.rss_delta_bytes:,} |")
        return "\n".join(lines) + "\n"


def _rss_bytes() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def machine_info() -> dict[str, Any]:
    """CPU, cores, Python and vecnest versions, date — stamped on every report."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "vecnest": __version__,
        "numpy": np.__version__,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def evaluate(
    target: Collection | Any,
    dataset: str | Path | BeirDataset,
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    k: int = 100,
    metric: str = "cosine",
    index: str | IndexConfig | None = None,
    search: dict[str, Any] | None = None,
    cache_dir: str | Path | None = "default",
    latency_queries: int = 200,
    progress: Callable[[str, int, int], None] | None = None,
) -> EvalReport:
    """Evaluate retrieval on a BEIR dataset.

    Args:
        target: a :class:`Collection` that already holds the dataset's corpus (same ids), or a
            model spec (``"default"``, ``"sentence-transformers:…"``, an Encoder) to build a
            temporary collection from the corpus.
        dataset: a BEIR directory or a loaded :class:`BeirDataset`.
        metrics: ranx metric names.
        k: depth of the ranking per query (must cover the metrics' cut-offs).
        metric: similarity metric of a collection built here.
        index: approximate index of a collection built here (``"hnsw"``, an IndexConfig…).
        search: extra search arguments, e.g. ``{"ef_search": 64}``, ``{"target_recall": 0.9}``,
            ``{"mode": "hybrid"}`` (lexical and hybrid modes search with the query texts beside
            their vectors; the ANN recall against exact dense search is then not reported) or
            ``{"rerank": "feedback"}``. Without ``mode`` the search is dense.
        cache_dir: where embeddings are cached (``"default"``: ``$VECNEST_CACHE_DIR`` or
            ``~/.cache/vecnest``; ``None``: no cache).
        latency_queries: queries timed one by one for latency percentiles.
        progress: optional ``progress(stage, done, total)``.
    """
    metrics = check_metrics(metrics)
    data = dataset if isinstance(dataset, BeirDataset) else load_beir(dataset)
    if not data.queries:
        raise InvalidInputError(f"dataset {data.name} has no judged queries to evaluate")
    cache = resolve_cache(cache_dir)
    rss0 = _rss_bytes()
    with tempfile.TemporaryDirectory(prefix="vecnest-eval-") as tmp:
        if isinstance(target, Collection):
            col, db, timings, cached = target, None, {}, False
            col.wait_for_maintenance()  # measure the index as built, not half-merged
            if len(col) != len(data.doc_ids):
                raise InvalidInputError(
                    f"collection {col.name!r} holds {len(col)} documents but dataset {data.name} "
                    f"has {len(data.doc_ids)}; ingest the dataset's corpus.jsonl into it first"
                )
        else:
            db, col, timings, cached = build_collection(target, data, Path(tmp), metric=metric, index=index, cache=cache, progress=progress)
        measured = _measure(col, data, metrics, k, cache, latency_queries, dict(timings), search or {})
        report = _report(col, data, k, cached, _rss_bytes() - rss0, search or {}, measured)
        if db is not None:
            db.close()
    return report


def resolve_cache(cache_dir: str | Path | None) -> Path | None:
    """``"default"`` → the default cache folder; ``None`` → no cache."""
    if cache_dir == "default":
        return default_cache_dir()
    return Path(cache_dir) if cache_dir else None


def build_collection(
    model: Any,
    data: BeirDataset,
    root: Path,
    *,
    metric: str = "cosine",
    index: str | IndexConfig | None = None,
    cache: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    name: str = "eval",
) -> tuple[Database, Collection, dict[str, float], bool]:
    """Embed (or reuse cached embeddings of) the corpus and store it in a new collection.

    Returns:
        The open store, the collection, timings (embed / store / index build) and whether the
        embeddings came from the cache.
    """
    encoder = resolve_encoder(model)
    if encoder is None:
        raise InvalidInputError("evaluate() needs a model to embed the dataset's texts")
    timings: dict[str, float] = {}
    start = time.perf_counter()
    docs, cached = cached_embeddings(
        encoder, data.doc_texts, kind="documents", cache_dir=cache,
        progress=(lambda n, t=len(data.doc_ids): progress("embed", n, t)) if progress else None,
    )
    timings["embed_documents"] = time.perf_counter() - start
    db = open_store(root / name)
    cfg = parse_index(index)
    # build the index once, after the load, as a bulk loader would
    col = db.create_collection(name, encoder, metric=metric, index=replace(cfg, delta_limit=10**12))
    start = time.perf_counter()
    with col.bulk():
        for lo in range(0, len(docs), 4096):
            hi = lo + 4096
            col.add(data.doc_ids[lo:hi], data.doc_texts[lo:hi], data.doc_metadata[lo:hi], docs[lo:hi])
        timings["store_documents"] = time.perf_counter() - start
        start = time.perf_counter()
    col.optimize()  # nothing left to do unless the build at the end of bulk() failed: raise then
    col.wait_for_maintenance()  # (the lexical index too: measure the steady state)
    timings["build_index"] = time.perf_counter() - start
    return db, col, timings, cached


def _report(
    col: Collection, data: BeirDataset, k: int, cached: bool, rss: int, search: dict[str, Any], measured: dict[str, Any]
) -> EvalReport:
    fp = col.config.encoder or {}
    sizes = col.disk_bytes()
    index = (col.config.index or IndexConfig()).to_json()
    return EvalReport(
        dataset=data.name,
        n_docs=len(data.doc_ids),
        n_queries=len(data.queries),
        config={"model": fp.get("name"), "metric": col.metric.value, "index": index["kind"],
                "index_config": index, "search": search, "k": k},
        embeddings_cached=cached,
        disk_bytes=sum(v or 0 for v in sizes.values()),
        rss_delta_bytes=rss,
        machine=machine_info(),
        **measured,
    )


def _measure(
    col: Collection,
    data: BeirDataset,
    metrics: list[str],
    k: int,
    cache: Path | None,
    latency_queries: int,
    timings: dict[str, float],
    search: dict[str, Any],
) -> dict[str, Any]:
    qids = list(data.queries)
    encoder = col.encoder
    if encoder is None:
        raise InvalidInputError(f"collection {col.name!r} has no encoder to embed the queries")
    start = time.perf_counter()
    qvecs, _ = cached_embeddings(encoder, [data.queries[q] for q in qids], kind="queries", cache_dir=cache)
    timings["embed_queries"] = time.perf_counter() - start

    qtexts = [data.queries[q] for q in qids]
    dense = search.get("mode", "dense") == "dense" and search.get("rerank") is None
    texts = {} if dense else {"texts": qtexts}  # lexical / hybrid: the texts beside the vectors
    start = time.perf_counter()
    results = col.search_batch(qvecs, k=k, include=(), **search, **texts)
    batch_s = time.perf_counter() - start
    run = {q: {h.id: h.score for h in hits} for q, hits in zip(qids, results, strict=True)}
    quality = ir_metrics(data.qrels, run, metrics)

    # agreement with exact search over the very vectors stored (the ANN-recall oracle)
    stored = col.get(include_vectors=True)
    ids = np.array([d.id for d in stored], dtype=object)
    matrix = np.stack([d.vector for d in stored]).astype(np.float32)
    q = qvecs / np.linalg.norm(qvecs, axis=1, keepdims=True) if col.metric.value == "cosine" else qvecs
    ann: dict[str, float] = {}
    row_of = {doc_id: i for i, doc_id in enumerate(ids)}
    exact_scores = q @ matrix.T if col.metric.value != "l2" else -(
        (q * q).sum(1)[:, None] - 2 * q @ matrix.T + (matrix * matrix).sum(1)[None, :]
    )
    for cut in sorted({min(10, k), min(k, 100)}) if dense else ():  # (against exact dense search)
        _, kth = top_k(exact_scores, cut)  # k' = min(cut, n) columns
        # tie-aware recall (as ann-benchmarks): a returned row counts if its exact score reaches
        # the exact k-th score, so equally good neighbours in another order are not misses
        hits_ok = [
            sum(exact_scores[qi, row_of[h.id]] >= kth[qi, -1] - 1e-5 for h in hits[:cut]) / kth.shape[1]
            for qi, hits in enumerate(results)
        ]
        ann[f"recall@{cut}"] = float(np.mean(hits_ok))

    sample = list(range(min(latency_queries, len(qvecs))))
    one = {} if dense else {"text": None}

    def search_one(i: int) -> None:
        if not dense:
            one["text"] = qtexts[i]
        col.search(qvecs[i], k=10, include=(), **search, **one)

    lat = []
    for i in sample:
        t0 = time.perf_counter()
        search_one(i)
        lat.append((time.perf_counter() - t0) * 1000)
    lat_arr = np.array(lat)
    workers = os.cpu_count() or 1
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda i: col.search(qvecs[i], k=10, include=(), **search, **({} if dense else {"text": qtexts[i]})), sample))
    all_cores_s = time.perf_counter() - t0

    n = len(stored)
    sizes = col.disk_bytes()
    return {
        "quality": quality,
        "ann_recall": ann,
        "latency_ms": {
            "p50": float(np.percentile(lat_arr, 50)),
            "p95": float(np.percentile(lat_arr, 95)),
            "p99": float(np.percentile(lat_arr, 99)),
        },
        "throughput_qps": {
            "single_thread": len(sample) / (lat_arr.sum() / 1000),
            f"{workers}_threads": len(sample) / all_cores_s,
            "batched": len(qids) / batch_s,
        },
        "timings_s": timings,
        "bytes_per_vector": _bytes_per_vector(sizes, col.index_bytes(), n),
    }


def _bytes_per_vector(sizes: dict[str, int | None], index_parts: dict[str, int], n: int) -> dict[str, float]:
    """Bytes per stored vector by component; the values add up to the bytes on disk.

    ``vectors_float32`` is the exact tier (the segment), ``ids_text_metadata`` the catalog's
    tables, ``index_<part>`` each part of the approximate index as measured in its FAISS
    structures, and ``index_other`` the rest of the index file (headers).
    """
    n = max(n, 1)
    out = {
        "vectors_float32": (sizes["vectors"] or 0) / n,
        "ids_text_metadata": (sizes["documents"] or 0) / n,
    }
    for part, nbytes in index_parts.items():
        out[f"index_{part}"] = nbytes / n
    if sizes["index"]:
        out["index_other"] = max(0, sizes["index"] - sum(index_parts.values())) / n
    return out
