"""Shared fixtures: data locations, seeded randomness, stores, and a cheap deterministic encoder."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import vecnest

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """The shared datasets/embeddings folder: $VECNEST_SHARED_DIR, else ../shared beside the repo."""
    return Path(os.environ.get("VECNEST_SHARED_DIR", REPO.parent / "shared"))


def require_shared(*parts: str) -> Path:
    """Path under the shared folder; fails (not skips) if it is missing, since CI has it."""
    path = shared_dir().joinpath(*parts)
    if not path.exists():
        pytest.fail(f"shared data missing: {path} (set VECNEST_SHARED_DIR)")
    return path


def hashing_embed(texts: list[str], dim: int = 64) -> np.ndarray:
    """A deterministic bag-of-words hashing embedder: real lexical similarity, no model needed."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, text in enumerate(texts):
        for token in re.findall(r"\w+", text.lower()):
            h = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")
            out[i, h % dim] += 1.0 if (h >> 32) & 1 else -1.0
        out[i, (len(text) * 7) % dim] += 0.01  # never all-zero
    return out


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def hashing_encoder() -> vecnest.CallableEncoder:
    return vecnest.CallableEncoder(hashing_embed, dim=64, name="hashing-bow-64")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[vecnest.Database]:
    db = vecnest.open(tmp_path / "store")
    yield db
    db.close()


def arxiv_titles(n: int, n_queries: int = 100, seed: int = 0) -> tuple[list[str], np.ndarray, list[dict], np.ndarray]:
    """``n`` real arXiv title vectors (precomputed all-MiniLM-L6-v2) with their real metadata,
    plus ``n_queries`` held-out title vectors as queries."""
    import json

    emb = require_shared("embeddings")
    ids = json.loads((emb / "arxiv-daily-cs.titles.ids.json").read_text())
    vecs = np.load(emb / "arxiv-daily-cs.titles.f16.npy", mmap_mode="r")
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(ids), size=n + n_queries, replace=False))
    wanted = {ids[i] for i in pick}
    meta: dict[str, dict] = {}
    keep = ("primary_category", "categories", "year", "month", "n_authors", "listing_date")
    with open(require_shared("datasets", "arxiv-daily-cs", "corpus.jsonl"), encoding="utf-8") as fh:
        for line in fh:
            doc_id = line[9 : line.index('"', 9)]  # {"_id": "<id>", ...
            if doc_id in wanted:
                import json as _json

                row = _json.loads(line)
                meta[doc_id] = {k: row[k] for k in keep}
    order = rng.permutation(pick)
    store_idx, query_idx = order[:n], order[n:]
    return (
        [ids[i] for i in store_idx],
        np.asarray(vecs[store_idx], dtype=np.float32),
        [meta[ids[i]] for i in store_idx],
        np.asarray(vecs[query_idx], dtype=np.float32),
    )


@pytest.fixture(autouse=True)
def _own_promoter(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test gets its own queue of indexes to promote to huge pages (see
    vecnest.search.promote): a job one test schedules never runs inside another."""
    from vecnest.search import promote

    mine = promote.Promoter()
    monkeypatch.setattr(promote, "PROMOTER", mine)
    yield
    with mine._cond:
        mine._queue.clear()
        mine._cond.notify_all()  # (a waiting thread sees the empty queue and ends)
    end = time.monotonic() + 10
    while not mine.idle() and time.monotonic() < end:  # (a job running now finishes first)
        time.sleep(0.005)
