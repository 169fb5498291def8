"""End-to-end check of the default encoder: SciFact nDCG@10 with exact cosine search.

Encodes all 5,183 SciFact documents and the 300 test queries with the default encoder (a few
minutes on 2 cores), ranks by exact cosine with numpy and scores nDCG@10 with ranx. The published
MTEB figure for all-MiniLM-L6-v2 is 0.645; the precomputed reference embeddings give 0.6468.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from vecnest.encode import default_encoder

REPO_ROOT = Path(__file__).resolve().parents[2]
PUBLISHED_NDCG10 = 0.645
TOLERANCE = 0.01
TOP_K = 100


def shared_path(*parts: str) -> Path:
    """A path under $VECNEST_SHARED_DIR (default: ``shared`` beside the repo); fails if missing."""
    path = Path(os.environ.get("VECNEST_SHARED_DIR", REPO_ROOT.parent / "shared")).joinpath(*parts)
    if not path.exists():
        pytest.fail(f"shared data missing: {path} (set VECNEST_SHARED_DIR)")
    return path


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader)
        assert header == ["query-id", "corpus-id", "score"], header
        for qid, did, score in reader:
            qrels.setdefault(qid, {})[did] = int(score)
    return qrels


def exact_top_k(queries: np.ndarray, docs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine top-k of unit rows: ``(q, k)`` int64 doc indices and float32 scores."""
    scores = queries @ docs.T
    k = min(k, docs.shape[0])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_scores, order, axis=1)


@pytest.mark.slow
def test_scifact_ndcg_at_10_matches_published(request: pytest.FixtureRequest) -> None:
    ranx = pytest.importorskip("ranx")
    base = shared_path("datasets", "scifact")
    corpus = read_jsonl(base / "corpus.jsonl")
    queries = read_jsonl(base / "queries.jsonl")
    qrels = read_qrels(base / "qrels" / "test.tsv")
    assert (len(corpus), len(queries)) == (5183, 300)

    enc = default_encoder()
    doc_vecs = enc.encode_documents([(d["title"] + " " + d["text"]).strip() for d in corpus])
    query_vecs = enc.encode_queries([q["text"] for q in queries])
    assert doc_vecs.shape == (5183, 384) and query_vecs.shape == (300, 384)

    idx, scores = exact_top_k(query_vecs, doc_vecs, TOP_K)
    doc_ids = [d["_id"] for d in corpus]
    run = {
        q["_id"]: {doc_ids[j]: float(s) for j, s in zip(idx[i], scores[i], strict=True)}
        for i, q in enumerate(queries)
    }
    ndcg = float(ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), "ndcg@10"))
    request.node.user_properties.append(("ndcg@10", round(ndcg, 4)))
    assert abs(ndcg - PUBLISHED_NDCG10) <= TOLERANCE, f"SciFact nDCG@10 = {ndcg:.4f}"
