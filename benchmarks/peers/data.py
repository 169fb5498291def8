"""Scale points: the vectors, queries, attributes and workloads every system is given.

Each scale point is written once to a folder that the workers read (so every system gets the
very same float32 arrays)::

    base.npy      (n, dim) float32   the indexed vectors (unit length)
    queries.npy   (q, dim) float32   the query vectors (unit length)
    cols.npz      attribute columns of the indexed rows (absent for SciFact)
    meta.json     name, sizes, provenance, workloads with their measured selectivity, ids

Points:
  ``scifact``    5,183 SciFact docs / 300 test queries, precomputed all-MiniLM-L6-v2 vectors.
  ``arxiv-75k``  arXiv cs titles (all-MiniLM-L6-v2, precomputed): 500 random titles held out as
                 queries (seed), the other 74,228 indexed with their attributes.
  ``arxiv-1m``   ≥1,000,000 chunks (sentences and overlapping sentence pairs) of the abstracts of
                 the same indexed papers, embedded with WordLlama (a static embedder that ships its
                 weights on PyPI); queries = the held-out titles embedded the same way. Cached under
                 ``benchmarks/.cache/`` so reruns do not re-embed.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from peers.predicates import WORKLOADS, Columns, date_to_int

Progress = Callable[[int], None]
SCALAR_FIELDS = ("primary_category", "year", "month", "n_authors", "listing_date", "date_int")
DATA_FORMAT = 2  # bump to invalidate cached scale points


# ---------------------------------------------------------------------------------------------
# HIGH-LEVEL API
# ---------------------------------------------------------------------------------------------


def prepare(name: str, shared: Path, out: Path, *, n_queries: int, seed: int, target_1m: int, start_task: Callable[[str, int], Progress], log: Callable[[str], None]) -> dict[str, Any]:
    """Write (or reuse) the folder of scale point ``name``; return its ``meta.json``."""
    meta_path = out / "meta.json"
    key = {"format": DATA_FORMAT, "name": name, "n_queries": n_queries, "seed": seed, "target_1m": target_1m if name == "arxiv-1m" else None}
    meta = None
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") == key and (out / "base.npy").is_file():
            log(f"{name}: reusing cached vectors in {out}")
        else:
            meta = None
    if meta is None:
        out.mkdir(parents=True, exist_ok=True)
        if name == "scifact":
            meta = _scifact(shared, out)
        elif name == "arxiv-75k":
            meta = _arxiv_titles(shared, out, n_queries, seed)
        elif name == "arxiv-1m":
            meta = _arxiv_chunks(shared, out, n_queries, seed, target_1m, start_task, log)
        else:
            raise ValueError(f"unknown scale point {name!r}")
        meta["key"] = key
        meta_path.write_text(json.dumps(meta, indent=1))
    meta["workloads"] = measure_workloads(out, meta["n"])
    return meta


def measure_workloads(folder: Path, n: int) -> dict[str, Any]:
    """Every workload of :data:`WORKLOADS` with its match count and selectivity measured on the
    indexed rows of ``folder`` (``{}`` for a point without attributes). Measured on every run, so
    a changed predicate never meets a cached selectivity."""
    if not (folder / "cols.npz").is_file():
        return {}
    cols = load_columns(folder)
    out = {}
    for w, spec in WORKLOADS.items():
        hit = int(cols.mask(spec["pred"]).sum())
        out[w] = {**spec, "n_match": hit, "selectivity": hit / n}
    return out


def subset(folder: Path, meta: dict[str, Any], n: int, dest: Path, *, seed: int) -> tuple[Path, dict[str, Any]]:
    """A random ``n``-row subset of a point (same queries, same attributes): the smoke point."""
    dest.mkdir(parents=True, exist_ok=True)
    rows = np.sort(np.random.default_rng(seed).choice(meta["n"], size=n, replace=False))
    np.save(dest / "base.npy", np.load(folder / "base.npy")[rows])
    np.save(dest / "queries.npy", np.load(folder / "queries.npy"))
    with np.load(folder / "cols.npz") as npz:
        z = {f: npz[f] for f in npz.files}
    ind, all_values = z["cat_indptr"], z["cat_values"]
    lens = ind[rows + 1] - ind[rows]
    values = np.concatenate([all_values[ind[r] : ind[r + 1]] for r in rows.tolist()])
    cols = {f: a[rows] for f, a in z.items() if not f.startswith("cat_")}
    np.savez(dest / "cols.npz", **cols, cat_values=values, cat_indptr=np.concatenate([[0], np.cumsum(lens)]))
    sub = {k: v for k, v in meta.items() if k != "workloads"}
    sub.update({"n": n, "name": f"{meta['name']}-subset-{n}", "vectors": meta["vectors"] + f" (a random {n:,} of the indexed rows, seed {seed})", "key": {"format": DATA_FORMAT, "subset": n, "seed": seed}})
    (dest / "meta.json").write_text(json.dumps(sub))
    sub["workloads"] = measure_workloads(dest, n)
    return dest, sub


def load_columns(folder: Path) -> Columns:
    """The attribute columns of a scale point as :class:`Columns`."""
    z = np.load(folder / "cols.npz", allow_pickle=False)
    n = int(z["year"].shape[0])
    scalars = {f: z[f] for f in SCALAR_FIELDS}
    return Columns(n, scalars, {"categories": (z["cat_values"], z["cat_indptr"])})


def metadata_records(folder: Path) -> list[dict[str, Any]] | None:
    """One metadata dict per indexed row (``None`` when the point has no attributes)."""
    if not (folder / "cols.npz").is_file():
        return None
    z = np.load(folder / "cols.npz", allow_pickle=False)
    cols = {f: z[f].tolist() for f in SCALAR_FIELDS}
    values, indptr = z["cat_values"].tolist(), z["cat_indptr"].tolist()
    return [
        {**{f: cols[f][i] for f in SCALAR_FIELDS}, "categories": values[indptr[i] : indptr[i + 1]]}
        for i in range(len(cols["year"]))
    ]


# ---------------------------------------------------------------------------------------------
# the points
# ---------------------------------------------------------------------------------------------


def _load_f16(path: Path) -> np.ndarray:
    v = np.load(path).astype(np.float32)
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return v


def _scifact(shared: Path, out: Path) -> dict[str, Any]:
    emb = shared / "embeddings"
    base = _load_f16(emb / "scifact.docs.f16.npy")
    queries = _load_f16(emb / "scifact.queries.f16.npy")
    doc_ids = json.loads((emb / "scifact.docs.ids.json").read_text())
    query_ids = json.loads((emb / "scifact.queries.ids.json").read_text())
    np.save(out / "base.npy", base)
    np.save(out / "queries.npy", queries)
    (out / "cols.npz").unlink(missing_ok=True)
    return {
        "name": "scifact",
        "n": int(base.shape[0]),
        "dim": int(base.shape[1]),
        "n_queries": int(queries.shape[0]),
        "vectors": "all-MiniLM-L6-v2 (int8 ONNX, precomputed: shared/embeddings/scifact.*.f16.npy)",
        "queries_from": "the 300 SciFact test queries",
        "doc_ids": [str(i) for i in doc_ids],
        "query_ids": [str(i) for i in query_ids],
    }


def _read_corpus(shared: Path) -> list[dict[str, Any]]:
    rows = []
    with (shared / "datasets" / "arxiv-daily-cs" / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def _holdout(n: int, n_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    held = np.sort(rng.choice(n, size=n_queries, replace=False))
    keep = np.setdiff1d(np.arange(n), held)
    return held, keep


def _write_cols(out: Path, papers: list[dict[str, Any]], paper_of_row: np.ndarray) -> None:
    """Attribute columns for rows that each belong to paper ``papers[paper_of_row[i]]``."""
    per_paper = {
        "primary_category": np.array([p["primary_category"] for p in papers]),
        "year": np.array([int(p["year"]) for p in papers], dtype=np.int64),
        "month": np.array([int(p["month"]) for p in papers], dtype=np.int64),
        "n_authors": np.array([int(p["n_authors"]) for p in papers], dtype=np.int64),
        "listing_date": np.array([p["listing_date"] for p in papers]),
        "date_int": np.array([date_to_int(p["listing_date"]) for p in papers], dtype=np.int64),
    }
    cats = [list(p["categories"]) for p in papers]
    counts = np.array([len(cats[i]) for i in paper_of_row.tolist()], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    values = np.array([c for i in paper_of_row.tolist() for c in cats[i]])
    cols = {f: a[paper_of_row] for f, a in per_paper.items()}
    np.savez(out / "cols.npz", **cols, cat_values=values, cat_indptr=indptr)


def _arxiv_titles(shared: Path, out: Path, n_queries: int, seed: int) -> dict[str, Any]:
    emb = shared / "embeddings"
    vecs = _load_f16(emb / "arxiv-daily-cs.titles.f16.npy")
    ids = [str(i) for i in json.loads((emb / "arxiv-daily-cs.titles.ids.json").read_text())]
    papers = _read_corpus(shared)
    by_id = {p["_id"]: p for p in papers}
    papers = [by_id[i] for i in ids]  # align attributes with the vector rows
    held, keep = _holdout(len(ids), n_queries, seed)
    np.save(out / "base.npy", vecs[keep])
    np.save(out / "queries.npy", vecs[held])
    _write_cols(out, papers, keep)
    return {
        "name": "arxiv-75k",
        "n": int(len(keep)),
        "dim": int(vecs.shape[1]),
        "n_queries": int(len(held)),
        "vectors": "all-MiniLM-L6-v2 title vectors (int8 ONNX, precomputed: shared/embeddings/arxiv-daily-cs.titles.f16.npy)",
        "queries_from": f"{len(held)} random titles (seed {seed}) held out of the indexed set",
        "query_ids": [ids[i] for i in held.tolist()],
    }


_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[\"'])")


def sentences(text: str) -> list[str]:
    """Split an abstract into sentences (rule based: end punctuation, space, capital/digit)."""
    return [s.strip() for s in _SENT_SPLIT.split(text) if len(s.strip()) >= 8]


def chunk_abstract(text: str, max_window: int) -> list[str]:
    """Every sentence, then every run of 2..``max_window`` consecutive sentences (overlapping)."""
    sents = sentences(text)
    out = list(sents)
    for w in range(2, max_window + 1):
        out += [" ".join(sents[i : i + w]) for i in range(len(sents) - w + 1)]
    return out


def wordllama_encoder() -> tuple[Any, dict[str, Any]]:
    """WordLlama ``l2_supercat`` (256-d) loaded from the files inside the PyPI package, no download.

    ``WordLlama.load()`` looks for its tokenizer under ``wordllama/tokenizer/`` while the wheel
    ships it under ``wordllama/tokenizers/``, so it would try the network; pointing ``cache_dir``
    at the package folder finds both files offline.
    """
    from importlib.metadata import version

    import wordllama
    from wordllama import WordLlama

    pkg = Path(wordllama.__file__).parent
    model = WordLlama.load(cache_dir=pkg, disable_download=True)
    weights = pkg / "weights" / "l2_supercat_256.safetensors"
    info = {
        "package": f"wordllama=={version('wordllama')}",
        "model": "l2_supercat, 256 dims (weights shipped in the wheel)",
        "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "pooling": "WordLlama average pooling, L2-normalised (embed(norm=True))",
    }
    return model, info


@dataclass
class Chunks:
    """The abstract chunks of the indexed papers (the text of the ≥1M point)."""

    texts: list[str]
    owner: list[int]  # row of each chunk's paper in ``ids``
    held: np.ndarray  # held-out paper rows (their titles are the queries)
    keep: np.ndarray  # indexed paper rows
    window: int  # longest run of sentences per chunk
    ids: list[str]  # paper ids, in the order of arxiv-daily-cs.titles.ids.json
    papers: list[dict[str, Any]]  # the papers, aligned with ``ids``


def arxiv_chunks(shared: Path, n_queries: int, seed: int, target: int) -> Chunks:
    """Every sentence of each indexed paper's abstract plus overlapping runs of 2..w sentences,
    with the smallest window ``w`` in 2..4 that gives at least ``target`` chunks."""
    emb = shared / "embeddings"
    ids = [str(i) for i in json.loads((emb / "arxiv-daily-cs.titles.ids.json").read_text())]
    by_id = {p["_id"]: p for p in _read_corpus(shared)}
    papers = [by_id[i] for i in ids]
    held, keep = _holdout(len(ids), n_queries, seed)
    texts: list[str] = []
    owner: list[int] = []
    window = 2
    for window in (2, 3, 4):
        texts, owner = [], []
        for i in keep.tolist():
            for c in chunk_abstract(papers[i]["text"], window):
                texts.append(c)
                owner.append(i)
        if len(texts) >= target:
            break
    return Chunks(texts, owner, held, keep, window, ids, papers)


def _arxiv_chunks(shared: Path, out: Path, n_queries: int, seed: int, target: int, start_task: Callable[[str, int], Progress], log: Callable[[str], None]) -> dict[str, Any]:
    ch = arxiv_chunks(shared, n_queries, seed, target)
    texts, owner, held, keep, window, papers = ch.texts, ch.owner, ch.held, ch.keep, ch.window, ch.papers
    log(f"arxiv-1m: {len(texts):,} chunks (sentences + overlapping runs of up to {window} sentences) of {len(keep):,} abstracts")
    model, info = wordllama_encoder()
    t0 = time.perf_counter()
    batch = 8192
    advance = start_task("embed 1M chunks (WordLlama)", len(texts))
    parts = []
    for s in range(0, len(texts), batch):
        part = model.embed(texts[s : s + batch], norm=True, batch_size=512)
        parts.append(np.asarray(part, dtype=np.float32))
        advance(min(batch, len(texts) - s))
    base = np.concatenate(parts)
    embed_s = time.perf_counter() - t0
    queries = np.asarray(model.embed([papers[i]["title"].strip() for i in held.tolist()], norm=True), dtype=np.float32)
    for arr in (base, queries):
        arr /= np.maximum(np.linalg.norm(arr, axis=1, keepdims=True), 1e-12)
    np.save(out / "base.npy", base)
    np.save(out / "queries.npy", queries)
    _write_cols(out, papers, np.asarray(owner, dtype=np.int64))
    return {
        "name": "arxiv-1m",
        "n": int(base.shape[0]),
        "dim": int(base.shape[1]),
        "n_queries": int(len(held)),
        "n_papers": int(len(keep)),
        "vectors": f"WordLlama static embeddings of real text: every sentence of the {len(keep):,} indexed arXiv abstracts "
        + ("plus every pair of consecutive sentences" if window == 2 else f"plus every run of 2..{window} consecutive sentences")
        + " (overlapping chunks); each chunk carries its paper's attributes",
        "encoder": info,
        "embed_seconds": embed_s,
        "queries_from": f"the {len(held)} held-out titles (seed {seed}) embedded with the same WordLlama model; none of their papers' chunks are indexed",
    }
