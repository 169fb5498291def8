"""Compression tiers through the collection: declared pipelines are built by maintenance and
scanned by exact strategies (with the float32 rescore), filters stay exact, re-tiering is atomic
under kill -9, `check` verifies them, `stats()` measures them, the tuner applies its pick."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import vecnest
from conftest import arxiv_titles

N = 9000
PIPE = "binary/asym@20 > float32"


@pytest.fixture(scope="module")
def data() -> tuple[list[str], np.ndarray, list[dict], np.ndarray]:
    return arxiv_titles(N, n_queries=40, seed=5)


def _fill(db: vecnest.Database, name: str, data: tuple, **kw: object) -> vecnest.Collection:
    ids, vecs, metas, _ = data
    col = db.create_collection(name, model=None, dim=384, **kw)
    col.add(ids, vectors=vecs, metadatas=metas)
    return col


def test_tiers_answer_exact_strategies_with_float32_rescoring(tmp_path: Path, data: tuple) -> None:
    queries = data[3]
    with vecnest.open(tmp_path / "s", background=False) as db:
        col = _fill(db, "t", data, compression=PIPE)
        plain = _fill(db, "p", data)
        plan = col.search(queries[0], k=10, explain=True).plan
        assert [t["tier"] for t in plan.tiers][:2] == ["binary/asym@20", "float32"] and plan.tiers[0]["where"] == "ram"
        recall = np.mean([
            len({h.id for h in col.search(q, k=10, include=())} & {h.id for h in plain.search(q, k=10, include=())}) / 10
            for q in queries
        ])
        assert recall >= 0.97
        for where in ({"primary_category": "cs.IT"}, {"year": 2026}, {"categories": {"$contains": "cs.LG"}}):
            got = col.search(queries[1], k=10, where=where, include=())
            allowed = {d.id for d in col.get(where=where)}
            assert all(h.id in allowed for h in got)  # exact filters on the codes too
        col.add(["new"], vectors=queries[2][None, :], metadatas=[{"year": 1900}])  # past the codes
        hits = col.search(queries[2], k=1, explain=True)
        assert hits[0].id == "new" and any(t["tier"] == "delta" for t in hits.plan.tiers)
        stats = col.stats()
        binary = stats["bytes_per_vector"]["binary"]
        assert binary["where"] == "ram" and 40 <= binary["ram_resident"] <= 49  # 48 B codes, measured
        assert stats["compression"] == PIPE
        col.set_compression(None)
        assert col.search(queries[0], k=10, explain=True).plan.tiers is None
        col.set_compression("int8@4 > float32")
        col.wait_for_maintenance()
        assert [t["tier"] for t in col.search(queries[0], k=10, explain=True).plan.tiers][0] == "int8@4"
    assert vecnest.check(tmp_path / "s").ok


def test_bad_pipelines_are_refused(tmp_path: Path) -> None:
    with vecnest.open(tmp_path / "s") as db:
        with pytest.raises(vecnest.InvalidInputError, match="float32"):
            db.create_collection("a", model=None, dim=16, compression="float32 > binary")
        with pytest.raises(vecnest.InvalidInputError):
            db.create_collection("b", model=None, dim=16, compression="binary-pca64 > float32")  # 64 > 16 dims
        with pytest.raises(vecnest.InvalidInputError):
            db.create_collection("c", model=None, dim=16, compression="zstd")
        col = db.create_collection("d", model=None, dim=16)
        with pytest.raises(vecnest.InvalidInputError, match="rescore_multiplier"):
            col.search(np.ones(16, np.float32), rescore_multiplier=0)


_RETIER = """
import sys, vecnest
with vecnest.open(sys.argv[1], background=False) as db:
    col = db.get_collection("t")
    print("go", flush=True)
    col.set_compression(sys.argv[2])
"""


@pytest.mark.slow
def test_kill_during_re_tiering_leaves_the_old_or_the_new_pipeline(tmp_path: Path, data: tuple) -> None:
    with vecnest.open(tmp_path / "s", background=False) as db:
        _fill(db, "t", data, compression=PIPE)
    rng = np.random.default_rng(0)
    pipes = ["binary-rot192/asym@20 > float32", "int8@4 > float32", PIPE]
    for i in range(6):
        proc = subprocess.Popen([sys.executable, "-c", _RETIER, str(tmp_path / "s"), pipes[i % 3]], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "go"
        time.sleep(float(rng.uniform(0.0, 1.5)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        report = vecnest.check(tmp_path / "s")
        assert report.ok, report
        with vecnest.open(tmp_path / "s", read_only=True) as db:
            col = db.get_collection("t")
            q = data[3][i]
            assert len(col.search(q, k=10)) == 10  # tiers whole (old or new), or float32 meanwhile


def test_tune_picks_within_the_budget_and_applies(tmp_path: Path, data: tuple) -> None:
    with vecnest.open(tmp_path / "s", background=False) as db:
        col = _fill(db, "t", data)
        result = col.tune(budget="64B", candidates=["binary/asym > float32", "int8 > float32"], multipliers=(10,), n_queries=60, apply=True, plot=tmp_path / "p.png")
        assert result.choice.pipeline.startswith("binary/asym")  # int8 needs 384 B
        assert col.config.compression == result.choice.pipeline and (tmp_path / "p.png").stat().st_size > 1000
        col.wait_for_maintenance()
        assert col.search(data[3][0], k=5, explain=True).plan.tiers is not None
