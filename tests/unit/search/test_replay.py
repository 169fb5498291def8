"""Replays of repeated searches (search.replay): a repeat skips planning and returns what
the planner returned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vecnest
from conftest import arxiv_titles
from vecnest.config import IndexConfig, IndexKind
from vecnest.search import engine
from vecnest.search.replay import FilteredReplay, Replay

SMALL = dict(min_rows=1000, delta_limit=10**9, ef_construction=64)


@pytest.fixture(scope="module")
def data() -> tuple[list[str], np.ndarray, list[dict], np.ndarray]:
    return arxiv_titles(4000, n_queries=20, seed=3)


def test_repeated_ivf_pq_searches_replay_the_candidates_rescored(tmp_path: Path, data: tuple) -> None:
    """IVF-PQ plans are replayed too, their candidates rescored from the exact vectors as the
    planner does: unfiltered, filtered, and with rows not in the index yet merged in; every
    repeat skips planning and returns what the full path returned."""
    ids, vecs, metas, queries = data
    cfg = IndexConfig(kind=IndexKind.IVF_PQ, **SMALL)
    with vecnest.open(tmp_path / "s", background=False) as db:
        col = db.create_collection("t", model=None, dim=384, index=cfg)
        col.add(ids[:3000], vectors=vecs[:3000], metadatas=metas[:3000])
        where = {"$and": [{"year": {"$gte": 2025}}, {"n_authors": {"$lte": 2}}]}
        for stage in ("built", "with a delta"):
            if stage == "with a delta":
                col.add(ids[3000:3040], vectors=vecs[3000:3040], metadatas=metas[3000:3040])
            qs = [vecs[3010], *queries[:6]]
            for kw in (dict(nprobe=8), dict(where=where, strategy="ann_filtered", nprobe=8)):
                planned = [col.search(q, k=10, include=(), explain=True, **kw) for q in qs]
                assert {h.plan.strategy for h in planned} == {"ann_filtered" if "where" in kw else "ann"}
                col.search(queries[0], k=10, include=(), **kw)  # registers
                replays = list(col._source.cached.replays.values())
                kind = FilteredReplay if "where" in kw else Replay
                assert any(isinstance(r, kind) and r.rescore is not None for r in replays)
                calls: list[int] = []
                real = engine.execute
                engine.execute = lambda *a, **k: calls.append(1) or real(*a, **k)  # type: ignore[assignment]
                try:
                    again = [col.search(q, k=10, include=(), **kw) for q in qs]
                finally:
                    engine.execute = real  # type: ignore[assignment]
                assert not calls  # every repeat replayed
                for a, b in zip(planned, again, strict=True):
                    assert [(h.id, h.score) for h in a] == [(h.id, h.score) for h in b] and len(b) == 10
        assert again[0][0].id == ids[3010]  # the delta row, merged into the rescored candidates
