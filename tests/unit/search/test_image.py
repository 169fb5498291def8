"""Snapshot images: a new process starts from the image, and what it finds is exactly what the
catalog holds — after appends, deletions and in-place updates since the image, and when the
image is damaged."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import vecnest
from vecnest.records import id_list
from vecnest.search.image import IMAGE_MIN_ROWS, load_image, read_image_state
from vecnest.search.image_maintain import ImageMaintainer
from vecnest.store.arrays import read_arrays, write_arrays

N = IMAGE_MIN_ROWS + 500
FILTERS = [
    {"g": 3},
    {"g": {"$in": [1, 2]}, "odd": True},
    {"tags": {"$contains": "t1"}},
    {"name": {"$gte": "n4"}},
    {"$or": [{"x": {"$lt": 0.1}}, {"tags": {"$contains_any": ["t0", "ü"]}}]},
    {"g": {"$ne": 5}},
]


def _meta(i: int) -> dict:
    return {"g": i % 7, "odd": bool(i % 2), "tags": [f"t{i % 3}"] + (["ü"] if i % 11 == 0 else []), "name": f"n{i}", "x": (i % 97) / 97}


def _store(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "s"
    with vecnest.open(path, background=False) as db:
        col = db.create_collection("c", model=None, dim=8)
        col.add([f"d{i}" for i in range(N)], vectors=rng.normal(size=(N, 8)), metadatas=[_meta(i) for i in range(N)])
        with db.catalog.read() as conn:
            assert read_image_state(conn, col.cid) is not None  # written after the write
    return path


def _answers(col: vecnest.Collection) -> list[list[str]]:
    q = np.ones(8, np.float32)
    return [sorted(h.id for h in col.search(q, k=N + 10, where=f, include=(), strategy="exact")) for f in FILTERS]


def _truth(col: vecnest.Collection) -> list[list[str]]:  # the catalog's SQL, no columns involved
    return [sorted(d.id for d in col.get(where=f)) for f in FILTERS]


def test_a_new_process_searches_from_the_image_exactly(tmp_path: Path) -> None:
    path = _store(tmp_path)
    with vecnest.open(path, read_only=True) as db:
        col = db.get_collection("c")
        assert _answers(col) == _truth(col)
        assert col._source._image is not None  # the snapshot started from the image


def test_changes_after_the_image_are_seen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _store(tmp_path)
    rng = np.random.default_rng(1)
    # as if the writer died before its maintenance: the image stays as it was
    monkeypatch.setattr(ImageMaintainer, "run_if_needed", lambda self: None)
    with vecnest.open(path, background=False) as db:
        col = db.get_collection("c")
        col.delete(ids=[f"d{i}" for i in range(0, 300, 3)])  # deletions among the image's rows
        col.add(["new1", "new2"], vectors=rng.normal(size=(2, 8)), metadatas=[{"g": 3, "tags": ["t1"]}, {"g": 5}])
        col.update(["d4"], metadatas=[{"g": 3, "name": "zzz"}])  # in place: the image's columns are stale
        with db.catalog.read() as conn:
            image = read_image_state(conn, col.cid)
        assert image is not None and image.n_slots == N and image.epoch == 0
    with vecnest.open(path, read_only=True) as db:
        col = db.get_collection("c")
        assert _answers(col) == _truth(col)
        assert "new1" in _answers(col)[0] and "d4" in _answers(col)[0] and "d3" not in _answers(col)[0]


def test_deletions_alone_are_found_by_count(tmp_path: Path) -> None:
    path = _store(tmp_path)
    with vecnest.open(path, background=False) as db:
        db.get_collection("c").delete(ids=["d10", "d17"])
    with vecnest.open(path, read_only=True) as db:
        col = db.get_collection("c")
        assert _answers(col) == _truth(col) and len(col) == N - 2


def test_an_image_of_the_current_version_is_taken_without_counting_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a COUNT(*) of the table reads ~1 MB of index pages (15 ms from a cold cache at 75k rows);
    # an image written at the collection's current version needs none, any later write does
    path = _store(tmp_path)
    real = sqlite3.connect
    statements: list[str] = []

    def traced(*args: object, **kwargs: object) -> sqlite3.Connection:
        conn = real(*args, **kwargs)  # type: ignore[arg-type]
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(sqlite3, "connect", traced)
    with vecnest.open(path, read_only=True) as db:
        col = db.get_collection("c")
        assert _answers(col) == _truth(col)
    assert col._source._image is not None and not any("COUNT(*)" in s for s in statements)
    monkeypatch.setattr(ImageMaintainer, "run_if_needed", lambda self: None)  # (the image stays old)
    with vecnest.open(path, background=False) as db:
        db.get_collection("c").delete(ids=["d10"])
    statements.clear()
    with vecnest.open(path, read_only=True) as db:
        col = db.get_collection("c")
        answers = _answers(col)  # (the snapshot's load, before len() counts the table itself)
        assert any("COUNT(*)" in s for s in statements)
        assert answers == _truth(col) and len(col) == N - 1 and "d10" not in answers[5] + answers[0]


def test_a_damaged_image_is_bypassed_never_served(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _store(tmp_path)
    with vecnest.open(path, read_only=True) as db:
        with db.catalog.read() as conn:
            name = read_image_state(conn, db.get_collection("c").cid).file
    image = path / "segments" / name
    data = bytearray(image.read_bytes())
    image.write_bytes(data[: len(data) // 2])  # truncated
    with caplog.at_level(logging.WARNING, logger="vecnest"), vecnest.open(path, read_only=True) as db:
        col = db.get_collection("c")
        assert _answers(col) == _truth(col)
    assert any("damaged" in r.message for r in caplog.records)
    with vecnest.open(path, background=False) as db:  # the next write's maintenance rewrites it
        db.get_collection("c").add(["x"], vectors=np.ones((1, 8)))
        db.get_collection("c")._maint.images.refresh(wait=None)
        with db.catalog.read() as conn:
            assert read_image_state(conn, db.get_collection("c").cid).file != name
    assert not image.exists()


def test_image_round_trip_and_strings(tmp_path: Path) -> None:
    path = _store(tmp_path)
    with vecnest.open(path, read_only=True) as db:
        with db.catalog.read() as conn:
            state = read_image_state(conn, db.get_collection("c").cid)
    image = load_image(path / "segments" / state.file)
    assert len(image.live) == N and id_list(image.ids, [5]) == ["d5"]
    assert set(image.columns) >= {"g", "tags", "name", "x", "odd"}
    assert "ü" in set(image.columns["tags"].elements.vocab)


@pytest.mark.parametrize(
    ("ids", "fixed"),
    [
        (["a", "bb", "ccc"], True),
        (["x\x00y", "é", "雪" * 3], True),  # (a NUL inside, multi-byte UTF-8)
        (["p" * 200, "q"], False),  # longer than MAX_ID_WIDTH
        (["ok", "tail\x00"], False),  # a trailing NUL, which a fixed-width array drops
        (["ok", "lone\ud800"], False),  # an older store's lone surrogate
        ([], True),
    ],
)
def test_ids_round_trip_through_an_image_as_fixed_width_bytes_where_they_fit(ids: list[str], fixed: bool) -> None:
    """A snapshot keeps ids as fixed-width UTF-8 bytes where they fit (a few bytes an id, not a
    ``str`` object); an image written from either form loads to the same ids."""
    from vecnest.records import encode_ids
    from vecnest.search.image import _id_array, _strings
    from vecnest.search.snapshot import IdBuffer

    encoded = encode_ids(ids)
    assert (encoded is not None) is fixed
    for items in (ids, encoded) if fixed else (ids,):
        got = _id_array(_strings("ids", items), "ids")
        assert (got.dtype.kind == "S") is fixed
        assert id_list(got, list(range(len(ids)))) == ids
    buf = IdBuffer.scattered(np.arange(len(ids)), _id_array(_strings("ids", ids), "ids"), len(ids))
    view = buf.extended(len(ids) + 2, np.array([len(ids), len(ids) + 1]), ["later", "a-much-longer-one-" * 3])
    assert id_list(view, list(range(len(ids) + 2))) == [*ids, "later", "a-much-longer-one-" * 3]
    assert (view.dtype.kind == "S") is fixed
    odd = buf.extended(len(ids) + 3, np.array([len(ids) + 2]), ["end\x00"])  # (objects from here on)
    assert odd.dtype.kind == "O" and id_list(odd, list(range(len(ids) + 3)))[-3:] == ["later", "a-much-longer-one-" * 3, "end\x00"]
    assert id_list(view, list(range(len(ids) + 2)))[-1] == "a-much-longer-one-" * 3  # (an older view unchanged)


def test_id_lengths_that_do_not_describe_the_blob_are_a_damaged_image() -> None:
    """Lengths of an image's ids that are negative or do not add up to the bytes stored raise
    ``ValueError``, which the reader takes as a damaged image (bypassed, marked), never an
    ``IndexError`` out of every snapshot load."""
    from vecnest.search.image import _id_array

    for lengths, blob in (([-1, 1], b""), ([2, -1], b"a"), ([1, 1], b"abc"), ([3], b"ab")):
        with pytest.raises(ValueError, match="lengths"):
            _id_array({"ids.len": np.array(lengths, dtype=np.int64), "ids.utf8": np.frombuffer(blob, dtype=np.uint8)}, "ids")


def test_fixed_width_ids_never_cost_more_than_str_objects() -> None:
    """An id of MAX_ID_WIDTH bytes is kept fixed-width; one byte more and the buffer holds
    ``str`` objects (a few long ids must not pad every slot to their width)."""
    from vecnest.records import MAX_ID_WIDTH, encode_ids

    assert MAX_ID_WIDTH <= 64
    assert encode_ids(["a", "x" * MAX_ID_WIDTH]).dtype.itemsize == MAX_ID_WIDTH
    assert encode_ids(["a", "x" * (MAX_ID_WIDTH + 1)]) is None


def test_array_archive_round_trip_and_bounds(tmp_path: Path) -> None:
    arrays = {"a": np.arange(10, dtype=np.int64), "b": np.zeros((3, 4), dtype=np.float32), "e": np.empty(0, np.uint8)}
    write_arrays(tmp_path / "x", arrays)
    back = read_arrays(tmp_path / "x")
    assert all(np.array_equal(back[k], v) and back[k].dtype == v.dtype for k, v in arrays.items())
    assert not back["a"].flags.writeable
    raw = (tmp_path / "x").read_bytes()
    (tmp_path / "y").write_bytes(raw[:-8])  # the last array runs past the end now
    with pytest.raises(ValueError, match="past the end"):
        read_arrays(tmp_path / "y")
    (tmp_path / "z").write_bytes(b"not an archive at all")
    with pytest.raises(ValueError, match="not an array archive"):
        read_arrays(tmp_path / "z")
    with pytest.raises(TypeError):
        write_arrays(tmp_path / "o", {"o": np.array(["x"], dtype=object)})


@pytest.mark.parametrize("how", ["bulk", "optimize"])
def test_a_store_closed_right_after_loading_has_its_image(tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # the background job is dropped when the store closes: the end of bulk() and optimize()
    # write the image in the calling thread, so the next process need not read every row
    monkeypatch.setattr(ImageMaintainer, "run_if_needed", lambda self: None)  # no background help
    rng = np.random.default_rng(1)
    path = tmp_path / "s"
    with vecnest.open(path) as db:
        col = db.create_collection("c", model=None, dim=8)
        if how == "bulk":
            with col.bulk():
                for lo in range(0, N, 1000):
                    ids = range(lo, min(N, lo + 1000))
                    col.add([f"d{i}" for i in ids], vectors=rng.normal(size=(len(ids), 8)), metadatas=[_meta(i) for i in ids])
        else:
            col.add([f"d{i}" for i in range(N)], vectors=rng.normal(size=(N, 8)), metadatas=[_meta(i) for i in range(N)])
            with db.catalog.read() as conn:
                assert read_image_state(conn, col.cid) is None
            assert col.optimize()["action"] == "none"  # an exact collection: no index to merge
    with vecnest.open(path, read_only=True) as db:
        col = db.get_collection("c")
        with db.catalog.read() as conn:
            assert read_image_state(conn, col.cid) is not None
        assert _answers(col) == _truth(col)
        assert col._source._image is not None
