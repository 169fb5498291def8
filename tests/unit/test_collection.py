"""Collection behaviour: CRUD, search, filters, and every bad input leaving the store untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vecnest

DIM = 8


def _vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.normal(size=(n, DIM)).astype(np.float32)


@pytest.fixture
def col(store: vecnest.Database, rng: np.random.Generator) -> vecnest.Collection:
    c = store.create_collection("docs", model=None, dim=DIM)
    c.add(
        [f"d{i}" for i in range(20)],
        [f"text number {i}" for i in range(20)],
        [{"year": 2020 + i % 4, "tags": ["even" if i % 2 == 0 else "odd"], "i": i} for i in range(20)],
        _vectors(rng, 20),
    )
    return c


def _state(c: vecnest.Collection) -> list[tuple]:
    return [(d.id, d.text, d.metadata, d.vector.tobytes()) for d in c.get(include_vectors=True)]


def test_container_protocol(col: vecnest.Collection) -> None:
    assert len(col) == col.count() == 20
    assert "d3" in col and "nope" not in col and 3 not in col
    doc = col["d3"]
    assert doc.text == "text number 3" and doc.metadata == {"year": 2023, "tags": ["odd"], "i": 3}
    with pytest.raises(vecnest.NotFoundError, match="no document with id 'nope'") as err:
        col["nope"]
    assert isinstance(err.value, KeyError)


def test_cosine_vectors_are_normalized_and_search_finds_itself(col: vecnest.Collection) -> None:
    docs = col.get(include_vectors=True)
    norms = np.linalg.norm(np.stack([d.vector for d in docs]), axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    for d in docs[:5]:
        hits = col.search(d.vector * 3.0, k=3)
        assert hits[0].id == d.id and hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert hits[0].score >= hits[1].score >= hits[2].score
        assert hits[0].text == d.text and hits[0].metadata == d.metadata


def test_search_with_filters_is_exact(col: vecnest.Collection, rng: np.random.Generator) -> None:
    q = _vectors(rng, 1)[0]
    hits = col.search(q, k=20, where={"year": {"$gte": 2022}, "tags": {"$contains": "even"}})
    expected = {f"d{i}" for i in range(20) if 2020 + i % 4 >= 2022 and i % 2 == 0}
    assert {h.id for h in hits} == expected
    docs = {d.id: d.vector for d in col.get(include_vectors=True)}
    qn = q / np.linalg.norm(q)
    best = sorted(expected, key=lambda i: -float(docs[i] @ qn))
    assert [h.id for h in hits] == best
    assert col.search(q, k=5, where={"year": 1999}) == []
    assert [h.id for h in col.search(q, k=3, where_document={"$contains": "number 1"})][0].startswith("d1")


def test_search_batch_equals_single_searches(col: vecnest.Collection, rng: np.random.Generator) -> None:
    qs = _vectors(rng, 4)
    batch = col.search_batch(qs, k=5, where={"i": {"$lt": 15}})
    for q, hits in zip(qs, batch, strict=True):
        assert [h.id for h in hits] == [h.id for h in col.search(q, k=5, where={"i": {"$lt": 15}})]


def test_delete_by_ids_and_where(col: vecnest.Collection, rng: np.random.Generator) -> None:
    assert col.delete(ids=["d0", "d1", "missing"]) == 2
    assert col.delete(where={"year": 2023}) == 5
    assert len(col) == 13 and "d3" not in col
    hits = col.search(_vectors(rng, 1)[0], k=20)
    assert len(hits) == 13 and "d0" not in {h.id for h in hits}
    with pytest.raises(vecnest.InvalidInputError, match="drop the collection"):
        col.delete()
    assert col.delete(ids=["d2"], where={"year": 2020}) == 0  # d2 has year 2022


def test_upsert_replaces_and_update_keeps_what_is_not_given(col: vecnest.Collection, rng: np.random.Generator) -> None:
    v = _vectors(rng, 2)
    col.upsert(["d5", "new"], ["five again", "brand new"], [{"year": 1}, None], v)
    assert len(col) == 21
    assert col["d5"].text == "five again" and col["d5"].metadata == {"year": 1}
    assert col.search(v[0], k=1)[0].id == "d5"
    col.update(["d5"], metadatas=[{"year": 2}])
    assert col["d5"].text == "five again" and col["d5"].metadata == {"year": 2}
    col.update(["d5"], vectors=v[1:2])
    top = [h.id for h in col.search(v[1], k=2)]
    assert set(top) == {"d5", "new"} and col["d5"].metadata == {"year": 2}
    with pytest.raises(vecnest.NotFoundError, match="use upsert"):
        col.update(["d5", "ghost"], metadatas=[{}, {}])
    with pytest.raises(vecnest.InvalidInputError, match="at least one"):
        col.update(["d5"])


def test_get_by_where_ids_limit_offset(col: vecnest.Collection) -> None:
    assert [d.id for d in col.get(ids=["d4", "missing", "d2"])] == ["d4", "d2"]
    assert [d.id for d in col.get(where={"tags": {"$contains": "odd"}}, limit=3, offset=1)] == ["d3", "d5", "d7"]
    assert len(col.get()) == 20
    assert all(d.vector is None for d in col.get(limit=2))


# --------------------------------------------------------------------------- bad input
BAD_ADDS = [
    ({"ids": ["x"], "vectors": np.ones((1, DIM + 1))}, vecnest.DimensionMismatchError, "dimension 8"),
    ({"ids": ["x"], "vectors": np.full((1, DIM), np.nan)}, vecnest.InvalidInputError, "NaN or infinity"),
    ({"ids": ["x"], "vectors": np.full((1, DIM), np.inf)}, vecnest.InvalidInputError, "NaN or infinity"),
    ({"ids": ["x"], "vectors": np.zeros((1, DIM))}, vecnest.InvalidInputError, "all zeros"),
    ({"ids": ["x"], "texts": [""], "vectors": np.ones((1, DIM))}, vecnest.InvalidInputError, "empty"),
    ({"ids": ["x"], "texts": [3], "vectors": np.ones((1, DIM))}, vecnest.InvalidInputError, "must be a str"),
    ({"ids": ["x", "x"], "vectors": np.ones((2, DIM))}, vecnest.DuplicateIdError, "more than once"),
    ({"ids": ["d1"], "vectors": np.ones((1, DIM))}, vecnest.DuplicateIdError, "use upsert"),
    ({"ids": [1], "vectors": np.ones((1, DIM))}, vecnest.InvalidInputError, r"ids\[0\] must be a str"),
    ({"ids": "x", "vectors": np.ones((1, DIM))}, vecnest.InvalidInputError, "must be a list"),
    ({"ids": [], "vectors": np.ones((0, DIM))}, vecnest.InvalidInputError, "empty"),
    ({"ids": ["x"], "metadatas": [{"a": {"nested": 1}}], "vectors": np.ones((1, DIM))}, vecnest.InvalidInputError, "metadata values must be"),
    ({"ids": ["x"], "metadatas": [{"a": float("nan")}], "vectors": np.ones((1, DIM))}, vecnest.InvalidInputError, "NaN"),
    ({"ids": ["x"], "metadatas": [{"$a": 1}], "vectors": np.ones((1, DIM))}, vecnest.InvalidInputError, "keys must be"),
    ({"ids": ["x"], "metadatas": [{"a": [1, None]}], "vectors": np.ones((1, DIM))}, vecnest.InvalidInputError, "may not contain None"),
    ({"ids": ["x"], "metadatas": ["year=1"], "vectors": np.ones((1, DIM))}, vecnest.InvalidInputError, "must be a dict"),
    ({"ids": ["x"], "metadatas": [{"a": 2**70}], "vectors": np.ones((1, DIM))}, vecnest.InvalidInputError, "64-bit"),
    ({"ids": ["x", "y"], "vectors": np.ones((1, DIM))}, vecnest.InvalidInputError, "expected 2 vectors"),
    ({"ids": ["x"], "texts": ["hello"]}, vecnest.NoEncoderError, "precomputed vectors only"),
    ({"ids": ["x"]}, vecnest.InvalidInputError, "pass texts="),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), BAD_ADDS)
def test_bad_add_is_rejected_whole_and_store_untouched(
    col: vecnest.Collection, kwargs: dict, error: type[Exception], match: str
) -> None:
    before = _state(col)
    with pytest.raises(error, match=match):
        col.add(**kwargs)
    if match != "use upsert":  # upsert overwrites existing ids by design
        with pytest.raises(error, match=match):
            col.upsert(**kwargs)
    assert _state(col) == before


def test_failed_batch_with_one_bad_row_stores_nothing(col: vecnest.Collection) -> None:
    before = _state(col)
    vecs = np.ones((3, DIM), np.float32)
    with pytest.raises(vecnest.DuplicateIdError):
        col.add(["n1", "n2", "d7"], vectors=vecs)  # third id exists: nothing of the batch lands
    assert _state(col) == before and "n1" not in col


@pytest.mark.parametrize(
    ("k", "match"), [(0, "between 1 and"), (-3, "between 1 and"), (10**9, "page through"), (2.5, "must be an int"), (True, "must be an int")]
)
def test_bad_k(col: vecnest.Collection, k: object, match: str) -> None:
    with pytest.raises(vecnest.InvalidInputError, match=match):
        col.search(np.ones(DIM), k=k)  # type: ignore[arg-type]


def test_bad_queries_and_filters(col: vecnest.Collection) -> None:
    with pytest.raises(vecnest.DimensionMismatchError):
        col.search(np.ones(DIM + 2))
    with pytest.raises(vecnest.InvalidInputError, match="search_batch"):
        col.search(np.ones((2, DIM)))
    with pytest.raises(vecnest.NoEncoderError):
        col.search("text query")
    with pytest.raises(vecnest.InvalidFilterError):
        col.search(np.ones(DIM), where={"year": {"$gtt": 3}})
    with pytest.raises(vecnest.InvalidFilterError):
        col.delete(where={"$or": []})
    assert len(col) == 20


def test_k_larger_than_collection_returns_everything(col: vecnest.Collection) -> None:
    assert len(col.search(np.ones(DIM), k=500)) == 20


def test_metrics_dot_and_l2(store: vecnest.Database) -> None:
    v = np.array([[1, 0], [2, 0], [0, 3]], dtype=np.float32)
    dot = store.create_collection("dot", model=None, dim=2, metric="dot")
    dot.add(["a", "b", "c"], vectors=v)
    hits = dot.search(np.array([1.0, 0.0]), k=3)
    assert [(h.id, h.score) for h in hits] == [("b", 2.0), ("a", 1.0), ("c", 0.0)]
    l2 = store.create_collection("l2", model=None, dim=2, metric="l2")
    l2.add(["a", "b", "c"], vectors=v)
    hits = l2.search(np.array([2.0, 0.0]), k=3)
    assert [h.id for h in hits] == ["b", "a", "c"]
    assert [h.score for h in hits] == pytest.approx([0.0, -1.0, -13.0])


def test_encoder_collection_embeds_texts(store: vecnest.Database, hashing_encoder: vecnest.CallableEncoder) -> None:
    col = store.create_collection("bow", hashing_encoder)
    col.add(["a", "b", "c"], ["cats purr softly", "dogs bark loudly", "stock markets fell"])
    assert col.search("the cats", k=1)[0].id == "a"
    assert [h.id for h in col.search_batch(["dogs", "markets"], k=1)[0]] == ["b"]
    seen: list[int] = []
    col.add(["d"], ["birds sing"], progress=seen.append)
    assert sum(seen) == 1 or seen == []  # progress counts embedded documents


def test_create_index_persists_and_is_used(tmp_path: Path, rng: np.random.Generator) -> None:
    with vecnest.open(tmp_path / "s") as db:
        c = db.create_collection("c", model=None, dim=DIM, indexed_fields=["year"])
        c.add([str(i) for i in range(50)], vectors=_vectors(rng, 50), metadatas=[{"year": i % 5} for i in range(50)])
        c.create_index("cat")
    with vecnest.open(tmp_path / "s") as db:
        c = db.get_collection("c")
        assert c.config.indexed_fields == ("year", "cat")
        with db.catalog.read() as conn:
            plan = " ".join(
                str(r[-1]) for r in conn.execute(
                    "EXPLAIN QUERY PLAN SELECT slot FROM c1_docs WHERE json_extract(metadata, '$.\"year\"') = 3"
                )
            )
        assert "INDEX" in plan.upper()
        assert len(c.search(np.ones(DIM), k=50, where={"year": 3})) == 10


@pytest.mark.parametrize("scale", [1e-30, 1e-20, 1e30])
def test_tiny_and_huge_query_vectors_are_normalised_exactly(col: vecnest.Collection, scale: float) -> None:
    # float32 squares of these underflow to 0 / overflow to inf: the float64 path must take over
    d = col.get(ids=["d3"], include_vectors=True)[0]
    hits = col.search((d.vector * scale).astype(np.float32), k=1)
    assert hits[0].id == "d3" and hits[0].score == pytest.approx(1.0, abs=1e-5)
