"""Database: collections lifecycle, model identity in the manifest, read-only stores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import vecnest
from conftest import hashing_embed


def test_collections_lifecycle(store: vecnest.Database) -> None:
    assert store.list_collections() == []
    a = store.create_collection("a", model=None, dim=3)
    store.create_collection("b", model=None, dim=5, metric="l2")
    assert store.list_collections() == ["a", "b"]
    assert store.get_collection("b").metric is vecnest.config.Metric.L2
    with pytest.raises(vecnest.CollectionExistsError, match="exist_ok=True"):
        store.create_collection("a", model=None, dim=3)
    assert store.create_collection("a", model=None, dim=3, exist_ok=True).name == "a"
    a.add(["x"], vectors=np.ones((1, 3)))
    store.drop_collection("a")
    assert store.list_collections() == ["b"]
    with pytest.raises(vecnest.CollectionNotFoundError, match="no collection named 'a'"):
        store.get_collection("a")
    with pytest.raises(vecnest.CollectionNotFoundError, match="was dropped"):
        len(a)
    with pytest.raises(vecnest.CollectionNotFoundError):
        store.drop_collection("a")
    assert not list((store.root / "segments").glob("c1.*"))


@pytest.mark.parametrize("name", ["", "a b", "../x", "-x", "x" * 129, 7])
def test_bad_collection_names(store: vecnest.Database, name: object) -> None:
    with pytest.raises(vecnest.InvalidInputError, match="collection name"):
        store.create_collection(name, model=None, dim=3)  # type: ignore[arg-type]


def test_bad_create_arguments(store: vecnest.Database, hashing_encoder: vecnest.CallableEncoder) -> None:
    with pytest.raises(vecnest.InvalidInputError, match="needs dim="):
        store.create_collection("x", model=None)
    with pytest.raises(vecnest.InvalidInputError, match="metric must be one of"):
        store.create_collection("x", model=None, dim=3, metric="hamming")
    with pytest.raises(vecnest.InvalidInputError, match="contradicts the model"):
        store.create_collection("x", hashing_encoder, dim=3)
    assert store.list_collections() == []


def test_manifest_records_model_and_mismatch_is_refused(tmp_path: Path, hashing_encoder: vecnest.CallableEncoder) -> None:
    with vecnest.open(tmp_path / "s") as db:
        col = db.create_collection("c", hashing_encoder)
        col.add(["a"], ["hello world"])
        fp = col.config.encoder
        assert fp is not None and fp["name"] == "hashing-bow-64" and fp["dim"] == 64
    with vecnest.open(tmp_path / "s") as db:
        with db.catalog.read() as conn:
            raw = conn.execute("SELECT config FROM collections").fetchone()[0]
        assert json.loads(raw)["encoder"]["name"] == "hashing-bow-64"
        col = db.get_collection("c")  # a callable cannot be re-created from the manifest
        with pytest.raises(vecnest.NoEncoderError, match="pass model="):
            col.search("hello")
        other = vecnest.CallableEncoder(lambda t: hashing_embed(t) + 1, dim=64, name="other-model")
        with pytest.raises(vecnest.ModelMismatchError, match="was built with hashing-bow-64"):
            db.get_collection("c", model=other)
        col = db.get_collection("c", model=hashing_encoder)
        assert col.search("hello", k=1)[0].id == "a"


def test_default_model_collection_reopens_with_its_encoder(tmp_path: Path) -> None:
    with vecnest.open(tmp_path / "s") as db:
        col = db.create_collection("m")
        fp = col.config.encoder
        assert fp["name"] == "all-MiniLM-L6-v2" and fp["dim"] == 384
        assert fp["weights_sha256"] == "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
        assert fp["pooling"] == "mean" and fp["max_seq_length"] == 256
    with vecnest.open(tmp_path / "s") as db:
        assert db.get_collection("m").encoder is not None
        bow = vecnest.CallableEncoder(hashing_embed, dim=64, name="bow")
        with pytest.raises(vecnest.ModelMismatchError):
            db.get_collection("m", model=bow)


def test_read_only_store_refuses_writes(tmp_path: Path) -> None:
    with vecnest.open(tmp_path / "s") as db:
        db.create_collection("c", model=None, dim=2).add(["a"], vectors=np.ones((1, 2)))
    with vecnest.open(tmp_path / "s", read_only=True) as db:
        col = db.get_collection("c")
        assert len(col) == 1
        with pytest.raises(vecnest.ReadOnlyError, match="read_only=True"):
            col.add(["b"], vectors=np.ones((1, 2)))
        with pytest.raises(vecnest.ReadOnlyError):
            db.create_collection("d", model=None, dim=2)


def test_info_reports_counts_and_bytes(store: vecnest.Database) -> None:
    col = store.create_collection("c", model=None, dim=4)
    col.add([str(i) for i in range(10)], vectors=np.ones((10, 4)))
    info = store.info()
    assert info["format_version"] == 1
    (c,) = info["collections"]
    assert c["count"] == 10 and c["vector_bytes"] == 10 * 4 * 4 and c["model"] is None
    assert info["disk_bytes"] >= c["vector_bytes"]


def test_error_tree_and_http_status() -> None:
    assert issubclass(vecnest.NotFoundError, KeyError)
    assert issubclass(vecnest.InvalidInputError, ValueError)
    assert vecnest.StorageLockedError.http_status == 423
    assert vecnest.DuplicateIdError.http_status == 409
    for name in vecnest.__all__:
        obj = getattr(vecnest, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, vecnest.VecnestError)


_FRESH = iter(range(10**9))


def _plan(db: vecnest.Database, col: vecnest.Collection, where: dict) -> str:
    from vecnest.store.documents import DocumentTable

    clause, params = DocumentTable.where_clause(None, where, None)
    with db.catalog.read() as conn:
        # a real statement reloads a changed schema (EXPLAIN alone does not), and a fresh SQL
        # text bypasses the statement cache's plan made before the index existed
        conn.execute("SELECT COUNT(*) FROM collections").fetchone()
        sql = f"EXPLAIN QUERY PLAN SELECT slot FROM c{col.cid}_docs WHERE {clause} -- {next(_FRESH)}"
        rows = conn.execute(sql, params).fetchall()
    return " ".join(str(r[-1]) for r in rows)


def test_indexed_fields_make_get_and_delete_look_rows_up(store: vecnest.Database) -> None:
    with pytest.raises(vecnest.InvalidInputError, match=r"indexed_fields=\['year'\]"):
        store.create_collection("bad", model=None, dim=2, indexed_fields="year")  # not y, e, a, r
    assert store.list_collections() == []
    col = store.create_collection("c", model=None, dim=2, indexed_fields=["year"])
    col.add([str(i) for i in range(50)], vectors=np.ones((50, 2)), metadatas=[{"year": 2000 + i % 5, "cat": f"k{i % 3}"} for i in range(50)])
    assert "USING INDEX" in _plan(store, col, {"year": 2003})
    assert "USING INDEX" in _plan(store, col, {"year": {"$gte": 2003}})
    assert "SCAN" in _plan(store, col, {"cat": "k1"})
    col.create_index("cat")
    assert "USING INDEX" in _plan(store, col, {"cat": "k1"})
    assert store.get_collection("c").config.indexed_fields == ("year", "cat")
    assert len(col.get(where={"cat": "k1", "year": 2001})) == len([i for i in range(50) if i % 3 == 1 and i % 5 == 1])
    assert col.delete(where={"year": 2004}) == 10


@pytest.mark.parametrize(("dim", "pq_m"), [(256, 32), (1024, 128), (384, 48), (100, 10), (17, 17), (8, 1)])
def test_ivf_pq_works_for_every_dimension(store: vecnest.Database, dim: int, pq_m: int) -> None:
    index = vecnest.IndexConfig(kind="ivf_pq", min_rows=300, delta_limit=10_000)
    col = store.create_collection(f"pq{dim}", model=None, dim=dim, metric="l2", index=index)
    assert col.config.index.pq_m == pq_m  # resolved when created, pinned in the manifest
    vecs = np.random.default_rng(dim).normal(size=(400, dim)).astype(np.float32)
    col.add([str(i) for i in range(400)], vectors=vecs)
    # built here, or already by the background maintenance the add started (under load, first)
    assert col.optimize()["action"] in ("built", "none")
    assert col.index_bytes() and col.search(vecs[7], k=5, strategy="ann", explain=True).plan.strategy == "ann"
    hits = col.search(vecs[7], k=5, strategy="ann")
    assert hits[0].id == "7"  # rescored exactly from the float32 vectors
    with pytest.raises(vecnest.InvalidInputError, match=f"must divide the dimension {dim}"):
        store.create_collection(f"bad{dim}", model=None, dim=dim, index=vecnest.IndexConfig(kind="ivf_pq", pq_m=dim + 1))
