"""Efforts learned from the application's own queries: unfiltered searches (the filtered ones are
in ``test_planner.py``, beside the planner's other filtered plans)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vecnest
from conftest import arxiv_titles
from vecnest.config import IndexConfig, IndexKind
from vecnest.search import effort
from vecnest.search.planner import UNFILTERED, search_options

N = 6000
SMALL = dict(min_rows=1000, delta_limit=10**9, ef_construction=64)


@pytest.fixture(scope="module")
def data() -> tuple[list[str], np.ndarray, list[dict], np.ndarray]:
    return arxiv_titles(N, n_queries=80, seed=5)


def _recall(col: vecnest.Collection, vectors: np.ndarray, queries: np.ndarray, ids: list[str], **kw: object) -> float:
    v = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    truth = np.argsort(-(q @ v.T), axis=1)[:, :10]
    pos = {d: i for i, d in enumerate(ids)}
    got = [{pos[h.id] for h in hits} for hits in col.search_batch(queries, k=10, include=(), **kw)]
    return float(np.mean([len(g & set(t.tolist())) / 10 for g, t in zip(got, truth, strict=True)]))


def test_unfiltered_effort_is_learned_from_the_applications_queries(tmp_path: Path, data: tuple) -> None:
    """Until SAMPLE distinct queries have been searched, an unfiltered search uses the calibrated
    effort, says it is provisional and is never replayed (a replay would skip the learning); the
    search completing the sample measures the least effort of the ladder reaching the target on
    them, which later searches use, replay and explain; a given effort is never learned over."""
    ids, vecs, metas, queries = data
    with vecnest.open(tmp_path / "s", background=False) as db:
        col = db.create_collection("t", model=None, dim=384, index=IndexConfig(kind=IndexKind.HNSW, **SMALL))
        col.add(ids, vectors=vecs, metadatas=metas)
        first = col.search(queries[0], k=10, include=(), explain=True).plan
        calibrated = first.knob["ef_search"]
        assert first.strategy == "ann" and first.provisional and "measured" not in first.reason
        opts = search_options(None, None, None, None)
        for q in queries[1 : effort.SAMPLE - 1]:
            col.search(q, k=10, include=())
            col.search(q, k=10, include=())  # (a repeat: planned in full again, not replayed)
            assert (None, 10, opts) not in col._source.cached.replays
        given = col.search(queries[1], k=10, include=(), ef_search=20, explain=True).plan
        assert given.knob == {"ef_search": 20} and not given.provisional  # never learned over
        col.search(queries[effort.SAMPLE - 1], k=10, include=())  # completes the sample: measures
        plan = col.search(queries[50], k=10, include=(), explain=True).plan
        learned = plan.knob["ef_search"]
        assert not plan.provisional
        assert f"ef_search {learned} measured on the unfiltered searches' last {effort.SAMPLE} queries" in plan.reason
        assert effort.FLOOR * calibrated <= learned <= effort._CEILING * calibrated
        assert learned in effort._LADDER["ef_search"]
        got = effort.efforts_of(col._source.cached.ann).learned(UNFILTERED, 0.95, N)
        assert got is not None and got.effort == learned and got.recall >= 0.95
        # settled: the next repeat is replayed, with the learned effort
        col.search(queries[51], k=10, include=())
        replay = col._source.cached.replays.get((None, 10, opts))
        assert replay is not None and replay.effort == learned
        # and the recall holds on queries the measurement never saw
        assert _recall(col, vecs, queries[effort.SAMPLE :], ids) >= 0.93
        # a write: the new snapshot takes the learned effort at once (no second sample)
        col.add(["extra"], vectors=vecs[:1] + 0.01)
        again = col.search(queries[60], k=10, include=(), explain=True).plan
        assert again.knob["ef_search"] == learned and not again.provisional
