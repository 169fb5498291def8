"""Judged sets for the hybrid-retrieval benchmark, with their default-model vectors.

- ``scifact``: BEIR SciFact (vectors precomputed in ``shared/embeddings``);
- ``limit-small``: google-deepmind LIMIT-small (46 docs, 1,000 queries; embedded here, cached);
- ``arxiv-title-abstract``: built here from real arXiv listings — a seeded sample of 5,000 papers
  of ``shared/datasets/arxiv-daily-cs``; each paper's *abstract alone* is a document (its title
  is left out, or the task would be trivial for BM25), and 500 of the sampled titles are the
  queries, each judging its own abstract relevant (grade 1). A known-item task where both
  retrievers are strong; the titles' vectors come from ``shared/embeddings``, the abstracts
  are embedded here (about 5 min on 2 cores, cached). Written in BEIR layout under the cache
  directory, so ``vecnest eval --dataset`` can read it too.

Embeddings are cached by ``vecnest.eval.cache`` under ``--cache-dir`` (keyed by model checksum and
text hash), so each set is embedded once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _common import load_embeddings, read_jsonl

from vecnest.encode.registry import resolve_encoder
from vecnest.eval.beir import load_beir
from vecnest.eval.cache import cached_embeddings

ARXIV_DOCS = 5_000
ARXIV_QUERIES = 500
ARXIV_SEED = 20260901


@dataclass
class JudgedSet:
    """One judged set: texts, default-model vectors, judgements."""

    name: str
    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]
    doc_vecs: np.ndarray  # (n_docs, 384) float32, L2-normalised
    query_vecs: np.ndarray  # (n_queries, 384) float32
    root: Path


def _reorder(vecs: np.ndarray, ids: list[str], wanted: list[str]) -> np.ndarray:
    pos = {i: r for r, i in enumerate(ids)}
    missing = [w for w in wanted if w not in pos]
    if missing:
        raise SystemExit(f"precomputed vectors lack id {missing[0]!r}")
    return vecs[[pos[w] for w in wanted]]


def _from_beir(
    root: Path, doc_vecs: np.ndarray | None, query_vecs: np.ndarray | None, cache_dir: Path
) -> JudgedSet:
    ds = load_beir(root)
    qids = list(ds.queries)
    qtexts = [ds.queries[q] for q in qids]
    encoder = None
    if doc_vecs is None or query_vecs is None:
        encoder = resolve_encoder("default")
    if doc_vecs is None:
        doc_vecs, _ = cached_embeddings(encoder, ds.doc_texts, kind="documents", cache_dir=cache_dir)
    if query_vecs is None:
        query_vecs, _ = cached_embeddings(encoder, qtexts, kind="queries", cache_dir=cache_dir)
    return JudgedSet(ds.name, ds.doc_ids, ds.doc_texts, qids, qtexts, ds.qrels, doc_vecs, query_vecs, root)


def build_arxiv_title_abstract(shared: Path, out: Path) -> Path:
    """Write the arXiv title → abstract set in BEIR layout (idempotent; see the module doc)."""
    root = out / "arxiv-title-abstract"
    if (root / "qrels" / "test.tsv").is_file():
        return root
    corpus = read_jsonl(shared / "datasets" / "arxiv-daily-cs" / "corpus.jsonl")
    rng = np.random.default_rng(ARXIV_SEED)
    docs = sorted(rng.choice(len(corpus), ARXIV_DOCS, replace=False).tolist())
    queried = sorted(rng.choice(docs, ARXIV_QUERIES, replace=False).tolist())
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    with open(root / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for i in docs:
            fh.write(json.dumps({"_id": corpus[i]["_id"], "title": "", "text": corpus[i]["text"]}) + "\n")
    with open(root / "queries.jsonl", "w", encoding="utf-8") as fh:
        for i in queried:
            fh.write(json.dumps({"_id": "t" + corpus[i]["_id"], "text": corpus[i]["title"].strip()}) + "\n")
    with open(root / "qrels" / "test.tsv", "w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for i in queried:
            fh.write(f"t{corpus[i]['_id']}\t{corpus[i]['_id']}\t1\n")
    return root


def load_sets(shared: Path, cache_dir: Path, names: list[str]) -> dict[str, JudgedSet]:
    """The judged sets named (``scifact``, ``limit-small``, ``arxiv-title-abstract``)."""
    out: dict[str, JudgedSet] = {}
    for name in names:
        if name == "scifact":
            root = shared / "datasets" / "scifact"
            ds = load_beir(root)
            dv, dids = load_embeddings(shared, "scifact.docs")
            qv, qids = load_embeddings(shared, "scifact.queries")
            out[name] = _from_beir(
                root, _reorder(dv, dids, ds.doc_ids), _reorder(qv, qids, list(ds.queries)), cache_dir
            )
        elif name == "limit-small":
            out[name] = _from_beir(shared / "datasets" / "limit-small", None, None, cache_dir)
        elif name == "arxiv-title-abstract":
            root = build_arxiv_title_abstract(shared, cache_dir / "datasets")
            ds = load_beir(root)
            tv, tids = load_embeddings(shared, "arxiv-daily-cs.titles")
            qv = _reorder(tv, tids, [q[1:] for q in ds.queries])
            out[name] = _from_beir(root, None, qv, cache_dir)
        else:
            raise SystemExit(f"unknown judged set {name!r}")
    return out
