"""Replays of repeated searches (search.replay): a repeat skips planning and returns what
the planner returned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vecnest
from conftest import arxiv_titles
from vecnest.config import IndexConfig, IndexKind
from vecnest.index import calibrate
from vecnest.search import engine
from vecnest.search.options import search_options
from vecnest.search.replay import FilteredReplay, Replay

from ._planned import SMALL, titles


@pytest.fixture(autouse=True)
def _unfiltered_plans_search_the_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests replay index plans: at 3,000 rows a machine may time an exact scan of every
    row as faster than the index (the calibration's ``exact_below`` past 1: every unfiltered
    search exact, as CI's once did for IVF-PQ). The switch is kept at 1 at most here, which
    leaves every filtered choice as calibrated."""
    real = calibrate.switch_points

    def capped(rows: list[dict[str, float]]) -> tuple[float, float]:
        exact_below, post_filter_above = real(rows)
        return min(exact_below, 1.0), post_filter_above

    monkeypatch.setattr(calibrate, "switch_points", capped)


@pytest.fixture(scope="module")
def data() -> tuple[list[str], np.ndarray, list[dict], np.ndarray]:
    return arxiv_titles(4000, n_queries=20, seed=3)


@pytest.fixture(scope="module")
def sample() -> tuple[list[str], np.ndarray, list[dict], np.ndarray]:
    """The planner tests' sample (6,000 rows, 60 queries)."""
    return titles()


def _collection(db: vecnest.Database, cfg: IndexConfig, ids: list[str], vecs: np.ndarray, metas: list[dict]) -> vecnest.Collection:
    """A collection indexed by ``cfg`` holding the sample's first 3,000 rows."""
    col = db.create_collection("t", model=None, dim=384, index=cfg)
    col.add(ids[:3000], vectors=vecs[:3000], metadatas=metas[:3000])
    return col


def test_repeated_ivf_pq_searches_replay_the_candidates_rescored(tmp_path: Path, data: tuple) -> None:
    """IVF-PQ plans are replayed too, their candidates rescored from the exact vectors as the
    planner does: unfiltered, filtered, and with rows not in the index yet merged in; every
    repeat skips planning and returns what the full path returned."""
    ids, vecs, metas, queries = data
    cfg = IndexConfig(kind=IndexKind.IVF_PQ, **SMALL)
    with vecnest.open(tmp_path / "s", background=False) as db:
        col = _collection(db, cfg, ids, vecs, metas)
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


def test_repeated_plain_searches_replay_the_same_plan(tmp_path: Path, sample: tuple) -> None:
    ids, vecs, metas, queries = sample
    with vecnest.open(tmp_path / "s", background=False) as db:
        col = _collection(db, IndexConfig(kind=IndexKind.HNSW, **SMALL), ids, vecs, metas)
        everything = {"n_authors": {"$gte": 0}}
        assert len(col.get(where=everything)) == 3000
        planned = [col.search(q, k=10, ef_search=24, include=(), explain=True) for q in queries[:5]]
        first = [col.search(q, k=10, ef_search=24, include=()) for q in queries[:5]]  # registers
        snap = col._source.cached
        assert len(snap.replays) == 1
        again = [col.search(q, k=10, ef_search=24, include=()) for q in queries[:5]]  # replays
        for a, b, c in zip(planned, first, again, strict=True):
            assert [(h.id, h.score) for h in a] == [(h.id, h.score) for h in b] == [(h.id, h.score) for h in c]
        col.search(queries[0], k=10, ef_search=24, include=(), where=everything)
        assert len(snap.replays) == 2  # a filter keeping everything is the same index call
        # an application trying many efforts keeps its latest plans fast, not its first 64
        from vecnest.search.engine import MAX_REPLAYS
        for ef in range(30, 30 + MAX_REPLAYS + 6):
            col.search(queries[0], k=10, ef_search=ef, include=())
            col.search(queries[0], k=10, ef_search=ef, include=())
        assert len(snap.replays) == MAX_REPLAYS
        assert (None, 10, search_options(29 + MAX_REPLAYS + 6, None, None, None)) in snap.replays
        assert (None, 10, search_options(24, None, None, None)) not in snap.replays  # the oldest went
        col.add(ids[3000:3010], vectors=vecs[3000:3010])  # a write: a new snapshot, with a delta
        hits = col.search(vecs[3005], k=1, ef_search=24, include=())
        assert hits[0].id == ids[3005]  # the fresh row is found: no stale replay
        # a plan with a delta to scan is replayed as the index call merged with the delta's scan
        planned = [col.search(q, k=10, ef_search=24, include=(), explain=True) for q in [vecs[3005], *queries[:5]]]
        assert all(h.plan.delta_rows == 10 for h in planned)
        col.search(queries[0], k=10, ef_search=24, include=())  # registers
        assert (None, 10, search_options(24, None, None, None)) in col._source.cached.replays
        again = [col.search(q, k=10, ef_search=24, include=()) for q in [vecs[3005], *queries[:5]]]
        for a, b in zip(planned, again, strict=True):
            assert [(h.id, h.score) for h in a] == [(h.id, h.score) for h in b]
        col.delete([ids[3005]])  # a deleted delta row never comes back
        col.search(vecs[3005], k=10, ef_search=24, include=())
        assert col._source.cached.replays and ids[3005] not in {h.id for h in col.search(vecs[3005], k=10, ef_search=24, include=())}


def test_filtered_searches_with_a_delta_replay_what_the_planner_returns(tmp_path: Path, sample: tuple) -> None:
    """A repeated filtered index search over an index missing the latest rows is replayed as the
    filtered index call merged with the matching delta rows, returning what the planner returns
    (small deltas scanned exactly, large ones through sign sketches)."""
    ids, vecs, metas, queries = sample
    cfg = IndexConfig(kind=IndexKind.HNSW, **{**SMALL, "delta_limit": 100_000, "delta_cap": None})
    with vecnest.open(tmp_path / "s", background=False) as db:
        col = _collection(db, cfg, ids, vecs, metas)
        col.optimize()
        where = {"year": {"$gte": 2026}}
        for hi in (3050, 6000):  # a delta scanned exactly, then one ranked by sketches
            col.add(ids[3000:hi] if hi == 3050 else ids[3050:hi], vectors=vecs[3000:hi] if hi == 3050 else vecs[3050:hi],
                    metadatas=metas[3000:hi] if hi == 3050 else metas[3050:hi])
            kw = dict(k=10, where=where, include=(), strategy="ann_filtered", ef_search=32)
            fresh = [i for i in range(3000, hi) if metas[i]["year"] >= 2026][:3]
            qs = [vecs[i] for i in fresh] + list(queries[:5])
            planned = [col.search(q, explain=True, **kw) for q in qs]
            assert all(h.plan.delta_rows == hi - 3000 and h.plan.strategy == "ann_filtered" for h in planned)
            col.search(queries[0], **kw)  # registers
            assert col._source.cached.replays
            again = [col.search(q, **kw) for q in qs]
            for a, b in zip(planned, again, strict=True):
                assert [(h.id, h.score) for h in a] == [(h.id, h.score) for h in b]
            assert all(hits[0].id == ids[i] for hits, i in zip(again, fresh, strict=False))
        # a filter matching (almost) only delta rows: the walk of the index comes back short and
        # the delta completes it; replayed, not planned again
        fresh_vecs = (vecs[:300] + 0.05 * np.random.default_rng(4).standard_normal((300, 384))).astype(np.float32)
        col.add([f"new{i}" for i in range(300)], vectors=fresh_vecs, metadatas=[{"fresh": 1}] * 300)
        from vecnest.search import engine

        kw = dict(k=10, where={"fresh": 1}, include=(), strategy="ann_filtered", ef_search=32)
        qs = [fresh_vecs[100], *queries[:5]]
        planned = [col.search(q, explain=True, **kw) for q in qs]
        col.search(queries[0], **kw)  # registers
        calls = []
        execute = engine.execute
        engine.execute = lambda *a, **k: calls.append(1) or execute(*a, **k)  # type: ignore[assignment]
        try:
            again = [col.search(q, **kw) for q in qs]
        finally:
            engine.execute = execute  # type: ignore[assignment]
        assert not calls  # every repeat replayed
        for a, b in zip(planned, again, strict=True):
            assert [(h.id, h.score) for h in a] == [(h.id, h.score) for h in b] and len(b) == 10
        assert again[0][0].id == "new100"
        # the default effort (no effort given): 3300 delta rows ranked by sign sketches
        planned = [col.search(q, k=10, include=(), explain=True) for q in [vecs[5000], *queries[:5]]]
        assert all("ranked by sign sketches" in h.plan.reason for h in planned)
        col.search(queries[0], k=10, include=())
        again = [col.search(q, k=10, include=()) for q in [vecs[5000], *queries[:5]]]
        for a, b in zip(planned, again, strict=True):
            assert [(h.id, h.score) for h in a] == [(h.id, h.score) for h in b]
        assert again[0][0].id == ids[5000]


@pytest.mark.parametrize("strategy", ["exact_filtered", "ann_filtered"])
def test_repeated_filtered_searches_replay_the_same_plan(tmp_path: Path, sample: tuple, strategy: str) -> None:
    """A repeated ids-only filtered search skips planning (one exact scan of the matches' kept
    block, or one filtered index call) and returns exactly what the full path returns; a
    write replaces the snapshot, and with it every replay; filters the parser reads apart
    (``1`` vs ``True``) never share one."""
    ids, vecs, metas, queries = sample
    with vecnest.open(tmp_path / "s", background=False) as db:
        col = _collection(db, IndexConfig(kind=IndexKind.HNSW, **SMALL), ids, vecs, metas)
        where = {"$and": [{"year": {"$gte": 2025}}, {"n_authors": {"$lte": 2}}]}  # 14 %
        kw = dict(k=10, include=(), where=where, strategy=strategy, ef_search=32)
        planned = [col.search(q, explain=True, **kw) for q in queries[:8]]
        assert {h.plan.strategy for h in planned} == {strategy}
        first = [col.search(q, **kw) for q in queries[:8]]  # registers the replay
        snap = col._source.cached
        assert len(snap.replays) == 1
        if strategy == "exact_filtered":
            (replay,) = snap.replays.values()
            assert replay.match._rows is not None  # the matching rows are kept as one block
        calls = []
        real = vecnest.search.planner.execute
        try:
            vecnest.search.engine.execute = lambda *a, **k: calls.append(1) or real(*a, **k)
            again = [col.search(q, **kw) for q in queries[:8]]
        finally:
            vecnest.search.engine.execute = real
        assert not calls  # no planning
        for a, b, c in zip(planned, first, again, strict=True):
            assert [(h.id, h.score) for h in a] == [(h.id, h.score) for h in b] == [(h.id, h.score) for h in c]
        mask = np.array([m["year"] >= 2025 and m["n_authors"] <= 2 for m in metas[:3000]])
        assert all(mask[ids.index(h.id)] for hits in again for h in hits)
        # the same structure with other types is another filter: planned, not replayed
        other = {"$and": [{"year": {"$gte": 2025.0}}, {"n_authors": {"$lte": 2}}]}
        col.search(queries[0], k=10, include=(), where=other, strategy=strategy, ef_search=32)
        assert len(snap.replays) == 2
        col.delete([ids[int(np.flatnonzero(mask)[0])]])  # a write: the deleted row never comes back
        gone = ids[int(np.flatnonzero(mask)[0])]
        after = [col.search(q, **kw) for q in queries[:8]] + [col.search(vecs[int(np.flatnonzero(mask)[0])], **kw)]
        assert all(h.id != gone for hits in after for h in hits)


def test_a_forced_plain_index_search_under_a_filter_is_never_replayed_unfiltered(tmp_path: Path, sample: tuple) -> None:
    ids, vecs, metas, queries = sample
    with vecnest.open(tmp_path / "s", background=False) as db:
        col = _collection(db, IndexConfig(kind=IndexKind.HNSW, **SMALL), ids, vecs, metas)
        where = {"year": {"$gte": 2026}}
        keep = {ids[i] for i, m in enumerate(metas[:3000]) if m["year"] >= 2026}
        for _ in range(3):
            hits = col.search(queries[0], k=10, where=where, strategy="ann", include=())
            assert hits and all(h.id in keep for h in hits)
        assert not col._source.cached.replays
