"""ANN indexes and the filter planner on real embeddings (arXiv title vectors)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vecnest
from conftest import arxiv_titles
from vecnest.config import IndexConfig, IndexKind

N = 6000
SMALL = dict(min_rows=1000, delta_limit=10**9, ef_construction=64)


@pytest.fixture(scope="module")
def data() -> tuple[list[str], np.ndarray, list[dict], np.ndarray]:
    return arxiv_titles(N, n_queries=60, seed=3)


def _exact(vectors: np.ndarray, queries: np.ndarray, mask: np.ndarray, k: int = 10) -> list[set[int]]:
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    s = q @ (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).T  # cosine, as stored
    s[:, ~mask] = -np.inf
    top = np.argsort(-s, axis=1)[:, :k]
    return [{int(j) for j in row if np.isfinite(s[i, j])} for i, row in enumerate(top)]


def _recall(col: vecnest.Collection, ids: list[str], vectors: np.ndarray, queries: np.ndarray,
            mask: np.ndarray | None = None, **kw: object) -> float:
    mask = np.ones(len(ids), bool) if mask is None else mask
    truth = _exact(vectors, queries, mask)
    pos = {d: i for i, d in enumerate(ids)}
    got = [{pos[h.id] for h in hits} for hits in col.search_batch(queries, k=10, include=(), **kw)]
    return float(np.mean([len(g & t) / max(1, len(t)) for g, t in zip(got, truth, strict=True)]))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, data: tuple) -> dict[str, tuple[Path, vecnest.Collection]]:
    ids, vecs, metas, _ = data
    out = {}
    for kind in ("hnsw", "ivf", "ivf_pq"):
        path = tmp_path_factory.mktemp(kind) / "s"
        db = vecnest.open(path, background=False)
        col = db.create_collection("t", model=None, dim=384, index=IndexConfig(kind=IndexKind(kind), **SMALL))
        col.add(ids, vectors=vecs, metadatas=metas)
        out[kind] = (path, col)
    return out


@pytest.mark.parametrize(("kind", "floor"), [("hnsw", 0.95), ("ivf", 0.9), ("ivf_pq", 0.85)])
def test_ann_recall_against_exact(built: dict, data: tuple, kind: str, floor: float) -> None:
    ids, vecs, _, queries = data
    _, col = built[kind]
    # the planner may prefer an exact scan at this size; measure the index itself
    hits = col.search(queries[0], k=10, strategy="ann", explain=True)
    assert hits.plan.strategy == "ann" and hits.plan.candidates_visited > 0
    assert _recall(col, ids, vecs, queries, strategy="ann") >= floor
    assert _recall(col, ids, vecs, queries) >= floor  # whatever the planner picks
    # the search knob trades recall: the most effort is at least as good as the least
    knob = "ef_search" if kind == "hnsw" else "nprobe"
    low = _recall(col, ids, vecs, queries, strategy="ann", **{knob: 1 if knob == "nprobe" else 10})
    high = _recall(col, ids, vecs, queries, strategy="ann", **{knob: 256 if knob == "ef_search" else 64})
    assert high >= low and high >= floor


def test_target_recall_uses_calibration(built: dict, data: tuple) -> None:
    ids, vecs, _, queries = data
    _, col = built["hnsw"]
    low = col.search(queries[0], k=10, target_recall=0.5, explain=True).plan.knob["ef_search"]
    high = col.search(queries[0], k=10, target_recall=0.999, explain=True).plan.knob["ef_search"]
    assert low <= high
    assert _recall(col, ids, vecs, queries, target_recall=0.98) >= 0.95


FILTERS = [
    {"primary_category": "cs.IT"},
    {"n_authors": {"$gte": 20}},
    {"categories": {"$contains": "cs.LG"}},
    {"year": 2026},
    {"$or": [{"primary_category": "cs.CV"}, {"month": {"$in": [1, 2]}}]},
    {"$and": [{"listing_date": {"$gte": "2025-06-01"}}, {"$not": {"primary_category": "cs.CL"}}]},
    {"n_authors": {"$lt": 1000}},
]


@pytest.mark.parametrize("where", FILTERS)
@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_filtered_search_is_correct_at_every_selectivity(built: dict, data: tuple, where: dict, kind: str) -> None:
    ids, vecs, _, queries = data
    _, col = built[kind]
    allowed = {d.id for d in col.get(where=where)}
    mask = np.array([i in allowed for i in ids])
    results = col.search_batch(queries[:20], k=10, where=where, explain=True)
    for hits in results:  # every result satisfies the filter
        assert {h.id for h in hits} <= allowed
        assert len(hits) == min(10, len(allowed))
    assert _recall(col, ids, vecs, queries[:20], mask, where=where) >= 0.95
    plan = results[0].plan
    assert plan.n_matching == len(allowed)
    assert plan.estimated_selectivity == pytest.approx(len(allowed) / N)


def test_planner_picks_exact_for_tiny_and_index_for_broad(built: dict, data: tuple) -> None:
    _, col = built["hnsw"]
    q = data[3][0]
    tiny = col.search(q, k=10, where={"primary_category": "cs.IT"}, explain=True).plan
    broad = col.search(q, k=10, where={"$not": {"primary_category": "cs.IT"}}, explain=True).plan
    assert tiny.strategy == "exact_filtered" and tiny.estimated_selectivity < 0.03
    assert broad.strategy in ("ann_filtered", "post_filter") and 0.9 < broad.estimated_selectivity < 1
    assert broad.knob and broad.candidates_visited > 0
    assert set(broad.timings_ms) >= {"filter_ms", "ann_ms", "fetch_ms"}
    # overrides move the switch points
    forced = col.search(q, k=10, where={"primary_category": "cs.IT"}, strategy="ann_filtered", explain=True).plan
    assert forced.strategy == "ann_filtered" and forced.reason.startswith("forced by the caller")


def test_a_filter_that_keeps_everything_is_skipped(built: dict, data: tuple) -> None:
    _, col = built["hnsw"]
    q = data[3][0]
    everything = {"n_authors": {"$lt": 1000}}
    assert len(col.get(where=everything)) == N
    got = col.search(q, k=10, where=everything, explain=True)
    plain = col.search(q, k=10, explain=True)
    assert got.plan.strategy == "ann" and "matches all" in got.plan.reason
    assert got.plan.knob == plain.plan.knob  # the unfiltered effort, not a filtered one
    assert [h.id for h in got] == [h.id for h in plain]


def test_post_filter_reports_actual_selectivity(built: dict, data: tuple) -> None:
    _, col = built["hnsw"]
    plan = col.search(data[3][0], k=10, where={"year": 2026}, strategy="post_filter", explain=True).plan
    assert plan.strategy == "post_filter"
    assert 0.0 < plan.actual_selectivity <= 1.0


def test_index_persists_and_reopens(built: dict, data: tuple) -> None:
    queries = data[3][:5]
    for kind, (path, col) in built.items():
        before = [[h.id for h in hits] for hits in col.search_batch(queries, k=10, include=())]
        with vecnest.open(path, read_only=True) as db:
            again = db.get_collection("t")
            hits = again.search_batch(queries, k=10, include=(), strategy="ann", explain=True)
            assert hits[0].plan.strategy == "ann", kind
            hits = again.search_batch(queries, k=10, include=())
            assert [[h.id for h in h_] for h_ in hits] == before


def test_delta_deletes_and_optimize(tmp_path: Path, data: tuple) -> None:
    ids, vecs, metas, queries = data
    with vecnest.open(tmp_path / "s", background=False) as db:
        col = db.create_collection("t", model=None, dim=384, index=IndexConfig(kind=IndexKind.HNSW, **SMALL))
        col.add(ids[:4000], vectors=vecs[:4000], metadatas=metas[:4000])
        col.add(ids[4000:], vectors=vecs[4000:], metadatas=metas[4000:])  # stays in the exact delta
        plan = col.search(vecs[5000], k=10, explain=True)
        assert plan[0].id == ids[5000]  # a fresh row is found immediately
        assert plan.plan.delta_rows == 2000
        col.delete(ids=[ids[5000], ids[10]])  # deletions are honoured at once, in delta and index
        assert ids[5000] not in {h.id for h in col.search(vecs[5000], k=10)}
        assert ids[10] not in {h.id for h in col.search(vecs[10], k=10)}
        assert col.optimize()["action"] == "merged"
        after = col.search(vecs[4500], k=10, explain=True)
        assert after.plan.delta_rows == 0 and after[0].id == ids[4500]
        mask = np.ones(N, bool)
        mask[[5000, 10]] = False
        assert _recall(col, ids, vecs, queries, mask) >= 0.95


def test_churn_does_not_rot_the_index(tmp_path: Path, data: tuple) -> None:
    ids, vecs, metas, queries = data
    n = 3000
    ids, vecs = ids[:n], vecs[:n].copy()
    rng = np.random.default_rng(5)
    with vecnest.open(tmp_path / "s", background=False) as db:
        cfg = IndexConfig(kind=IndexKind.HNSW, min_rows=1000, delta_limit=400, ef_construction=64)
        col = db.create_collection("t", model=None, dim=384, index=cfg)
        col.add(ids, vectors=vecs)
        actions = []
        for _ in range(10):  # each round replaces 20% of the collection with moved vectors
            pick = rng.choice(n, size=n // 5, replace=False)
            vecs[pick] = vecs[rng.permutation(pick)] + rng.normal(scale=0.02, size=(len(pick), 384)).astype(np.float32)
            col.upsert([ids[i] for i in pick], vectors=vecs[pick])
            actions.append(col.search(queries[0], k=10, explain=True).plan.delta_rows)
            assert len(col) == n
            assert _recall(col, ids, vecs, queries[:30]) >= 0.93
        assert max(actions) < 400 + n // 5  # merges keep the delta bounded


def test_bad_index_parameters(store: vecnest.Database) -> None:
    with pytest.raises(vecnest.InvalidInputError, match="index must be one of"):
        store.create_collection("x", model=None, dim=8, index="annoy")
    with pytest.raises(vecnest.InvalidInputError, match="m must be a positive int"):
        store.create_collection("x", model=None, dim=8, index=IndexConfig(kind=IndexKind.HNSW, m=0))
    with pytest.raises(vecnest.InvalidInputError, match="must divide the dimension"):
        store.create_collection("x", model=None, dim=10, index=IndexConfig(kind=IndexKind.IVF_PQ, pq_m=4))
    col = store.create_collection("x", model=None, dim=8, index="hnsw")
    col.add(["a"], vectors=np.ones((1, 8)))
    for kw, match in [({"ef_search": 0}, "ef_search"), ({"nprobe": -1}, "nprobe"),
                      ({"target_recall": 1.5}, "target_recall"), ({"strategy": "magic"}, "strategy must be"),
                      ({"include": ("title",)}, "include may name")]:
        with pytest.raises(vecnest.InvalidInputError, match=match):
            col.search(np.ones(8), **kw)
    assert col.optimize()["action"] == "none"  # below min_rows: exact is exact and fast


def test_index_bytes_are_measured_by_component(built: dict, data: tuple) -> None:
    for kind, (path, col) in built.items():
        parts = col.index_bytes()
        file_bytes = col.disk_bytes()["index"]
        assert 0.95 * file_bytes <= sum(parts.values()) <= file_bytes, kind  # the rest: headers
        assert parts["ids"] == N * 8, kind
        if kind == "hnsw":
            assert parts["vectors"] == N * 384 * 2  # the graph walks a float16 copy
            assert parts["graph_links"] >= N * 2 * 32 * 4  # level 0 holds 2 * m links per node
        elif kind == "ivf":
            assert parts["vectors"] == N * 384 * 4 and parts["centroids"] > 0
        else:
            # pq_m sub-codes of 4..8 bits (fewer bits when too few rows train 256 centroids)
            assert parts["pq_codes"] % N == 0 and 48 * 4 / 8 <= parts["pq_codes"] / N <= 48


def test_float16_graph_vectors_keep_recall_at_half_the_bytes(tmp_path: Path, data: tuple) -> None:
    ids, vecs, _, queries = data
    recalls, vector_bytes = {}, {}
    for dtype in ("float16", "float32"):
        with vecnest.open(tmp_path / dtype, background=False) as db:
            cfg = IndexConfig(kind=IndexKind.HNSW, graph_vectors=dtype, **SMALL)
            col = db.create_collection("t", model=None, dim=384, index=cfg)
            col.add(ids[:3000], vectors=vecs[:3000])
            recalls[dtype] = _recall(col, ids[:3000], vecs[:3000], queries, strategy="ann", ef_search=16)
            vector_bytes[dtype] = col.index_bytes()["vectors"]
            hits = col.search(vecs[7], k=1, strategy="ann")
            assert hits[0].id == ids[7] and abs(hits[0].score - 1.0) < 1e-3  # float16 rounding only
    assert vector_bytes["float16"] * 2 == vector_bytes["float32"] == 3000 * 384 * 4
    assert abs(recalls["float16"] - recalls["float32"]) <= 0.02
    with pytest.raises(vecnest.InvalidInputError, match="graph_vectors"):
        vecnest.open(tmp_path / "bad").create_collection(
            "t", model=None, dim=384, index=IndexConfig(kind=IndexKind.HNSW, graph_vectors="int4")
        )


def test_merges_recalibrate_only_after_the_index_grew_by_a_quarter(tmp_path: Path, data: tuple) -> None:
    ids, vecs, _, _ = data
    with vecnest.open(tmp_path / "s", background=False) as db:
        col = db.create_collection("t", model=None, dim=384, index=IndexConfig(kind=IndexKind.HNSW, **SMALL))
        col.add(ids[:2000], vectors=vecs[:2000])
        first = col.optimize(rebuild=True)["calibration"]
        assert first["n_indexed"] == 2000 - 200  # measured with a tenth of the rows held out
        assert all(len(row) == 3 for row in first["recall"])  # knob, recall, standard error
        col.add(ids[2000:2150], vectors=vecs[2000:2150])  # +19% since measured: calibration kept
        merged = col.optimize()
        assert merged["action"] == "merged" and merged["calibration"] == first
        col.add(ids[2150:2450], vectors=vecs[2150:2450])  # now +36% since the measurement
        again = col.optimize()["calibration"]
        assert again["n_indexed"] == 2150 and again["recall"] != []


def test_bulk_defers_merges_to_the_end_of_the_block(tmp_path: Path, data: tuple) -> None:
    ids, vecs, _, queries = data
    with vecnest.open(tmp_path / "s", background=False) as db:
        cfg = IndexConfig(kind=IndexKind.HNSW, min_rows=1000, delta_limit=500, ef_construction=64)
        col = db.create_collection("t", model=None, dim=384, index=cfg)
        col.add(ids[:1000], vectors=vecs[:1000])  # builds the index
        built = col.disk_bytes()["index"]
        with col.bulk():
            for s in range(1000, 4000, 500):  # six deltas of delta_limit rows each
                col.add(ids[s : s + 500], vectors=vecs[s : s + 500])
                plan = col.search(queries[0], k=10, explain=True).plan
                assert plan.delta_rows == s + 500 - 1000  # nothing merged yet: scanned exactly
            assert col.disk_bytes()["index"] == built
        plan = col.search(queries[0], k=10, explain=True).plan
        assert plan.delta_rows == 0 and col.disk_bytes()["index"] > built  # merged once at the end
        assert _recall(col, ids[:4000], vecs[:4000], queries) >= 0.95


def test_repeated_plain_searches_replay_the_same_plan(tmp_path: Path, data: tuple) -> None:
    ids, vecs, metas, queries = data
    with vecnest.open(tmp_path / "s", background=False) as db:
        col = db.create_collection("t", model=None, dim=384, index=IndexConfig(kind=IndexKind.HNSW, **SMALL))
        col.add(ids[:3000], vectors=vecs[:3000], metadatas=metas[:3000])
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
        col.search(queries[0], k=10, include=(), where={"year": 2026})  # filtered: never replayed
        assert len(snap.replays) == 2
        col.add(ids[3000:3010], vectors=vecs[3000:3010])  # a write: a new snapshot, with a delta
        hits = col.search(vecs[3005], k=1, ef_search=24, include=())
        assert hits[0].id == ids[3005]  # the fresh row is found: no stale replay
        assert not col._source.cached.replays  # a plan with a delta to scan is not one index call
