"""vecnest never changes its host's process-wide state: no environment variable at import, no
thread-pool size left changed by a search, in the calling thread or any other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import numpy as np

import vecnest


def test_import_changes_no_environment_variable() -> None:
    code = (
        "import json, os; before = dict(os.environ); import vecnest, vecnest.index.ann, faiss;"
        "print(json.dumps({k: v for k, v in os.environ.items() if before.get(k) != v}))"
    )
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert json.loads(out) == {}


def test_searches_leave_the_thread_pool_size_as_they_found_it(store: vecnest.Database) -> None:
    import faiss

    col = store.create_collection("c", model=None, dim=8, index=vecnest.IndexConfig(kind="hnsw", min_rows=50))
    col.add([str(i) for i in range(300)], vectors=np.random.default_rng(0).normal(size=(300, 8)))
    col.optimize()
    q = np.ones(8, np.float32)
    before = faiss.omp_get_max_threads()
    for strategy in ("ann", "exact"):
        col.search(q, k=5, strategy=strategy)
        col.search_batch(np.ones((40, 8), np.float32), k=5, strategy=strategy)
    assert faiss.omp_get_max_threads() == before
    seen: list[int] = []

    def other() -> None:
        seen.append(faiss.omp_get_max_threads())
        col.search(q, k=5, strategy="ann")
        seen.append(faiss.omp_get_max_threads())

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen[0] == seen[1] and faiss.omp_get_max_threads() == before
