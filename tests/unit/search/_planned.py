"""What the planner's, replay's and effort learning's tests share: real arXiv title vectors
(a 6,000-row sample with 60 held-out queries) and exact answers to check them against."""

from __future__ import annotations

import numpy as np

import vecnest
from conftest import arxiv_titles

N = 6000
SMALL = dict(min_rows=1000, delta_limit=10**9, ef_construction=64)


def titles() -> tuple[list[str], np.ndarray, list[dict], np.ndarray]:
    """The sample: ``(ids, vectors, metadatas, queries)``."""
    return arxiv_titles(N, n_queries=60, seed=3)


def exact_truth(vectors: np.ndarray, queries: np.ndarray, mask: np.ndarray, k: int = 10) -> list[set[int]]:
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    s = q @ (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).T  # cosine, as stored
    s[:, ~mask] = -np.inf
    top = np.argsort(-s, axis=1)[:, :k]
    return [{int(j) for j in row if np.isfinite(s[i, j])} for i, row in enumerate(top)]


def recall_of(col: vecnest.Collection, ids: list[str], vectors: np.ndarray, queries: np.ndarray,
            mask: np.ndarray | None = None, **kw: object) -> float:
    mask = np.ones(len(ids), bool) if mask is None else mask
    truth = exact_truth(vectors, queries, mask)
    pos = {d: i for i, d in enumerate(ids)}
    got = [{pos[h.id] for h in hits} for hits in col.search_batch(queries, k=10, include=(), **kw)]
    return float(np.mean([len(g & t) / max(1, len(t)) for g, t in zip(got, truth, strict=True)]))


def fresh_queries(vecs: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` query vectors none of an application's earlier queries repeats: the normalised
    sums of two random stored titles."""
    rng = np.random.default_rng(seed)
    q = vecs[rng.integers(0, len(vecs), n)] + vecs[rng.integers(0, len(vecs), n)]
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
