"""Data points of the compression benchmark: the vectors as a float32 segment file, the queries,
and how quality is judged. Not part of the package; imported by ``benchmarks/compress.py``.

Points:
  ``scifact``    5,183 SciFact docs / 300 test queries (precomputed default-model vectors),
                 quality = nDCG@10 over float32 exact nDCG@10 (qrels).
  ``arxiv-75k``  74,428 arXiv cs title vectors (default model, precomputed); 300 random titles held
                 out as queries (seed 0); quality = recall@10 against float32 exact.
  ``arxiv-1m``   ≥1M chunks of the arXiv abstracts embedded with the default model
                 (``benchmarks/build_1m.py``), queries = 300 of its held-out titles; recall@10.
                 While that set is not built, ``--set-1m wordllama`` uses the peers benchmark's
                 WordLlama 1M set instead (a different, 256-d static model), named as such.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _common import read_qrels

N_QUERIES = 300


@dataclass
class Point:
    """One benchmark point."""

    name: str
    segment: Path  # raw float32 rows, (n, dim)
    n: int
    dim: int
    queries: np.ndarray  # (q, dim) float32
    provenance: str
    qrels: dict[str, dict[str, int]] | None = None
    doc_ids: list[str] | None = None
    query_ids: list[str] | None = None

    def vectors(self) -> np.memmap:
        """The segment as the store maps it."""
        return np.memmap(self.segment, dtype=np.float32, mode="r", shape=(self.n, self.dim))


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _write_segment(folder: Path, base: np.ndarray, key: dict[str, Any]) -> Path:
    """Write ``base`` as ``folder/base.f32`` unless the same key was written before."""
    folder.mkdir(parents=True, exist_ok=True)
    path, stamp = folder / "base.f32", folder / "base.json"
    if not (path.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == key):
        tmp = path.with_suffix(".tmp")
        np.ascontiguousarray(base, dtype=np.float32).tofile(tmp)
        tmp.replace(path)
        stamp.write_text(json.dumps(key))
    return path


def scifact(shared: Path, cache: Path) -> Point:
    emb = shared / "embeddings"
    base = _unit(np.load(emb / "scifact.docs.f16.npy"))
    queries = _unit(np.load(emb / "scifact.queries.f16.npy"))
    doc_ids = [str(i) for i in json.loads((emb / "scifact.docs.ids.json").read_text())]
    query_ids = [str(i) for i in json.loads((emb / "scifact.queries.ids.json").read_text())]
    qrels = read_qrels(shared / "datasets" / "scifact" / "qrels" / "test.tsv")
    keep = [i for i, q in enumerate(query_ids) if q in qrels]
    seg = _write_segment(cache / "scifact", base, {"n": len(base), "src": "scifact.docs.f16.npy"})
    return Point(
        "scifact", seg, len(base), base.shape[1], queries[keep],
        "SciFact corpus (5,183 docs) and its judged test queries, all-MiniLM-L6-v2 (vecnest default model, precomputed in shared/embeddings)",
        qrels={q: qrels[q] for q in (query_ids[i] for i in keep)}, doc_ids=doc_ids, query_ids=[query_ids[i] for i in keep],
    )


def arxiv_75k(shared: Path, cache: Path, seed: int = 0) -> Point:
    from peers.data import _holdout

    vecs = _unit(np.load(shared / "embeddings" / "arxiv-daily-cs.titles.f16.npy"))
    held, keep = _holdout(len(vecs), N_QUERIES, seed)
    seg = _write_segment(cache / "arxiv-75k", vecs[keep], {"n": len(keep), "held_seed": seed, "n_queries": N_QUERIES})
    return Point("arxiv-75k", seg, len(keep), vecs.shape[1], vecs[held], f"arXiv cs titles, all-MiniLM-L6-v2 (precomputed); {N_QUERIES} random titles held out as queries (seed {seed})")


def arxiv_1m(shared: Path, cache: Path, which: str, minilm_dir: Path) -> Point:
    """The ≥1M set: ``which`` = ``"minilm"`` (the default model, built by build_1m.py),
    ``"wordllama"`` (the peers benchmark's set), or ``"auto"`` (MiniLM when complete)."""
    recipe = minilm_dir / "recipe.json"
    complete = recipe.is_file() and json.loads(recipe.read_text()).get("complete")
    if which == "minilm" or (which == "auto" and complete):
        from build_1m import load_1m

        base, queries, rec = load_1m(minilm_dir, shared)
        seg = _write_segment(cache / "arxiv-1m-minilm", base, {"n": len(base), "chunks_sha256": rec["chunks_sha256"]})
        return Point("arxiv-1m", seg, len(base), base.shape[1], queries[:N_QUERIES], f"{rec['n']:,} chunks of arXiv abstracts ({rec['text']}), all-MiniLM-L6-v2 via vecnest's default encoder (benchmarks/build_1m.py, recipe {recipe}); queries: {N_QUERIES} held-out titles")
    from peers.data import prepare

    def task(_name: str, _total: int) -> Any:
        return lambda _n: None

    folder = Path(__file__).resolve().parent / ".cache" / "peers" / "data" / "arxiv-1m"
    meta = prepare("arxiv-1m", shared, folder, n_queries=500, seed=0, target_1m=1_000_000, start_task=task, log=print)
    base = np.load(folder / "base.npy", mmap_mode="r")
    queries = np.load(folder / "queries.npy")[:N_QUERIES]
    seg = _write_segment(cache / "arxiv-1m-wordllama", base, {"n": int(meta["n"]), "encoder": meta["encoder"]})
    return Point("arxiv-1m-wordllama", seg, int(meta["n"]), int(meta["dim"]), _unit(queries), f"WordLlama 1M set of the peers benchmark (NOT the default model: {meta['encoder']['model']}): {meta['vectors']}; queries: {N_QUERIES} held-out titles")


def arxiv_minilm_partial(shared: Path, cache: Path, minilm_dir: Path) -> Point:
    """The shards of the default-model 1M set built so far (a prefix of its chunks, in paper
    order), with the same held-out title queries: real default-model abstract chunks at the
    scale the build has reached, named by its size."""
    rec = json.loads((minilm_dir / "recipe.json").read_text())
    done = sorted(rec.get("shards_done", []))
    shards = [s for i, s in enumerate(done) if s == i]  # the contiguous prefix
    if not shards:
        raise SystemExit(f"{minilm_dir}: no shard of the 1M default-model set is built yet (benchmarks/build_1m.py)")
    base = _unit(np.concatenate([np.load(minilm_dir / f"shard-{s:04d}.f16.npy") for s in shards]))
    titles = np.load(shared / "embeddings" / "arxiv-daily-cs.titles.f16.npy")
    queries = _unit(titles[np.asarray(rec["held_rows"][:N_QUERIES])])
    name = f"arxiv-chunks-{len(base) // 1000}k-minilm"
    seg = _write_segment(cache / name, base, {"n": len(base), "chunks_sha256": rec["chunks_sha256"], "shards": shards})
    return Point(name, seg, len(base), base.shape[1], queries, f"the first {len(base):,} chunks ({len(shards)} of {rec['n_shards']} shards) of the default-model 1M abstract-chunk set being built by benchmarks/build_1m.py; queries: {N_QUERIES} held-out titles")
