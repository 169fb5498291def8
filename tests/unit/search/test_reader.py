"""Snapshots are vouched for by a stamp read before their transaction, and damaged derived files
are bypassed, never served."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import vecnest

_ADD = (
    "import sys, numpy as np, vecnest\n"
    "with vecnest.open(sys.argv[1]) as db:\n"
    "    db.get_collection('c').add([sys.argv[2]], vectors=np.array([[float(x) for x in sys.argv[3:]]], np.float32))"
)


def _add_elsewhere(store: Path, doc_id: str, vec: list[int]) -> None:
    subprocess.run([sys.executable, "-c", _ADD, str(store), doc_id, *map(str, vec)], check=True)


def test_a_commit_landing_while_a_snapshot_loads_is_seen_by_the_next_search(tmp_path: Path) -> None:
    store = tmp_path / "s"
    with vecnest.open(store) as db:
        db.create_collection("c", model=None, dim=4).add(["a"], vectors=np.eye(4, dtype=np.float32)[:1])
    with vecnest.open(store, read_only=True) as reader:
        col = reader.get_collection("c")
        col.search(np.ones(4, np.float32), k=1, include=())  # a snapshot is loaded
        _add_elsewhere(store, "z", [0, 0, 1, 0])  # outdates it
        rows, armed = col._rows, {"on": True}
        original = type(rows).state

        def state_then_commit(self: object, conn: object) -> object:
            out = original(self, conn)  # the reload's transaction has begun...
            if armed["on"]:
                armed["on"] = False
                _add_elsewhere(store, "b", [0, 1, 0, 0])  # ...and another process commits now
            return out

        rows.state = state_then_commit.__get__(rows)
        col.search(np.ones(4, np.float32), k=1, include=())  # reloads; "b" lands mid-load
        del rows.state
        assert not armed["on"]
        assert len(col) == 3
        # "b" was acknowledged before this search began: it must be found (the original code
        # paired the mid-load snapshot with the later stamp and served it until the next write)
        assert [h.id for h in col.search(np.array([0, 1, 0, 0], np.float32), k=1, include=())] == ["b"]


def _graph_store(root: Path) -> tuple[np.ndarray, Path]:
    """3,000 vectors with an HNSW index; returns them and the index file."""
    from vecnest.config import IndexConfig, IndexKind

    rng = np.random.default_rng(5)
    vecs = rng.standard_normal((3000, 32)).astype(np.float32)
    with vecnest.open(root, background=False) as db:
        col = db.create_collection("c", model=None, dim=32, index=IndexConfig(kind=IndexKind.HNSW, min_rows=100, m=8, ef_construction=32))
        col.add([f"d{i}" for i in range(3000)], vectors=vecs, metadatas=[{"i": i} for i in range(3000)])
        col.optimize()
    (index,) = (root / "segments").glob("c1.hnsw.*.faiss")
    return vecs, index


def test_a_first_search_answered_exactly_never_loads_the_index(tmp_path: Path, monkeypatch) -> None:
    from vecnest.index import ann

    vecs, _ = _graph_store(tmp_path / "s")
    monkeypatch.setattr(ann, "LAZY_BYTES", 0)  # (as an index file of a larger collection)
    with vecnest.open(tmp_path / "s", read_only=True) as db:
        col = db.get_collection("c")
        hits = col.search(vecs[7], k=3, where={"i": {"$lt": 500}}, strategy="exact_filtered", include=())
        assert hits[0].id == "d7"
        assert not col._source.cached.ann.loaded
        hits = col.search(vecs[9], k=3, strategy="ann", include=())
        assert hits[0].id == "d9" and col._source.cached.ann.loaded


def test_a_filters_first_searches_scanned_exactly_by_default_never_load_the_index(tmp_path: Path, monkeypatch) -> None:
    """The planner scans a new filter's matches exactly while its effort is unproven: checking
    what the filter learned (which holds for an index of about as many rows) reads the row count
    the catalog recorded, not the lazily opened file (found by the cold-start benchmark: +80-130
    ms, the whole graph read from disk, on the first filtered search of a new process)."""
    from vecnest.index import ann

    vecs, _ = _graph_store(tmp_path / "s")
    monkeypatch.setattr(ann, "LAZY_BYTES", 0)
    with vecnest.open(tmp_path / "s", read_only=True) as db:
        col = db.get_collection("c")
        hits = col.search(vecs[7], k=3, where={"i": {"$lt": 2700}}, include=(), explain=True)
        assert hits[0].id == "d7" and hits.plan.strategy == "exact_filtered", hits.plan.reason
        assert not col._source.cached.ann.loaded
        assert col._source.cached.ann.rows == 3000


def test_an_index_found_damaged_at_its_first_use_is_bypassed_then_rebuilt(tmp_path: Path, monkeypatch) -> None:
    """Loaded lazily, a damaged index is found at the first search that needs it: that search
    is answered exactly (the plan says why), as are the next, and maintenance rebuilds it."""
    from vecnest.index import ann

    vecs, index = _graph_store(tmp_path / "s")
    index.write_bytes(b"\0" * index.stat().st_size)
    monkeypatch.setattr(ann, "LAZY_BYTES", 0)
    with vecnest.open(tmp_path / "s", background=False) as db:
        col = db.get_collection("c")
        for i in (3, 11):
            hits = col.search(vecs[i], k=3, strategy="ann", explain=True, include=())
            assert hits[0].id == f"d{i}" and "damaged" in hits.plan.reason
        assert col.stats()["index_bytes"] == {}
        assert col.optimize()["action"] in ("rebuilt", "built")
        hits = col.search(vecs[5], k=3, strategy="ann", explain=True, include=())
        assert hits[0].id == "d5" and "damaged" not in hits.plan.reason
        assert col._source.cached.ann.loaded


def test_an_index_found_damaged_while_a_filters_effort_is_measured_is_marked(tmp_path: Path, monkeypatch) -> None:
    """Measuring a filter's effort may be the first use of a lazily loaded index: a damaged one
    is not taken for a failed measurement (logged, retried every sample, never rebuilt) but
    marked, and the search answered exactly."""
    from vecnest.index import ann
    from vecnest.index.ann import IndexUnusable
    from vecnest.search import effort, learned

    vecs, index = _graph_store(tmp_path / "s")

    def damaged(*args: object, **kw: object) -> None:
        raise IndexUnusable(index.name, "zeroed (test)")

    monkeypatch.setattr(learned, "measure", damaged)
    monkeypatch.setattr(ann, "LAZY_BYTES", 0)
    with vecnest.open(tmp_path / "s", background=False) as db:
        col = db.get_collection("c")
        kw = dict(k=3, where={"i": {"$lt": 1500}}, strategy="ann_filtered", include=(), explain=True)
        for i in range(effort.SAMPLE):  # (the last completes the sample: measured)
            hits = col.search(vecs[i], **kw)
            assert hits[0].id == f"d{i}"
        assert index.name in col._source.damaged and "damaged" in hits.plan.reason
        assert col._source.cached.ann is None


def test_threads_finding_a_new_index_together_open_it_once_and_share_it(tmp_path: Path, monkeypatch) -> None:
    """Searching threads that find their snapshot outdated by a merge at the same moment open the
    new index file once: the snapshot and the reader's cache hold the same index object (else
    what filters learn through one is lost at the next write, found by review)."""
    import threading
    import time

    from vecnest.index.ann import AnnIndex

    vecs, _ = _graph_store(tmp_path / "s")
    opened: list[object] = []
    original = AnnIndex.open.__func__

    def slow_open(cls: type, *args: object, **kwargs: object) -> AnnIndex:
        time.sleep(0.2)  # (every thread is inside the load meanwhile)
        ann = original(cls, *args, **kwargs)
        opened.append(ann)
        return ann

    monkeypatch.setattr(AnnIndex, "open", classmethod(slow_open))
    with vecnest.open(tmp_path / "s", read_only=True) as db:
        col = db.get_collection("c")
        start = threading.Barrier(4)
        got: list[object] = []

        def search() -> None:
            start.wait()
            col.search(vecs[3], k=3, include=())
            got.append(col._source.cached.ann)

        threads = [threading.Thread(target=search) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(opened) == 1
        assert all(a is opened[0] for a in got) and col._source._ann[1] is opened[0]


def test_an_older_transactions_index_state_never_replaces_or_clears_the_cached_index(tmp_path: Path) -> None:
    from vecnest.index.state import IndexState

    vecs, _ = _graph_store(tmp_path / "s")
    with vecnest.open(tmp_path / "s", read_only=True) as db:
        col = db.get_collection("c")
        col.search(vecs[3], k=3, include=())
        src = col._source
        file, ann, lineage, at = src._ann
        older = (at[0], at[1] - 1)
        assert src._index(IndexState(), older) == (None, None)  # (read before the index: kept)
        assert src._ann is not None and src._ann[1] is ann
        again, _ = src._index(IndexState(file, 3000, 3000, None), older)
        assert again is ann  # (the file cached: the same object)
        newer = (at[0] + 1, 0)  # a compaction dropped the index: nothing named any more
        assert src._index(IndexState(), newer) == (None, None)
        assert src._ann is None  # (its graph and what its filters learned are not kept alive)


def test_sketch_buffers_restart_where_the_cap_cannot_hold_the_delta_and_die_with_their_generation(monkeypatch) -> None:
    from types import SimpleNamespace

    from vecnest.config import Metric
    from vecnest.search import reader, sketch

    src = reader.SnapshotSource.__new__(reader.SnapshotSource)
    src._lock = __import__("threading").Lock()
    src._sketches = src._all_sketches = None
    src._newest_generation = -1

    def snap(generation: int, built_upto: int, n_slots: int) -> SimpleNamespace:
        return SimpleNamespace(generation=generation, built_upto=built_upto, n_slots=n_slots, flat=SimpleNamespace(vectors=np.zeros((1, 384), np.float32)))

    first = src._sketches_for(snap(1, 0, 1000))
    assert first is not None and first.start == 0
    assert src._sketches_for(snap(1, 100, 1200)) is first  # (a few rows merged since: kept)
    monkeypatch.setattr(sketch, "MAX_BUFFER_BYTES", 64 * 1500)  # 1,500 rows of 384-dim sketches
    moved = src._sketches_for(snap(1, 1000, 2000))  # from 0: 2,000 rows, past the cap
    assert moved is not first and moved.start == 1000 and moved.fits(2000)
    assert src._sketches_for(snap(0, 0, 500)) is None  # (an older generation: never put back)
    assert src._sketches is moved
    src._all_sketches = sketch.SketchBuffer(1, 0, 384)
    src._drop_sketches_before(2)  # a snapshot of generation 2 without an index
    assert src._sketches is None and src._all_sketches is None
    # a load racing the compaction (its transaction saw generation 1) makes none again
    assert src._sketches_for(snap(1, 1000, 2000)) is None and src._sketches is None
    got, why = src._all_sketches_for(snap(1, 1000, 2000), Path("seg"))
    assert got is None and "newer segment generation" in why and src._all_sketches is None
    assert Metric.COSINE  # (the source under test sketches cosine collections)
