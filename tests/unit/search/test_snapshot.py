"""The snapshot's filter-mask cache: repeated filters are not re-evaluated, never conflated."""

from __future__ import annotations

import numpy as np
import pytest

import vecnest
from vecnest.filter import parse
from vecnest.search import snapshot as snapshot_module


@pytest.fixture
def col(store: vecnest.Database, rng: np.random.Generator) -> vecnest.Collection:
    c = store.create_collection("m", model=None, dim=4)
    # "flag" is True for some rows and the integer 1 for others: equal in Python, not in filters
    metas = [{"flag": True if i % 3 == 0 else 1, "n": i} for i in range(30)]
    c.add([f"d{i}" for i in range(30)], vectors=rng.normal(size=(30, 4)), metadatas=metas)
    return c


def _snap(col: vecnest.Collection) -> snapshot_module.Snapshot:
    col.search(np.ones(4), k=1, include=())  # loads the snapshot
    snap = col._source.cached
    assert snap is not None
    return snap


def _read(col: vecnest.Collection):  # noqa: ANN202
    return lambda: col._searcher._pinned(col._source.cached)


def test_repeated_filter_is_served_from_the_cache(col: vecnest.Collection) -> None:
    snap = _snap(col)
    node = parse({"n": {"$lt": 10}})
    mask, count = snap.match(node, _read(col))
    again, count2 = snap.match(parse({"n": {"$lt": 10}}), _read(col))
    assert again is mask and count == count2 == 10
    assert not mask.flags.writeable  # shared between searches: nobody may change it
    with pytest.raises(ValueError):
        mask[0] = False


def test_true_and_one_are_different_filters(col: vecnest.Collection) -> None:
    snap = _snap(col)
    t, n_true = snap.match(parse({"flag": True}), _read(col))
    o, n_one = snap.match(parse({"flag": 1}), _read(col))
    f, n_float = snap.match(parse({"flag": 1.0}), _read(col))
    assert (n_true, n_one) == (10, 20) and not (t & o).any()
    assert n_float == 20  # 1.0 == 1 for numbers, as in SQL
    assert {h.id for h in col.search(np.ones(4), k=30, where={"flag": True}, include=())} == {
        f"d{i}" for i in range(0, 30, 3)
    }


def test_cache_is_bounded(col: vecnest.Collection, monkeypatch: pytest.MonkeyPatch) -> None:
    snap = _snap(col)
    monkeypatch.setattr(snapshot_module, "MASK_CACHE_BYTES", 3 * 2 * snap.n_slots)  # 2 bytes per slot each
    for i in range(10):
        snap.match(parse({"n": {"$gte": i}}), _read(col))
    assert len(snap._masks) == 3
    assert list(snap._masks) == [repr(parse({"n": {"$gte": i}})) for i in (7, 8, 9)]  # LRU order


def test_a_write_is_never_hidden_by_a_cached_mask(col: vecnest.Collection) -> None:
    where = {"n": {"$lt": 5}}
    assert len(col.search(np.ones(4), k=30, where=where, include=())) == 5
    col.delete(ids=["d0", "d1"])
    assert {h.id for h in col.search(np.ones(4), k=30, where=where, include=())} == {"d2", "d3", "d4"}
    col.upsert(["d1"], vectors=np.ones((1, 4)), metadatas=[{"n": 1, "flag": 1}])
    assert {h.id for h in col.search(np.ones(4), k=30, where=where, include=())} == {"d1", "d2", "d3", "d4"}


FILTERS = [
    {"tags": {"$contains": "b"}},
    {"tags": {"$contains_any": ["z", "c"]}},
    {"n": {"$gte": 10}},
    {"$or": [{"flag": True}, {"name": {"$in": ["x3", "x17", "new"]}}]},
    {"name": {"$gt": "x2"}},
]


def _tagged(i: int, rng: np.random.Generator) -> dict:
    tags = list(rng.choice(["a", "b", "c", "z"], size=int(rng.integers(0, 3)), replace=False))
    return {"flag": bool(i % 2), "n": i, "name": f"x{i}", "tags": tags}


def _masks(col: vecnest.Collection) -> list[np.ndarray]:
    snap = _snap(col)
    return [snap.filter_mask(parse(f, None), _read(col)) for f in FILTERS]


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ``since`` of every column read from the catalog (0: the whole column)."""
    seen: list[int] = []
    original = snapshot_module.Snapshot._load_column

    def spy(self: snapshot_module.Snapshot, name: str, conn: object, *, since: int) -> object:
        seen.append(since)
        return original(self, name, conn, since=since)

    monkeypatch.setattr(snapshot_module.Snapshot, "_load_column", spy)
    return seen


def test_columns_carried_across_writes_match_a_fresh_load(
    store: vecnest.Database, rng: np.random.Generator, loads: list[int]
) -> None:
    col = store.create_collection("carry", model=None, dim=4)
    col.add([f"d{i}" for i in range(40)], vectors=rng.normal(size=(40, 4)), metadatas=[_tagged(i, rng) for i in range(40)])
    _masks(col)  # load every column once
    writes = [
        lambda: col.add([f"e{i}" for i in range(10)], vectors=rng.normal(size=(10, 4)),
                        metadatas=[{**_tagged(i, rng), "tags": ["new", "b"], "name": "new"} for i in range(10)]),
        lambda: col.delete(ids=["d1", "d5", "e3"]),
        lambda: col.upsert(["d7", "f1"], vectors=rng.normal(size=(2, 4)), metadatas=[_tagged(70, rng), {"n": "text"}]),
        lambda: col.update(["d9", "e4"], metadatas=[{"n": 99, "tags": ["z"]}, {"flag": True}]),  # in place
        lambda: col.add(["g1"], vectors=rng.normal(size=(1, 4)), metadatas=[{"tags": []}]),
    ]
    for write in writes:
        before = col._source.cached
        write()
        loads.clear()
        carried = _masks(col)
        snap = col._source.cached
        assert snap is not before
        in_place = snap.metadata_epoch != before.metadata_epoch
        # reused columns read only the rows appended since (slots from the old end on); an
        # in-place update forbids reuse, so its snapshot reads every column whole
        assert loads and all((s == 0) == in_place for s in loads), loads
        assert snap.inherited is None  # once every column is extended, the old ones are let go
        with vecnest.open(store.root, read_only=True) as fresh_db:  # everything read from disk
            fresh = _masks(fresh_db.get_collection("carry"))
        for f, a, b in zip(FILTERS, carried, fresh, strict=True):
            assert np.array_equal(a, b), f


def test_a_column_skipped_by_some_snapshots_is_still_extended_not_read_whole(
    store: vecnest.Database, rng: np.random.Generator, loads: list[int]
) -> None:
    # a writer makes a new snapshot before every search, and only every other search filters:
    # the filtered search must extend the column from the last snapshot that had it (it once
    # read every row again, seconds per search on a million rows while a writer ingested)
    col = store.create_collection("skip", model=None, dim=4)
    col.add([f"d{i}" for i in range(40)], vectors=rng.normal(size=(40, 4)), metadatas=[_tagged(i, rng) for i in range(40)])
    tags = parse({"tags": {"$contains": "b"}}, None)
    names = parse({"name": "x3"}, None)
    first = _snap(col)
    first.filter_mask(names, _read(col))  # a one-off filter: its layer must be let go later
    first.filter_mask(tags, _read(col))
    last_n = first.n_slots
    for round_ in range(6):
        for step in range(2):
            col.add([f"r{round_}-{step}-{i}" for i in range(5)], vectors=rng.normal(size=(5, 4)),
                    metadatas=[_tagged(100 + i, rng) for i in range(5)])
            _snap(col)  # an unfiltered search: a new snapshot that loads no column
        if round_ == 3:
            col.delete(ids=["d2", "r1-0-3"])
        if round_ == 4:
            col.update(["d3"], metadatas=[{"tags": ["b"], "name": "x3"}])  # in place: nothing inherited
        loads.clear()
        snap = _snap(col)
        mask = snap.filter_mask(tags, _read(col))
        # extended from the newest layer holding the column (the last filtered snapshot), or read
        # whole right after an in-place rewrite
        assert loads == ([0] if round_ == 4 else [last_n]), (round_, loads)
        last_n = snap.n_slots
        assert len(snap.inherited or ()) <= 1  # only the one-off filter's layer, narrowed to it
        assert all(set(layer[2]) == {"name"} for layer in snap.inherited or ())
        with vecnest.open(store.root, read_only=True) as fresh_db:
            fresh = fresh_db.get_collection("skip")
            assert np.array_equal(mask, _snap(fresh).filter_mask(tags, _read(fresh)))
    loads.clear()  # the in-place update dropped the one-off filter's layer: read whole, and right
    got = snap.filter_mask(names, _read(col))
    assert loads == [0]
    with vecnest.open(store.root, read_only=True) as fresh_db:
        fresh = fresh_db.get_collection("skip")
        assert np.array_equal(got, _snap(fresh).filter_mask(names, _read(fresh)))


def test_a_transaction_older_than_the_cached_snapshot_does_not_start_from_it(
    store: vecnest.Database, rng: np.random.Generator
) -> None:
    # the engine's last-resort path loads a snapshot inside a transaction it already holds; if
    # another thread installed a newer snapshot meanwhile, that one is no base for the older
    # state (its columns hold fewer rows: a misaligned or failing mask)
    import threading
    from contextlib import nullcontext

    col = store.create_collection("older", model=None, dim=4)
    col.add([f"d{i}" for i in range(30)], vectors=rng.normal(size=(30, 4)), metadatas=[_tagged(i, rng) for i in range(30)])
    node = parse({"n": {"$lt": 10}}, None)
    _snap(col).filter_mask(node, _read(col))
    opened, deleted, result = threading.Event(), threading.Event(), {}

    def old_reader() -> None:
        with col._source.catalog.read() as conn:
            conn.execute(f"SELECT COUNT(*) FROM {col._rows.table}").fetchone()  # the snapshot starts here
            opened.set()
            deleted.wait(10)
            snap = col._source.load(conn, None)
            result["mask"] = snap.filter_mask(node, lambda: nullcontext(conn))
            result["n_live"] = snap.n_live

    t = threading.Thread(target=old_reader)
    t.start()
    opened.wait(10)
    col.delete(ids=["d1", "d2"])
    _snap(col).filter_mask(node, _read(col))  # the newer snapshot, with the column, is cached now
    deleted.set()
    t.join(10)
    assert result["n_live"] == 30  # the older state, whole
    assert np.flatnonzero(result["mask"]).tolist() == list(range(10))
