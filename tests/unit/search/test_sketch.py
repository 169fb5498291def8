"""Sign sketches of the delta (rows not merged into the index yet), on real arXiv title vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vecnest
from conftest import arxiv_titles
from vecnest.config import IndexConfig, IndexKind
from vecnest.search import sketch
from vecnest.search.sketch import SketchBuffer

N = 9000
BUILT = 2000  # rows in the index; the rest is the delta (7,000 rows: ranked by sketches)


@pytest.fixture(scope="module")
def data() -> tuple[list[str], np.ndarray, list[dict], np.ndarray]:
    return arxiv_titles(N, n_queries=60, seed=11)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_buffer_codes_grow_incrementally_and_match_one_pass(data: tuple) -> None:
    _, vecs, _, _ = data
    x = _unit(vecs)
    buf = SketchBuffer(generation=1, start=500, dim=384)
    a = buf.codes(x, 500, 1700).copy()  # codes slots 500..1700
    b = buf.codes(x, 900, 6000)  # codes up to 6000, past the first capacity
    assert buf.coded == 6000 and buf.centre is not None
    whole = sketch.sketch(x[500:6000], buf.centre)
    assert np.array_equal(a, whole[:1200]) and np.array_equal(b, whole[400:])
    assert a.shape[1] == 64  # 48 bytes of signs, padded to a width FAISS unrolls
    assert not a[:, 48:].any() and np.array_equal(a[:, :48], np.packbits(x[500:1700] - buf.centre > 0, axis=1, bitorder="little"))
    with pytest.raises(ValueError, match="below"):
        buf.codes(x, 499, 600)


def test_a_buffer_never_holds_room_past_its_cap(data: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    _, vecs, _, _ = data
    x = _unit(vecs)
    monkeypatch.setattr(sketch, "MAX_BUFFER_BYTES", 3000 * 64)
    buf = SketchBuffer(generation=1, start=1000, dim=384)
    assert buf.fits(4000) and not buf.fits(4001)
    buf.codes(x, 1000, 3500)
    assert len(buf._codes) == 3000  # (a quarter more than needed, clamped to the cap's rows)
    buf.codes(x, 1000, 4000)
    assert len(buf._codes) == 3000 and buf.coded == 4000


def test_a_delta_past_the_buffer_cap_is_scanned_exactly(tmp_path: Path, data: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, _, queries = data
    db, col = _store(tmp_path, data)
    with db:
        monkeypatch.setattr(sketch, "MAX_BUFFER_BYTES", (N - BUILT) * 64 - 1)
        plan = col.search(queries[0], k=10, explain=True).plan
        assert plan.delta_rows == N - BUILT and "sketch" not in plan.reason
        monkeypatch.setattr(sketch, "MAX_BUFFER_BYTES", (N - BUILT) * 64)
        assert "sketch" in col.search(queries[1], k=10, explain=True).plan.reason


def test_hamming_ranking_then_rescoring_keeps_recall(data: tuple) -> None:
    _, vecs, _, queries = data
    x, q = _unit(vecs), _unit(queries)
    buf = SketchBuffer(generation=1, start=0, dim=384)
    codes = buf.codes(x, 0, N)
    assert buf.centre is not None
    pos = sketch.hamming_candidates(q, codes, buf.centre, sketch.rescore_depth(10))
    assert pos.shape == (len(q), 256)
    truth = np.argsort(-(q @ x.T), axis=1)[:, :10]
    recall = np.mean([len(set(truth[i]) & set(pos[i])) / 10 for i in range(len(q))])
    assert recall >= 0.97  # the exact top 10 is among the 256 rescored rows
    # a random ranking would find 256/9000 of them: the sketches rank, they do not guess
    assert sketch.hamming_candidates(q[:1], codes[:10], buf.centre, 256).shape == (1, 10)


def _store(tmp_path: Path, data: tuple) -> tuple[vecnest.Database, vecnest.Collection]:
    ids, vecs, metas, _ = data
    db = vecnest.open(tmp_path / "s", background=False)
    cfg = IndexConfig(kind=IndexKind.HNSW, min_rows=1000, delta_limit=10**9, ef_construction=64)
    col = db.create_collection("t", model=None, dim=384, index=cfg)
    col.add(ids[:BUILT], vectors=vecs[:BUILT], metadatas=metas[:BUILT])  # builds the index
    for a in range(BUILT, N, 1000):  # appended: the delta, never merged (delta_limit)
        col.add(ids[a : a + 1000], vectors=vecs[a : a + 1000], metadatas=metas[a : a + 1000])
    return db, col


def test_a_large_delta_is_ranked_by_sketches_and_keeps_recall(tmp_path: Path, data: tuple) -> None:
    ids, vecs, metas, queries = data
    db, col = _store(tmp_path, data)
    with db:
        hits = col.search(queries[0], k=10, explain=True)
        assert hits.plan.delta_rows == N - BUILT
        # (one run of rows: ranked by the asymmetric fast scan, the best 128 rescored)
        assert "sign sketches against the float query" in hits.plan.reason and "128 rescored" in hits.plan.reason
        x, q = _unit(vecs), _unit(queries)
        truth = np.argsort(-(q @ x.T), axis=1)[:, :10]
        got = [col.search(v, k=10, include=()) for v in queries]  # (a batch scans exactly)
        pos = {d: i for i, d in enumerate(ids)}
        recall = np.mean([len({pos[h.id] for h in g} & set(t)) / 10 for g, t in zip(got, truth, strict=True)])
        assert recall >= 0.95
        # a fresh row is found at once, and a deleted one never comes back
        assert col.search(vecs[8500], k=1)[0].id == ids[8500]
        col.delete(ids=[ids[8500]])
        assert ids[8500] not in {h.id for h in col.search(vecs[8500], k=10)}
        # an exact search never ranks by sketches (its contract is recall 1.0), nor one asking
        # for more recall than the default or for a fixed effort, nor a batch
        for kw in ({"strategy": "exact"}, {"target_recall": 0.99}, {"ef_search": 200}):
            plan = col.search(queries[0], k=10, explain=True, **kw).plan
            assert "sketch" not in plan.reason and (plan.delta_rows > 0 or kw.get("strategy") == "exact"), kw
        batch = col.search_batch(queries[:20], k=10, explain=True)
        assert "sketch" not in batch[0].plan.reason
        assert "sketch" in col.search(queries[0], k=10, target_recall=0.9, explain=True).plan.reason


def test_filtered_delta_rows_honour_the_filter(tmp_path: Path, data: tuple) -> None:
    ids, vecs, metas, queries = data
    db, col = _store(tmp_path, data)
    with db:
        where = {"primary_category": {"$ne": "cs.IT"}}
        keep = np.array([m["primary_category"] != "cs.IT" for m in metas])
        assert 0.5 < keep.mean() < 0.99
        hits = [col.search(v, k=10, where=where, include=(), strategy="ann_filtered", explain=True) for v in queries]
        assert "sign sketches" in hits[0].plan.reason  # the filter keeps > 2,048 delta rows
        pos = {d: i for i, d in enumerate(ids)}
        assert all(keep[pos[h.id]] for g in hits for h in g)
        x, q = _unit(vecs), _unit(queries)
        s = q @ x.T
        s[:, ~keep] = -np.inf
        truth = np.argsort(-s, axis=1)[:, :10]
        recall = np.mean([len({pos[h.id] for h in g} & set(t)) / 10 for g, t in zip(hits, truth, strict=True)])
        assert recall >= 0.9


def test_snapshots_share_one_buffer_and_code_only_new_rows(tmp_path: Path, data: tuple) -> None:
    ids, vecs, metas, queries = data
    db, col = _store(tmp_path, data)
    with db:
        col.search(queries[0], k=10)
        first = col._source.cached.sketches
        assert first is not None and first.coded == N and first.start == BUILT
        col.delete(ids=[ids[3]])  # a new snapshot of the same generation
        col.search(queries[1], k=10)
        assert col._source.cached.sketches is first
        assert col.optimize()["action"] == "merged"  # nothing left to sketch
        plan = col.search(queries[0], k=10, explain=True).plan
        assert plan.delta_rows == 0 and "sketch" not in plan.reason


@pytest.mark.parametrize("metric", ["dot", "l2"])
def test_only_cosine_collections_rank_their_delta_by_sketches(tmp_path: Path, data: tuple, metric: str) -> None:
    ids, vecs, _, queries = data
    with vecnest.open(tmp_path / "s", background=False) as db:
        cfg = IndexConfig(kind=IndexKind.HNSW, min_rows=1000, delta_limit=10**9, ef_construction=32)
        col = db.create_collection("t", model=None, dim=384, index=cfg, metric=metric)
        col.add(ids[:BUILT], vectors=vecs[:BUILT])
        col.add(ids[BUILT:], vectors=vecs[BUILT:])
        plan = col.search(queries[0], k=10, explain=True).plan
        assert plan.delta_rows == N - BUILT and "sketch" not in plan.reason  # scanned exactly


def test_asymmetric_ranking_then_rescoring_keeps_recall_at_half_the_depth(data: tuple) -> None:
    _, vecs, _, queries = data
    x, q = _unit(vecs), _unit(queries)
    buf = SketchBuffer(generation=1, start=0, dim=384)
    fast = buf.fastscan(x, 0, N)
    assert fast is not None and buf.centre is not None
    truth = np.argsort(-(q @ x.T), axis=1)[:, :10]
    codes = buf.codes(x, 0, N)

    def recall(pos: np.ndarray) -> float:
        return float(np.mean([len(set(truth[i]) & set(pos[i])) / 10 for i in range(len(q))]))

    asym = sketch.asym_candidates(q, fast, buf.centre, sketch.asym_depth(10))
    hamming = sketch.hamming_candidates(q, codes, buf.centre, sketch.rescore_depth(10))
    assert asym.shape == (len(q), 128) and sketch.asym_depth(10) * 2 == sketch.rescore_depth(10)
    # the float query ranks the sign sketches better than its own signs do: half the rows
    # rescored hold at least as much of the exact top 10
    assert recall(asym) >= max(0.97, recall(hamming) - 0.005)


def test_a_fast_scan_index_is_shared_extended_for_newer_snapshots_and_never_rebuilt_for_older(data: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    _, vecs, _, _ = data
    x = _unit(vecs)
    monkeypatch.setattr(sketch, "FASTSCAN_TAIL_MIN", 2000)
    buf = SketchBuffer(generation=1, start=1000, dim=384)
    first = buf.fastscan(x, 1000, 5000)
    assert first is not None and (first.lo, first.hi, first.mid, first.main.ntotal, first.tail) == (1000, 5000, 5000, 4000, None)
    assert buf.fastscan(x, 1000, 5000) is first and buf.fastscan(x, 1000, 4200) is first  # (an older end: shared)
    newer = buf.fastscan(x, 1000, 6000)  # (1,000 rows appended: a tail index of their own)
    assert newer is not first and newer.main is first.main and (newer.mid, newer.tail.ntotal) == (5000, 1000)
    assert first.main.ntotal == 4000 and first.tail is None  # (never changed)
    whole = buf.fastscan(x, 1000, 9000)  # (a tail of 4,000: past FASTSCAN_TAIL_MIN and a quarter of the main rows: one index again)
    assert whole.main is not first.main and (whole.mid, whole.main.ntotal, whole.tail) == (9000, 8000, None)
    merged = buf.fastscan(x, 3000, 9000)  # (a merge landed: the delta starts later)
    assert merged is not None and (merged.lo, merged.main.ntotal) == (3000, 6000)
    assert buf.fastscan(x, 1000, 9000) is None  # (an older snapshot: ranked by Hamming distance instead)
    assert buf.fastscan(x, 3000, 8500) is merged


def test_a_growing_delta_packs_each_row_a_few_times_not_once_per_snapshot(data: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    _, vecs, _, _ = data
    x = _unit(vecs)
    packed: list[int] = []
    real = sketch.fastscan_index
    monkeypatch.setattr(sketch, "fastscan_index", lambda codes, dim: (packed.append(len(codes)), real(codes, dim))[1])
    monkeypatch.setattr(sketch, "FASTSCAN_TAIL_MIN", 500)  # (this small delta then behaves as a large one does)
    buf = SketchBuffer(generation=1, start=0, dim=384)
    ends = range(2000, N + 1, 50)  # (a commit of 50 rows, a search on each new snapshot)
    for hi in ends:
        fast = buf.fastscan(x, 0, hi)
        assert fast is not None and fast.hi == hi and fast.main.ntotal + (fast.tail.ntotal if fast.tail else 0) == hi
        assert hi - fast.mid <= max(500, (fast.mid) // 4)
    assert len(packed) == len(ends)
    assert sum(packed) <= 0.3 * sum(ends)  # (re-packing the whole delta for each snapshot: sum(ends))


def test_a_search_does_not_queue_behind_another_threads_build(data: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    _, vecs, _, _ = data
    x = _unit(vecs)
    buf = SketchBuffer(generation=1, start=0, dim=384)
    started, release = threading.Event(), threading.Event()
    real = sketch.fastscan_index

    def slow(codes: np.ndarray, dim: int) -> object:
        started.set()
        release.wait(5)
        return real(codes, dim)

    monkeypatch.setattr(sketch, "fastscan_index", slow)
    builder = threading.Thread(target=buf.fastscan, args=(x, 0, 6000))
    builder.start()
    assert started.wait(5)
    t0 = time.perf_counter()
    assert buf.fastscan(x, 0, 6000) is None  # (the caller ranks by Hamming distance meanwhile)
    assert time.perf_counter() - t0 < 1.0
    release.set()
    builder.join(5)
    assert buf.fastscan(x, 0, 6000) is not None


def test_main_and_tail_indexes_rank_as_one(data: tuple) -> None:
    _, vecs, _, queries = data
    x, q = _unit(vecs), _unit(queries)
    one = SketchBuffer(generation=1, start=0, dim=384)
    whole = one.fastscan(x, 0, N)
    two = SketchBuffer(generation=1, start=0, dim=384)
    two.fastscan(x, 0, 8200)  # (past the 8,192 rows the centre is taken from: the same centre)
    split = two.fastscan(x, 0, N)
    assert whole.tail is None and split.tail is not None and split.mid == 8200
    assert one.centre is not None and np.array_equal(one.centre, two.centre)
    a = sketch.asym_candidates(q, whole, one.centre, 128)
    b = sketch.asym_candidates(q, split, two.centre, 128)
    assert b.shape == a.shape and (b >= 0).all() and (b < N).all()
    assert np.mean([len(set(a[i]) & set(b[i])) / 128 for i in range(len(q))]) >= 0.97  # (the same rows, but for near-ties)
    assert (b >= 8200).any()  # (the tail's rows are among them)
