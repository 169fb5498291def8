"""Compaction: dead rows leave the segment, every live document keeps its exact vector,
metadata and findability, the index is rebuilt, and readers of the old generation keep working."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import vecnest
from vecnest.store.compact import AUTO_MIN_SLOTS


def _col(db: vecnest.Database, n: int, rng: np.random.Generator, **kw: object) -> tuple[vecnest.Collection, np.ndarray]:
    col = db.create_collection("c", model=None, dim=8, **kw)
    vecs = rng.normal(size=(n, 8)).astype(np.float32)
    col.add([f"d{i}" for i in range(n)], vectors=vecs, metadatas=[{"i": i, "g": i % 5} for i in range(n)])
    return col, vecs


def test_compaction_drops_dead_rows_and_keeps_every_live_document(tmp_path: Path, rng: np.random.Generator) -> None:
    with vecnest.open(tmp_path / "s", background=False) as db:
        col, vecs = _col(db, 3000, rng, index=vecnest.IndexConfig(kind="hnsw", min_rows=500))
        col.delete(ids=[f"d{i}" for i in range(0, 3000, 2)])
        col.upsert(["d1"], vectors=vecs[1:2] * 2, metadatas=[{"i": 1, "g": 9}])  # a replaced row
        reader = vecnest.open(tmp_path / "s", read_only=True).get_collection("c")
        before = reader.search(vecs[3], k=5, include=())  # the reader holds generation 0
        segs_before = sorted(p.name for p in (tmp_path / "s" / "segments").glob("*.f32"))
        result = col.compact()
        assert result["action"] == "compacted" and result["rows_before"] == 3001 and result["rows_after"] == 1500
        assert sorted(p.name for p in (tmp_path / "s" / "segments").glob("*.f32")) == ["c1.g1.f32"] != segs_before
        # the old generation's reader keeps answering from its mapped files
        assert [h.id for h in reader.search(vecs[3], k=5, include=())] == [h.id for h in before]
        docs = {d.id: d for d in col.get(include_vectors=True)}
        assert len(docs) == 1500 and "d0" not in docs
        for i in (1, 3, 2999):
            want = vecs[i] * (2 if i == 1 else 1)
            np.testing.assert_allclose(docs[f"d{i}"].vector, want / np.linalg.norm(want), rtol=1e-6)
            assert col.search(want, k=1, include=())[0].id == f"d{i}"
        assert docs["d1"].metadata == {"i": 1, "g": 9}
        assert sorted(h.id for h in col.search(vecs[0], k=3000, where={"g": 3}, include=())) == sorted(
            f"d{i}" for i in range(1, 3000, 2) if i % 5 == 3 and i != 1
        )
        col.wait_for_maintenance()
        col.optimize()
        plan = col.search(vecs[5], k=5, explain=True).plan
        assert plan.strategy in ("ann", "exact") and plan.delta_rows == 0  # the index was rebuilt
        col.add(["new"], vectors=rng.normal(size=(1, 8)))  # writes go on in the new generation
        assert len(col) == 1501
        assert col.compact()["action"] == "none"  # no dead row left
    with vecnest.open(tmp_path / "s", read_only=True) as db:  # a new process sees it all
        col = db.get_collection("c")
        assert len(col) == 1501 and col["d3"].metadata == {"i": 3, "g": 3}


def test_maintenance_compacts_a_mostly_dead_segment_by_itself(tmp_path: Path, rng: np.random.Generator) -> None:
    n = AUTO_MIN_SLOTS + 100
    with vecnest.open(tmp_path / "s", background=False) as db:
        col, _ = _col(db, n, rng)
        col.delete(where={"g": {"$in": [0, 1, 2]}})  # 60 % dead
        with db.catalog.read() as conn:
            generation, n_slots = conn.execute("SELECT generation, n_slots FROM collections").fetchone()
        assert (generation, n_slots) == (1, len(col))
