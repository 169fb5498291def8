"""kill -9 at random moments of processes that upsert and compact: the store always opens, every
document is present once with a vector it was given, and searches agree with the catalog."""

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

WORKER = Path(__file__).with_name("_compact_worker.py")
N = 3000


@pytest.mark.slow
def test_kill_during_compaction_never_loses_or_doubles_a_document(tmp_path: Path) -> None:
    store = tmp_path / "s"
    rng = np.random.default_rng(0)
    with vecnest.open(store) as db:
        col = db.create_collection("c", model=None, dim=8, index=vecnest.IndexConfig(kind="hnsw", min_rows=1000))
        col.add([f"d{i}" for i in range(N)], vectors=rng.normal(size=(N, 8)), metadatas=[{"gen": -1}] * N)
    generations = set()
    for seed in range(12):
        proc = subprocess.Popen([sys.executable, str(WORKER), str(store), str(seed)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "upserted"  # started; now kill it mid-way
        time.sleep(float(rng.uniform(0.0, 0.6)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        with vecnest.open(store, read_only=True) as db:
            col = db.get_collection("c")
            docs = col.get(include_vectors=True)
            assert sorted(d.id for d in docs) == sorted(f"d{i}" for i in range(N))  # each once
            with db.catalog.read() as conn:
                generations.add(conn.execute("SELECT generation FROM collections").fetchone()[0])
            for d in docs[:: 97]:
                assert col.search(d.vector, k=1, include=(), strategy="exact")[0].id == d.id
                assert col.search(d.vector, k=1, include=())[0].id == d.id
            files = {p.name for p in (store / "segments").iterdir()}
            assert sum(f.endswith(".f32") for f in files) <= 2  # the live generation (+ one left mid-copy)
    assert len(generations) > 1  # compactions did commit between kills
