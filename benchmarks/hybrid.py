"""Hybrid retrieval benchmark (issue 9): writes ``benchmarks/results/hybrid.json`` and
``benchmarks/results/hybrid-quality.png``.

Every number is measured here from the modules (``vecnest.lexical``, ``vecnest.kernels.fusion``,
``vecnest.search.{hybrid,rerank,relevance,passages}``) and the default model's vectors:

1. ``quality``   — nDCG@10 / recall@2,10,100 of dense, BM25, RRF, min-max weighted and the
   adaptive default on SciFact, LIMIT-small and arXiv title → abstract (built here, see
   ``_hybrid_data.py``), plus the adaptive rule's window sensitivity;
2. ``rerank``    — SciFact: passages of long documents, pseudo-relevance feedback, both, with
   the passages' storage and embedding cost;
3. ``relevance`` — the cut-off at ``min_relevance=0.5``: label-free and fitted (held-out half),
   precision / recall / how often nothing is returned, also for queries with no relevant
   document (one set's queries over another's corpus);
4. ``lexical``   — 75k arXiv title+abstract documents: indexing docs/s, query p50/p99 (plain and
   filtered), 10 rounds of 20 % churn vs a fresh rebuild, and tantivy's own index measured the
   same way (the alternative the design was chosen against);
5. ``latency``   — hybrid vs dense-only at 75k, exact (float32 over the title vectors) and HNSW
   (faiss, M=32), search only and end to end with query encoding, p50/p99.

Usage::

    .venv/bin/python benchmarks/hybrid.py                       # everything, ~15 min on 2 quiet cores
    .venv/bin/python benchmarks/hybrid.py --sections quality,rerank
    .venv/bin/python benchmarks/hybrid.py --repeats 5           # more timing repeats

Embeddings not in ``shared/embeddings`` (LIMIT-small, the arXiv abstracts, SciFact passages) are
computed once with the default model and cached under ``--cache-dir`` (first run: ~30 min on 2
busy cores). Nothing touches the network.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    RESULTS_DIR,
    command_line,
    default_shared_dir,
    latency_summary,
    machine_info,
    read_jsonl,
    write_json,
)
from _hybrid_collection import section_collection
from _hybrid_data import JudgedSet, load_sets
from rich.console import Console
from rich.table import Table

from vecnest.encode.registry import resolve_encoder
from vecnest.eval.beir import BeirDataset
from vecnest.eval.cache import cached_embeddings
from vecnest.eval.hybrid import HybridPipeline, cut_quality, relevance_examples
from vecnest.eval.metrics import ir_metrics
from vecnest.lexical import LexicalIndex
from vecnest.search.hybrid import FusionConfig
from vecnest.search.passages import split_passages
from vecnest.search.relevance import RelevanceModel
from vecnest.search.rerank import FeedbackRescorer, PassageRescorer

SECTIONS = ("quality", "rerank", "relevance", "lexical", "latency", "collection")
SETS = ("scifact", "limit-small", "arxiv-title-abstract")
METRICS = ("ndcg@10", "recall@2", "recall@10", "recall@100")
TARGETS = {
    "limit_recall@2": 0.97,
    "limit_recall@10": 0.995,
    "scifact_ndcg@10": 0.73,
    "scifact_rerank_ndcg@10": 0.74,
    "bm25_scifact_range": (0.665, 0.69),
    "lexical_p50_ms": 2.0,
    "hybrid_over_dense": 2.0,
    "index_docs_per_s": 5000,
}
console = Console()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--shared", type=Path, default=default_shared_dir(), help="folder with datasets/ and embeddings/"
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("VECNEST_CACHE_DIR", Path.home() / ".cache" / "vecnest")),
        help="embedding cache (default $VECNEST_CACHE_DIR or ~/.cache/vecnest)",
    )
    p.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}"
    )
    p.add_argument("--repeats", type=int, default=3, help="repeats of each timing (interleaved)")
    p.add_argument("--queries", type=int, default=1000, help="timed queries at 75k")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "hybrid.json")
    return p.parse_args(argv)


def _beir(s: JudgedSet) -> BeirDataset:
    return BeirDataset(
        s.name,
        s.doc_ids,
        s.doc_texts,
        [{}] * len(s.doc_ids),
        dict(zip(s.query_ids, s.query_texts, strict=True)),
        s.qrels,
    )


def _metrics(s: JudgedSet, run: dict[str, dict[str, float]]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in ir_metrics(s.qrels, run, list(METRICS)).items()}


def _run(pipe: HybridPipeline, s: JudgedSet, mode: str, **kw: Any) -> dict[str, dict[str, float]]:
    out = {}
    for i, (qid, text) in enumerate(zip(s.query_ids, s.query_texts, strict=True)):
        hits, _ = pipe.search(text, s.query_vecs[i], 100, mode=mode, **kw)
        out[qid] = {
            s.doc_ids[j]: float(v) for j, v in zip(hits.slots.tolist(), hits.scores.tolist(), strict=True)
        }
    return out


# ---------------------------------------------------------------------------------------------
# 1. quality
# ---------------------------------------------------------------------------------------------


def section_quality(sets: dict[str, JudgedSet]) -> dict[str, Any]:
    methods = {
        "rrf": FusionConfig(method="rrf"),
        "weighted_min_max": FusionConfig(method="weighted"),
        "weighted_z_score": FusionConfig(method="weighted", normalization="z_score"),
        "adaptive (default)": FusionConfig(),
    }
    out: dict[str, Any] = {}
    for name, s in sets.items():
        pipe = HybridPipeline.build(s.doc_texts, s.doc_vecs)
        row: dict[str, Any] = {
            "dense": _metrics(s, _run(pipe, s, "dense")),
            "bm25": _metrics(s, _run(pipe, s, "lexical")),
        }
        for label, cfg in methods.items():
            pipe.fusion = cfg
            row[label] = _metrics(s, _run(pipe, s, "hybrid"))
        row["adaptive_window"] = {}
        for window in (100, 150, 200, 300):  # ranked depth is 100, so a window is at least 100
            pipe.fusion = FusionConfig(window=window)
            row["adaptive_window"][str(window)] = _metrics(s, _run(pipe, s, "hybrid"))["ndcg@10"]
        best_single = max(row["dense"]["ndcg@10"], row["bm25"]["ndcg@10"])
        row["default_minus_best_single_ndcg@10"] = round(
            row["adaptive (default)"]["ndcg@10"] - best_single, 4
        )
        row["n_docs"], row["n_queries"] = len(s.doc_ids), len(s.query_ids)
        out[name] = row
        _table(f"quality — {name}", row)
    return out


def _table(title: str, row: dict[str, Any]) -> None:
    t = Table(title=title)
    t.add_column("method")
    for m in METRICS:
        t.add_column(m, justify="right")
    for label, vals in row.items():
        if isinstance(vals, dict) and "ndcg@10" in vals:
            t.add_row(label, *[f"{vals[m]:.4f}" for m in METRICS])
    console.print(t)


# ---------------------------------------------------------------------------------------------
# 2. rerank
# ---------------------------------------------------------------------------------------------


def section_rerank(s: JudgedSet, cache_dir: Path) -> dict[str, Any]:
    encoder = resolve_encoder("default")
    pieces = [split_passages(t) for t in s.doc_texts]
    owners = np.repeat(np.arange(len(s.doc_texts)), [len(p) for p in pieces])
    flat = [p for ps in pieces for p in ps]
    t0 = time.perf_counter()
    pvecs, cached = cached_embeddings(encoder, flat, kind="documents", cache_dir=cache_dir)
    embed_s = time.perf_counter() - t0
    # embedding cost per text, measured on a sample of passages and of documents
    sample = np.random.default_rng(0).choice(len(flat), min(64, len(flat)), replace=False)
    dsample = np.random.default_rng(1).choice(len(s.doc_texts), 64, replace=False)
    t0 = time.perf_counter()
    encoder.encode_documents([flat[i] for i in sample])
    per_passage = (time.perf_counter() - t0) / sample.size
    t0 = time.perf_counter()
    encoder.encode_documents([s.doc_texts[i] for i in dsample])
    per_doc = (time.perf_counter() - t0) / dsample.size
    vec = lambda slots: s.doc_vecs[slots]  # noqa: E731
    pipe = HybridPipeline.build(s.doc_texts, s.doc_vecs)
    configs = {
        "none": [],
        "passages": [PassageRescorer(vec, owners, pvecs.astype(np.float16))],
        "feedback (top 3, beta 0.5)": [FeedbackRescorer(vec, 3, 0.5)],
        "passages + feedback": [
            PassageRescorer(vec, owners, pvecs.astype(np.float16)),
            FeedbackRescorer(vec, 3, 0.5),
        ],
    }
    out: dict[str, Any] = {"hybrid": {}, "dense_only": {}}
    for label, rs in configs.items():
        out["hybrid"][label] = _metrics(s, _run(pipe, s, "hybrid", rescorers=rs))
        out["dense_only"][label] = _metrics(s, _run(pipe, s, "dense", rescorers=rs))
    long_docs = sum(1 for p in pieces if p)
    out["passages"] = {
        "documents_with_passages": long_docs,
        "documents": len(s.doc_texts),
        "passages": len(flat),
        "bytes_float16": int(len(flat) * s.doc_vecs.shape[1] * 2),
        "bytes_owners": int(len(flat) * 8),
        "embed_seconds_this_run": round(embed_s, 2),
        "from_cache": cached,
        "embed_ms_per_passage": round(per_passage * 1e3, 2),
        "embed_ms_per_document": round(per_doc * 1e3, 2),
        "ingest_time_ratio": round(1 + len(flat) * per_passage / (len(s.doc_texts) * per_doc), 3),
    }
    _table("rerank — SciFact (hybrid)", out["hybrid"])
    return out


# ---------------------------------------------------------------------------------------------
# 3. relevance
# ---------------------------------------------------------------------------------------------


def section_relevance(sets: dict[str, JudgedSet]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    fitted: dict[str, RelevanceModel] = {}
    pipes = {n: HybridPipeline.build(s.doc_texts, s.doc_vecs) for n, s in sets.items()}
    for name, s in sets.items():
        data = _beir(s)
        rng = np.random.default_rng(0)
        order = rng.permutation(len(s.query_ids))
        half = len(order) // 2
        fit_ids = [s.query_ids[i] for i in sorted(order[:half])]
        test_ids = [s.query_ids[i] for i in sorted(order[half:])]
        x, y, _, _ = relevance_examples(pipes[name], data, s.query_vecs, fit_ids)
        model = RelevanceModel.fit(np.vstack(x), np.concatenate(y))
        fitted[name] = model
        _, yt, ht, bt = relevance_examples(pipes[name], data, s.query_vecs, test_ids)
        out[name] = {
            "fitted_heldout": cut_quality(model, ht, bt, yt),
            "distribution_heldout": cut_quality(RelevanceModel(), ht, bt, yt),
            "coef": dict(zip(model.features, [round(c, 3) for c in model.coef], strict=True)),
        }
    # queries with nothing relevant: one set's queries over another set's corpus
    for qname, dname in (
        ("limit-small", "scifact"),
        ("scifact", "arxiv-title-abstract"),
        ("scifact", "limit-small"),
    ):
        q, d = sets[qname], sets[dname]
        data = BeirDataset(
            d.name,
            d.doc_ids,
            d.doc_texts,
            [{}] * len(d.doc_ids),
            dict(zip(q.query_ids, q.query_texts, strict=True)),
            {},
        )
        _, yt, ht, bt = relevance_examples(pipes[dname], data, q.query_vecs, q.query_ids)
        out[f"{qname}-queries-on-{dname}"] = {
            "fitted_on_corpus_set": cut_quality(fitted[dname], ht, bt, yt)["empty_rate"],
            "distribution": cut_quality(RelevanceModel(), ht, bt, yt)["empty_rate"],
            "note": "share of queries that return nothing (none has a relevant document)",
        }
    console.print_json(json.dumps(out))
    return out


# ---------------------------------------------------------------------------------------------
# 4. lexical at 75k
# ---------------------------------------------------------------------------------------------


def _arxiv(shared: Path) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    rows = read_jsonl(shared / "datasets" / "arxiv-daily-cs" / "corpus.jsonl")
    texts = [(r["title"] + " " + r["text"]).strip() for r in rows]
    return texts, [r["title"].strip() for r in rows], rows


def section_lexical(shared: Path, repeats: int, n_queries: int) -> dict[str, Any]:
    texts, titles, rows = _arxiv(shared)
    n = len(texts)
    out: dict[str, Any] = {"documents": n}
    tmp = Path(tempfile.mkdtemp(prefix="vecnest-bench-lex-"))
    try:
        builds = []
        for r in range(repeats):
            t0 = time.perf_counter()
            index = LexicalIndex.rebuild(tmp / f"lx{r}", np.arange(n), texts, upto=n)
            builds.append(time.perf_counter() - t0)
        out["index_seconds"] = [round(b, 2) for b in builds]
        out["index_docs_per_s_median"] = round(n / float(np.median(builds)), 0)
        out["index_bytes"] = index.nbytes()
        searcher = index.searcher(n_slots=n, alive=np.ones(n, bool))
        qi = np.random.default_rng(0).choice(n, n_queries, replace=False)
        cats = [set(r["categories"]) for r in rows]
        filters = {
            "none": None,
            "cs.LG in categories (14.6 %)": np.array(["cs.LG" in c for c in cats]),
            "primary cs.IT (1.8 %)": np.array([r["primary_category"] == "cs.IT" for r in rows]),
            "n_authors >= 20 (1.2 %)": np.array([r["n_authors"] >= 20 for r in rows]),
        }
        out["query_ms"] = {}
        for label, mask in filters.items():
            for k in (10, 100):
                times = []
                for _ in range(repeats):
                    for i in qi:
                        t0 = time.perf_counter()
                        searcher.query(titles[i], match=mask).top(k)
                        times.append(time.perf_counter() - t0)
                out["query_ms"][f"{label}, k={k}"] = latency_summary(times)
        out["churn"] = _churn(texts, tmp, n_docs=20_000)
        out["tantivy_baseline"] = _tantivy(texts, titles, tmp, qi)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    console.print_json(json.dumps({k: v for k, v in out.items() if k != "query_ms"}))
    return out


def _churn(texts: list[str], tmp: Path, n_docs: int) -> dict[str, Any]:
    """10 rounds: delete 20 % of the live documents, re-add half of them under new slots
    (upserts) plus as many new documents, commit; then compare with a fresh index."""
    rng = np.random.default_rng(3)
    slot_text = list(range(n_docs))
    ix = LexicalIndex.rebuild(tmp / "churn", np.arange(n_docs), texts[:n_docs], upto=n_docs)
    alive = np.ones(n_docs, bool)
    nxt = n_docs
    commit_s = []
    for _ in range(10):
        live = np.flatnonzero(alive)
        hit = rng.choice(live, size=len(live) // 5, replace=False)
        alive[hit] = False
        ups = hit[: len(hit) // 2]
        src = [slot_text[s] for s in ups] + list(range(nxt, nxt + len(hit) - len(ups)))
        nxt += len(hit) - len(ups)
        new_slots = np.arange(len(slot_text), len(slot_text) + len(src))
        slot_text += src
        alive = np.concatenate([alive, np.ones(len(src), bool)])
        t0 = time.perf_counter()
        ix.delete(hit)
        ix.add(new_slots, [texts[i] for i in src])
        ix.commit(upto=len(slot_text))
        commit_s.append(time.perf_counter() - t0)
    n = len(slot_text)
    keep = np.flatnonzero(alive)
    t0 = time.perf_counter()
    fresh = LexicalIndex.rebuild(tmp / "churn-fresh", keep, [texts[slot_text[s]] for s in keep], upto=n)
    rebuild_s = time.perf_counter() - t0
    a = ix.searcher(n_slots=n, alive=alive)
    b = fresh.searcher(n_slots=n, alive=alive)
    queries = [texts[slot_text[s]].split(".")[0] for s in rng.choice(keep, 500, replace=False)]
    same = 0
    for q in queries:
        x, y = a.query(q).top(10), b.query(q).top(10)
        same += int(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]))
    return {
        "documents": n_docs,
        "rounds": 10,
        "fraction_per_round": 0.2,
        "parts_after": ix.n_parts,
        "identical_top10_lists_and_scores": same / len(queries),
        "queries": len(queries),
        "commit_seconds_median": round(float(np.median(commit_s)), 3),
        "rebuild_seconds": round(rebuild_s, 3),
    }


def _tantivy(texts: list[str], titles: list[str], tmp: Path, qi: np.ndarray) -> dict[str, Any]:
    """tantivy's own index, measured the same way (the design alternative)."""
    import tantivy

    def analyzer() -> Any:
        return (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.remove_long(41))
            .filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.stopword("english"))
            .filter(tantivy.Filter.stemmer("english"))
            .build()
        )

    def make(path: Path) -> Any:
        sb = tantivy.SchemaBuilder()
        sb.add_integer_field("slot", stored=False, indexed=True, fast=True)
        sb.add_text_field("body", stored=False, tokenizer_name="en", index_option="freq")
        path.mkdir(parents=True)
        idx = tantivy.Index(sb.build(), path=str(path))
        idx.register_tokenizer("en", analyzer())
        return idx

    an = analyzer()

    def top(idx: Any, searcher: Any, text: str) -> tuple[list[int], list[float]]:
        terms = list(dict.fromkeys(an.analyze(text)))
        q = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(idx.schema, "body", t)) for t in terms]
        )
        hits = searcher.search(q, 10, count=False).hits
        return searcher.fast_field_values("slot", [a for _, a in hits]), [s for s, _ in hits]

    idx = make(tmp / "tantivy")
    t0 = time.perf_counter()
    w = idx.writer(heap_size=200_000_000, num_threads=1)
    for i, t in enumerate(texts):
        w.add_document(tantivy.Document(slot=i, body=t))
    w.commit()
    w.wait_merging_threads()
    build = time.perf_counter() - t0
    idx.reload()
    s = idx.searcher()
    times = []
    for i in qi:
        t0 = time.perf_counter()
        top(idx, s, titles[i])
        times.append(time.perf_counter() - t0)
    # churn: 20k docs, 10 rounds of 20 % deletes (half re-added), vs a fresh index
    rng = np.random.default_rng(3)
    n0 = 20_000
    ch = make(tmp / "tantivy-churn")
    w = ch.writer(heap_size=100_000_000, num_threads=1)
    src = list(range(n0))
    for i in range(n0):
        w.add_document(tantivy.Document(slot=i, body=texts[i]))
    w.commit()
    alive = np.ones(n0, bool)
    for _ in range(10):
        live = np.flatnonzero(alive)
        hit = rng.choice(live, size=len(live) // 5, replace=False)
        for sl in hit:
            w.delete_documents_by_term("slot", int(sl))
        alive[hit] = False
        for sl in hit[: len(hit) // 2]:
            w.add_document(tantivy.Document(slot=len(src), body=texts[src[sl]]))
            src.append(src[sl])
            alive = np.append(alive, True)
        w.commit()
    w.wait_merging_threads()
    ch.reload()
    fresh = make(tmp / "tantivy-fresh")
    w2 = fresh.writer(heap_size=100_000_000, num_threads=1)
    for sl in np.flatnonzero(alive):
        w2.add_document(tantivy.Document(slot=int(sl), body=texts[src[sl]]))
    w2.commit()
    w2.wait_merging_threads()
    fresh.reload()
    sa, sb_ = ch.searcher(), fresh.searcher()
    qs = rng.choice(np.flatnonzero(alive), 500, replace=False)
    same = sum(top(ch, sa, titles[src[q]])[0] == top(fresh, sb_, titles[src[q]])[0] for q in qs)
    return {
        "version": tantivy.__version__ if hasattr(tantivy, "__version__") else None,
        "index_seconds": round(build, 2),
        "index_docs_per_s": round(len(texts) / build, 0),
        "query_k10": latency_summary(times),
        "churn_identical_top10_slots": same / len(qs),
    }


# ---------------------------------------------------------------------------------------------
# 5. latency at 75k
# ---------------------------------------------------------------------------------------------


def section_latency(shared: Path, repeats: int, n_queries: int) -> dict[str, Any]:
    import faiss

    from vecnest.search.hybrid import Side, fuse

    texts, titles, _ = _arxiv(shared)
    vecs = np.load(shared / "embeddings" / "arxiv-daily-cs.titles.f16.npy").astype(np.float32)
    ids = json.loads((shared / "embeddings" / "arxiv-daily-cs.titles.ids.json").read_text())
    rows_ids = [r["_id"] for r in read_jsonl(shared / "datasets" / "arxiv-daily-cs" / "corpus.jsonl")]
    if ids != rows_ids:
        raise SystemExit("arxiv title vectors are not in corpus order")
    n = len(texts)
    tmp = Path(tempfile.mkdtemp(prefix="vecnest-bench-lat-"))
    try:
        index = LexicalIndex.rebuild(tmp / "lx", np.arange(n), texts, upto=n)
        lex = index.searcher(n_slots=n, alive=np.ones(n, bool))
        faiss.omp_set_num_threads(1)
        hnsw = faiss.IndexHNSWFlat(vecs.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 100
        t0 = time.perf_counter()
        hnsw.add(vecs)
        hnsw_build = time.perf_counter() - t0
        qi = np.random.default_rng(0).choice(n, n_queries, replace=False)
        encoder = resolve_encoder("default")
        enc_times = []
        for i in qi[:200]:
            t0 = time.perf_counter()
            encoder.encode_queries([titles[i]])
            enc_times.append(time.perf_counter() - t0)
        window, k = 100, 10

        def dense_exact(q: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
            s = vecs @ q
            top = np.argpartition(-s, kk - 1)[:kk]
            top = top[np.argsort(-s[top])]
            return top, s[top]

        def dense_hnsw(q: np.ndarray, kk: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
            hnsw.hnsw.efSearch = ef
            d, i = hnsw.search(q[None], kk)
            return i[0], d[0]

        def hybrid(q: np.ndarray, text: str, dense: Any) -> Any:
            dslots, dscores = dense(q, window)
            res = lex.query(text)
            lslots, lscores = res.top(window)
            sides = [
                Side("dense", dslots, dscores, lambda sl: vecs[sl] @ q),
                Side("lexical", lslots, lscores, res.scores, pad_to=window),
            ]
            return fuse(sides, k, eligible=n)

        variants = {
            "exact: dense k=10": lambda i: dense_exact(vecs[i], k),
            "exact: hybrid": lambda i: hybrid(vecs[i], titles[i], dense_exact),
            "hnsw ef=64: dense k=10": lambda i: dense_hnsw(vecs[i], k, 64),
            "hnsw ef=128: dense k=10": lambda i: dense_hnsw(vecs[i], k, 128),
            "hnsw ef=128: hybrid": lambda i: hybrid(vecs[i], titles[i], lambda q, kk: dense_hnsw(q, kk, 128)),
            "lexical only k=10": lambda i: lex.query(titles[i]).top(k),
        }
        times: dict[str, list[float]] = {v: [] for v in variants}
        for _ in range(repeats):
            for label, fn in variants.items():  # interleaved: every variant in every repeat
                for i in qi:
                    t0 = time.perf_counter()
                    fn(i)
                    times[label].append(time.perf_counter() - t0)
        out: dict[str, Any] = {
            "documents": n,
            "window": window,
            "k": k,
            "hnsw_build_seconds": round(hnsw_build, 1),
        }
        out["search_only"] = {label: latency_summary(t) for label, t in times.items()}
        enc = latency_summary(enc_times)
        out["query_encoding"] = enc
        so = out["search_only"]
        ratios = {}
        for base, hyb in (
            ("exact: dense k=10", "exact: hybrid"),
            ("hnsw ef=64: dense k=10", "hnsw ef=128: hybrid"),
            ("hnsw ef=128: dense k=10", "hnsw ef=128: hybrid"),
        ):
            for p in ("p50_ms", "p99_ms"):
                ratios[f"{hyb} / {base}, {p}, search only"] = round(so[hyb][p] / so[base][p], 2)
                ratios[f"{hyb} / {base}, {p}, with query encoding"] = round(
                    (so[hyb][p] + enc["p50_ms"]) / (so[base][p] + enc["p50_ms"]), 2
                )
        out["ratios"] = ratios
        t = Table(title="latency at 75k (ms)")
        for c in ("variant", "p50", "p99"):
            t.add_column(c, justify="right" if c != "variant" else "left")
        for label, summ in so.items():
            t.add_row(label, f"{summ['p50_ms']:.3f}", f"{summ['p99_ms']:.3f}")
        t.add_row("query encoding", f"{enc['p50_ms']:.3f}", f"{enc['p99_ms']:.3f}")
        console.print(t)
        console.print_json(json.dumps(ratios))
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# summary, plot, main
# ---------------------------------------------------------------------------------------------


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    """Each target: the measured value and whether it is met (computed, never typed in)."""
    out: dict[str, Any] = {}
    q = {n: r for n, r in res.get("quality", {}).items() if n != "run"}
    if q:
        lim, sf = q["limit-small"]["adaptive (default)"], q["scifact"]["adaptive (default)"]
        out["limit recall@2 >= 0.97"] = {
            "value": lim["recall@2"],
            "met": lim["recall@2"] >= TARGETS["limit_recall@2"],
        }
        out["limit recall@10 >= 0.995"] = {
            "value": lim["recall@10"],
            "met": lim["recall@10"] >= TARGETS["limit_recall@10"],
        }
        out["scifact nDCG@10 >= 0.73 (and > the probe's 0.730)"] = {
            "value": sf["ndcg@10"],
            "met": sf["ndcg@10"] > 0.730,
        }
        others = {
            n: r["default_minus_best_single_ndcg@10"]
            for n, r in q.items()
            if n not in ("scifact", "limit-small")
        }
        out["default does not lose to the best single retriever on the other sets (nDCG@10 difference)"] = {
            "value": others,
            "met": all(v >= 0 for v in others.values()),
        }
        bm = q["scifact"]["bm25"]["ndcg@10"]
        lo, hi = TARGETS["bm25_scifact_range"]
        out["bm25 scifact nDCG@10 in 0.665-0.69"] = {"value": bm, "met": lo <= bm <= hi}
    rr = res.get("rerank")
    if rr:
        best = max(v["ndcg@10"] for label, v in rr["hybrid"].items() if label != "none")
        out["scifact with reranking >= 0.74"] = {
            "value": best,
            "met": best >= TARGETS["scifact_rerank_ndcg@10"],
        }
    lx = res.get("lexical")
    if lx:
        p50 = lx["query_ms"]["none, k=10"]["p50_ms"]
        out["lexical p50 <= 2 ms at 75k"] = {"value": round(p50, 3), "met": p50 <= TARGETS["lexical_p50_ms"]}
        out["lexical indexing >= 5k docs/s"] = {
            "value": lx["index_docs_per_s_median"],
            "met": lx["index_docs_per_s_median"] >= TARGETS["index_docs_per_s"],
        }
        same = lx["churn"]["identical_top10_lists_and_scores"]
        out["after churn, results equal a fresh rebuild"] = {"value": same, "met": same == 1.0}
    lt = res.get("latency")
    if lt:
        for label, ratio in lt["ratios"].items():
            out[f"hybrid <= 2x dense (kernels): {label}"] = {
                "value": ratio,
                "met": ratio <= TARGETS["hybrid_over_dense"],
            }
    ct = res.get("collection")
    if ct:
        for label, ratio in ct["ratios"].items():
            out[f"hybrid <= 2x dense (Collection.search): {label}"] = {
                "value": ratio,
                "met": ratio <= TARGETS["hybrid_over_dense"],
            }
    return out


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    q = {n: r for n, r in res["quality"].items() if n != "run"}
    methods = ["dense", "bm25", "rrf", "weighted_min_max", "adaptive (default)"]
    fig, axes = plt.subplots(1, len(q), figsize=(4.2 * len(q), 3.8))
    for ax, (name, row) in zip(np.atleast_1d(axes), q.items(), strict=True):
        metric = "recall@2" if name == "limit-small" else "ndcg@10"
        vals = [row[m][metric] for m in methods]
        bars = ax.bar(
            range(len(methods)), vals, color=["#8da0cb", "#66c2a5", "#bbbbbb", "#bbbbbb", "#fc8d62"]
        )
        ax.set_xticks(range(len(methods)), ["dense", "BM25", "RRF", "min-max", "adaptive"], rotation=30)
        ax.set_title(f"{name}: {metric}")
        ax.set_ylim(min(vals) - 0.1, 1.0 if max(vals) > 0.9 else max(vals) + 0.05)
        for b, v in zip(bars, vals, strict=True):
            ax.text(b.get_x() + b.get_width() / 2, v + 0.003, f"{v:.3f}", ha="center", fontsize=8)
    fig.suptitle("Hybrid retrieval, default model (all-MiniLM-L6-v2 int8) — one default rule")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    bad = [s for s in sections if s not in SECTIONS]
    if bad:
        raise SystemExit(f"unknown section(s) {bad}; choose from {list(SECTIONS)}")
    previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
    res: dict[str, Any] = dict(previous.get("results", {}))
    started = time.time()
    needs_sets = {"quality", "relevance", "rerank"} & set(sections)
    sets = load_sets(args.shared, args.cache_dir, list(SETS)) if needs_sets else {}
    runners = {
        "quality": lambda: section_quality(sets),
        "rerank": lambda: section_rerank(sets["scifact"], args.cache_dir),
        "relevance": lambda: section_relevance(sets),
        "lexical": lambda: section_lexical(args.shared, args.repeats, args.queries),
        "latency": lambda: section_latency(args.shared, args.repeats, args.queries),
        "collection": lambda: section_collection(args.shared, args.repeats, min(args.queries, 300)),
    }
    for name in SECTIONS:
        if name in sections:
            load = list(os.getloadavg())
            t0 = time.time()
            res[name] = runners[name]()
            # each section carries when and under what load it ran (a partial re-run keeps the others)
            res[name]["run"] = {
                "date": machine_info()["date"],
                "loadavg_at_start": load,
                "seconds": round(time.time() - t0, 1),
            }
    doc = {
        "title": "Hybrid retrieval (issue 9)",
        "command": command_line(),
        "machine": machine_info(),
        "seconds": round(time.time() - started, 1),
        "sections_run_now": sections,
        "targets": summarize(res),
        "results": res,
    }
    write_json(args.out, doc)
    if "quality" in res:
        plot(res, args.out.with_name("hybrid-quality.png"))
    t = Table(title="targets")
    for c in ("target", "value", "met"):
        t.add_column(c)
    for name, v in doc["targets"].items():
        t.add_row(name, json.dumps(v["value"]), "yes" if v["met"] else "NO")
    console.print(t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
