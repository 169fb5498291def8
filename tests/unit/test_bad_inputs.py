"""A systematic probe of hostile inputs: every one gets a typed :class:`vecnest.VecnestError`
(never a raw ``UnicodeEncodeError``, ``RecursionError``, ``TypeError``, ``sqlite3`` or numpy
error), whose message says what was expected, and the store is left exactly as it was."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vecnest

DIM = 4
ONE = np.ones((1, DIM), dtype=np.float32)
Q = np.ones(DIM, dtype=np.float32)


def _deep(depth: int, leaf: dict[str, Any]) -> dict[str, Any]:
    node = leaf
    for i in range(depth):
        node = {"$not": node} if i % 2 else {"$or": [node, {"a": 2}]}
    return node


def _cyclic() -> dict[str, Any]:
    node: dict[str, Any] = {"$and": []}
    node["$and"].append(node)
    return node


NUL = "x\x00y"
SURROGATE = "bad\ud800id"
DEEP = _deep(450, {"a": 1})

#: (name, call) pairs: call(col, db) must raise a VecnestError whose message matches the pattern
PROBES: list[tuple[str, Callable[[vecnest.Collection, vecnest.Database], object], str]] = [
    ("add NUL id", lambda c, db: c.add([NUL], vectors=ONE), "NUL character"),
    ("upsert NUL id", lambda c, db: c.upsert([NUL], vectors=ONE), "NUL character"),
    ("update NUL id", lambda c, db: c.update([NUL], metadatas=[{"a": 1}]), "NUL character"),
    ("delete NUL id", lambda c, db: c.delete(ids=[NUL]), "NUL character"),
    ("get NUL id", lambda c, db: c.get(ids=[NUL]), "NUL character"),
    ("in NUL id", lambda c, db: NUL in c, "NUL character"),
    ("[] NUL id", lambda c, db: c[NUL], "NUL character"),
    ("add surrogate id", lambda c, db: c.add([SURROGATE], vectors=ONE), "lone surrogate"),
    ("get surrogate id", lambda c, db: c.get(ids=[SURROGATE]), "lone surrogate"),
    ("in surrogate id", lambda c, db: SURROGATE in c, "lone surrogate"),
    ("delete surrogate id", lambda c, db: c.delete(ids=[SURROGATE]), "lone surrogate"),
    ("surrogate text", lambda c, db: c.add(["t"], texts=["a \udc80 b"], vectors=ONE), "lone surrogate"),
    ("surrogate metadata value", lambda c, db: c.add(["m"], metadatas=[{"k": "\udfff"}], vectors=ONE), "lone surrogate"),
    ("surrogate metadata key", lambda c, db: c.add(["m"], metadatas=[{"\ud800": 1}], vectors=ONE), "lone surrogate"),
    ("surrogate in update", lambda c, db: c.update(["a"], metadatas=[{"k": ["\ud800"]}]), "lone surrogate"),
    ("surrogate filter value", lambda c, db: c.search(Q, where={"a": "\ud800"}), "valid Unicode"),
    ("surrogate filter field", lambda c, db: c.get(where={"\ud800": 1}), "valid Unicode"),
    ("surrogate filter in get", lambda c, db: c.get(where={"a": {"$in": ["ok", "\ud800"]}}), "valid Unicode"),
    ("surrogate where_document", lambda c, db: c.search(Q, where_document={"$contains": "\ud800"}), "valid Unicode"),
    ("NUL filter value", lambda c, db: c.delete(where={"a": NUL}), "without NUL"),
    ("450-deep filter in search", lambda c, db: c.search(Q, where=DEEP), "at most 32 levels"),
    ("450-deep filter in get", lambda c, db: c.get(where=DEEP), "at most 32 levels"),
    ("450-deep filter in delete", lambda c, db: c.delete(where=DEEP), "at most 32 levels"),
    ("5000-deep filter", lambda c, db: c.search(Q, where=_deep(5000, {"a": 1})), "at most 32 levels"),
    ("deep where_document", lambda c, db: c.search(Q, where_document=_deep(200, {"$contains": "a"})), "at most 32 levels"),
    ("cyclic filter", lambda c, db: c.search(Q, where=_cyclic()), "at most 32 levels"),
    ("include=None", lambda c, db: c.search(Q, include=None), "include must be a list"),
    ("include=5", lambda c, db: c.search(Q, include=5), "include must be a list"),
    ("include bad name", lambda c, db: c.search(Q, include=["vector"]), "include may name"),
    ("limit=10**20", lambda c, db: c.get(limit=10**20), "limit must be an int"),
    ("limit=-1", lambda c, db: c.get(limit=-1), "limit must be an int"),
    ("limit=True", lambda c, db: c.get(limit=True), "limit must be an int"),
    ("offset=10**20", lambda c, db: c.get(offset=10**20), "offset must be an int"),
    ("k=10**20", lambda c, db: c.search(Q, k=10**20), "k must be between"),
    ("k=0", lambda c, db: c.search(Q, k=0), "k must be between"),
    ("k=1.5", lambda c, db: c.search(Q, k=1.5), "k must be an int"),
    ("complex vectors", lambda c, db: c.add(["c"], vectors=ONE * (1 + 2j)), "complex numbers"),
    ("complex vectors with zero imaginary part", lambda c, db: c.add(["c"], vectors=ONE.astype(np.complex64)), "complex numbers"),
    ("complex query", lambda c, db: c.search(Q * (1 + 1j)), "complex numbers"),
    ("complex update", lambda c, db: c.update(["a"], vectors=ONE * 1j), "complex numbers"),
    ("complex list", lambda c, db: c.add(["c"], vectors=[[1j, 0, 0, 0]]), "complex numbers"),
    ("string vectors", lambda c, db: c.add(["c"], vectors=np.array([["1", "2", "3", "4"]])), "strings"),
    ("object vectors", lambda c, db: c.add(["c"], vectors=[[None, 1, 2, 3]]), "vectors must be"),
    ("ragged vectors", lambda c, db: c.add(["c", "d"], vectors=[[1, 2, 3, 4], [1, 2]]), "vectors must be"),
    ("NaN vector", lambda c, db: c.add(["c"], vectors=ONE * np.nan), "NaN or infinity"),
    ("ids=None", lambda c, db: c.add(None, vectors=ONE), "ids must be a list"),
    ("ids str", lambda c, db: c.add("abc", vectors=ONE), "ids must be a list"),
    ("ids bytes", lambda c, db: c.get(ids=[b"a"]), "must be a str"),
    ("empty id", lambda c, db: c.add([""], vectors=ONE), "1-512 characters"),
    ("huge id", lambda c, db: c.add(["x" * 513], vectors=ONE), "1-512 characters"),
    ("texts not a list", lambda c, db: c.add(["t"], texts="hello", vectors=ONE), "texts must be a list"),
    ("metadata not a dict", lambda c, db: c.add(["m"], metadatas=[[1]], vectors=ONE), "must be a dict"),
    ("metadata huge int", lambda c, db: c.add(["m"], metadatas=[{"a": 2**70}], vectors=ONE), "64-bit"),
    ("metadata set", lambda c, db: c.add(["m"], metadatas=[{"a": {1, 2}}], vectors=ONE), "metadata values must be"),
    ("where not a dict", lambda c, db: c.get(where=[1]), "filter dict"),
    ("unknown operator", lambda c, db: c.get(where={"a": {"$regex": "x"}}), "Unknown operator"),
    ("$in not a list", lambda c, db: c.get(where={"a": {"$in": 5}}), "non-empty list"),
    ("query of another dimension", lambda c, db: c.search(np.ones(DIM + 1, np.float32)), "dimension"),
    ("query None", lambda c, db: c.search(None), "one query"),
    ("strategy unknown", lambda c, db: c.search(Q, strategy="magic"), "strategy"),
    ("indexed_fields str", lambda c, db: db.create_collection("n1", model=None, dim=3, indexed_fields="year"), "list of field names"),
    ("indexed_fields bad name", lambda c, db: db.create_collection("n2", model=None, dim=3, indexed_fields=["$x"]), "indexed_fields"),
    ("pq_m not dividing dim", lambda c, db: db.create_collection("n3", model=None, dim=10, index=vecnest.IndexConfig(kind="ivf_pq", pq_m=3)), "must divide the dimension 10"),
    ("pq_m zero", lambda c, db: db.create_collection("n4", model=None, dim=10, index=vecnest.IndexConfig(kind="ivf_pq", pq_m=0)), "pq_m must be a positive int"),
    ("collection name NUL", lambda c, db: db.create_collection("a\x00b", model=None, dim=3), "collection name"),
    ("get_collection surrogate", lambda c, db: db.get_collection("\ud800"), "collection"),
    ("drop unknown", lambda c, db: db.drop_collection("nope"), "no collection named"),
]


@pytest.fixture
def probed(tmp_path: Path) -> tuple[vecnest.Database, vecnest.Collection]:
    db = vecnest.open(tmp_path / "s")
    col = db.create_collection("c", model=None, dim=DIM, metric="l2")
    col.add(["a", "b"], texts=["alpha", "beta"], metadatas=[{"a": 1}, {"a": 2}], vectors=np.eye(2, DIM, dtype=np.float32))
    yield db, col
    db.close()


def _snapshot(db: vecnest.Database) -> object:
    col = db.get_collection("c")
    return db.list_collections(), [(d.id, d.text, d.metadata, d.vector.tobytes()) for d in col.get(include_vectors=True)]


@pytest.mark.parametrize(("name", "call", "match"), PROBES, ids=[p[0] for p in PROBES])
def test_every_bad_input_is_a_typed_error_and_stores_nothing(
    probed: tuple[vecnest.Database, vecnest.Collection], name: str, call: Callable, match: str
) -> None:
    db, col = probed
    before = _snapshot(db)
    with pytest.raises(vecnest.VecnestError, match=match) as err:
        call(col, db)
    assert str(err.value), name
    assert _snapshot(db) == before


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, True, "5", None])
def test_bad_lock_timeouts(tmp_path: Path, value: object) -> None:
    with pytest.raises(vecnest.InvalidInputError, match=r"lock_timeout must be seconds in \[0, 86400\]"):
        vecnest.open(tmp_path / "s", lock_timeout=value)  # type: ignore[arg-type]


def test_a_nul_id_never_reaches_another_document(probed: tuple[vecnest.Database, vecnest.Collection]) -> None:
    db, col = probed
    col.add(["x"], vectors=ONE)
    with pytest.raises(vecnest.InvalidInputError):
        col.delete(ids=["x\x00y"])
    assert "x" in col and len(col) == 3


def test_the_deepest_allowed_filter_works_everywhere(probed: tuple[vecnest.Database, vecnest.Collection]) -> None:
    db, col = probed
    from vecnest.filter.parse import MAX_DEPTH

    deep = _deep(MAX_DEPTH // 2 - 1, {"a": 1})  # each $or level is a dict and a list
    expected = {d.id for d in col.get(where=deep)}
    assert expected and {h.id for h in col.search(Q, k=10, where=deep)} == expected
    assert col.delete(where=deep) == len(expected)
