"""Concurrency across processes, handles and threads: racing creators, racing optimizers, readers
holding old snapshots while a writer rebuilds and drops, a drop during an optimize, and threads
searching one collection while another thread writes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import vecnest

from ._concurrent import DIM, vectors

WORKER = Path(__file__).with_name("_concurrent.py")
HNSW = vecnest.IndexConfig(kind="hnsw", min_rows=100, delta_limit=50, m=8, ef_construction=40, ef_search=64)


def _spawn(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _results(procs: list[subprocess.Popen[str]], timeout: float = 180) -> list[dict]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=timeout)
        assert p.returncode == 0, stderr[-3000:]
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def _collection(root: Path, n: int = 400) -> None:
    with vecnest.open(root, background=False) as db:
        col = db.create_collection("c", model=None, dim=DIM, metric="l2", index=HNSW)
        col.add([f"d{i}" for i in range(n)], metadatas=[{"i": i} for i in range(n)], vectors=vectors(n))
        col.optimize()


def _index_files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "segments").glob("*.faiss*"))


def test_processes_creating_one_new_store_and_collection_all_succeed(tmp_path: Path) -> None:
    root = tmp_path / "new" / "store"
    start = time.time() + 2.5  # all imported and waiting by then
    procs = [_spawn("create", root, "c", f"p{i}", start) for i in range(6)]
    results = _results(procs)
    assert all(r["ok"] for r in results)
    with vecnest.open(root, read_only=True) as db:
        assert db.list_collections() == ["c"]
        assert sorted(d.id for d in db.get_collection("c").get()) == [f"p{i}" for i in range(6)]
    assert vecnest.check(root).ok


def test_two_processes_optimizing_at_once(tmp_path: Path) -> None:
    root = tmp_path / "s"
    _collection(root)
    start = time.time() + 2.5
    results = _results([_spawn("optimize", root, "c", start) for _ in range(2)])
    assert [r["action"] for r in results] == ["rebuilt", "rebuilt"]  # one after the other, under the lock
    assert all(r["hit"] == "d17" for r in results)
    assert len(_index_files(root)) == 1
    report = vecnest.check(root)
    assert report.ok and "hnsw index of 400 rows" in report.collections[0].verdict
    with vecnest.open(root) as db:
        assert db.get_collection("c").search(vectors(400)[5], k=1, strategy="ann")[0].id == "d5"


def test_two_handles_in_one_process_optimizing_at_once(tmp_path: Path) -> None:
    root = tmp_path / "s"
    _collection(root)
    dbs = [vecnest.open(root, background=False) for _ in range(2)]
    cols = [db.get_collection("c") for db in dbs]
    results: list[object] = []
    barrier = threading.Barrier(2)

    def run(col: vecnest.Collection) -> None:
        barrier.wait()
        try:
            results.append(col.optimize(rebuild=True)["action"])
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in cols]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == ["rebuilt", "rebuilt"]
    for col in cols:
        assert col.search(vectors(400)[9], k=1, strategy="ann")[0].id == "d9"
    for db in dbs:
        db.close()
    assert len(_index_files(root)) == 1 and vecnest.check(root).ok


@pytest.mark.slow
def test_readers_holding_old_snapshots_while_the_writer_rebuilds_and_drops(tmp_path: Path) -> None:
    root = tmp_path / "s"
    _collection(root)
    readers = [_spawn("reader", root, "c", 90) for _ in range(2)]
    for r in readers:
        assert r.stdout is not None and r.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    with vecnest.open(root, background=False) as db:
        col = db.get_collection("c")
        for round_ in range(4):  # each rebuild deletes the index file the readers have mapped
            col.add([f"x{round_}-{i}" for i in range(60)], vectors=vectors(60, 100 + round_) + 50.0)
            col.optimize(rebuild=True)
            col.delete(ids=[f"x{round_}-{i}" for i in range(0, 60, 2)])
            time.sleep(0.4)
        db.drop_collection("c")
    results = _results(readers)
    for r in results:
        assert r["dropped"] and r["searches"] > 20, r
        assert r["n_errors"] == 0, r["errors"]
        assert r["wrong"] == 0, r
    assert not list((root / "segments").glob("c1.*"))
    assert vecnest.check(root).ok


def test_a_drop_during_an_optimize_leaves_nothing_behind(tmp_path: Path) -> None:
    root = tmp_path / "s"
    with vecnest.open(root, background=False) as db:
        col = db.create_collection("c", model=None, dim=32, index=vecnest.IndexConfig(kind="hnsw", min_rows=10, ef_construction=200))
        col.add([str(i) for i in range(4000)], vectors=np.random.default_rng(0).normal(size=(4000, 32)))
    optimizer = vecnest.open(root, background=False)
    col = optimizer.get_collection("c")
    outcome: list[object] = []
    started = threading.Event()

    def run() -> None:
        started.set()
        try:
            outcome.append(col.optimize(rebuild=True)["action"])
        except vecnest.CollectionNotFoundError as exc:
            outcome.append(exc)

    t = threading.Thread(target=run)
    t.start()
    started.wait()
    time.sleep(0.3)  # the rebuild is under way
    with vecnest.open(root, lock_timeout=120) as db:
        db.drop_collection("c")
    t.join(120)
    assert len(outcome) == 1 and isinstance(outcome[0], vecnest.CollectionNotFoundError | str)
    optimizer.close()
    assert not list((root / "segments").glob("c1.*")), list((root / "segments").iterdir())
    report = vecnest.check(root)
    assert report.ok and not report.findings(vecnest.store.report.Severity.NOTE)


def test_threads_searching_one_collection_while_another_thread_writes(tmp_path: Path) -> None:
    """8 searching threads get exactly the sequential answers while a writer adds documents
    that cannot enter those answers (far away, and filtered out) and merges them into the index."""
    rng = np.random.default_rng(3)
    base = rng.normal(size=(3000, DIM)).astype(np.float32)
    queries = base[rng.choice(3000, 40, replace=False)] + rng.normal(scale=0.05, size=(40, DIM)).astype(np.float32)
    wheres = [None, {"g": {"$lt": 5}}, {"g": {"$in": [1, 3, 7]}}]
    with vecnest.open(tmp_path / "s") as db:
        col = db.create_collection("c", model=None, dim=DIM, metric="l2", index=vecnest.IndexConfig(kind="hnsw", min_rows=500, delta_limit=300))
        col.add([f"d{i}" for i in range(3000)], metadatas=[{"g": i % 10} for i in range(3000)], vectors=base)
        col.optimize()
        expected = {
            (qi, wi): [(h.id, round(h.score, 4)) for h in col.search(q, k=10, where=w, strategy="exact")]
            for qi, q in enumerate(queries)
            for wi, w in enumerate(wheres)
        }
        stop = threading.Event()
        failures: list[str] = []
        counts = [0] * 8

        def searcher(t: int) -> None:
            i = t
            while not stop.is_set():
                qi, wi = i % len(queries), (i // len(queries)) % len(wheres)
                try:
                    got = [(h.id, round(h.score, 4)) for h in col.search(queries[qi], k=10, where=wheres[wi], strategy="exact")]
                    ann = col.search(queries[qi], k=10, where=wheres[wi], include=())
                    if got != expected[(qi, wi)]:
                        failures.append(f"thread {t} query {qi}/{wi}: {got} != {expected[(qi, wi)]}")
                    if len({h.id for h in ann} & {x for x, _ in expected[(qi, wi)]}) < 7:
                        failures.append(f"thread {t} ann query {qi}/{wi}: recall below 0.7")
                except Exception as exc:  # noqa: BLE001 - reported below
                    failures.append(f"thread {t}: {type(exc).__name__}: {exc}")
                counts[t] += 1
                i += 8

        threads = [threading.Thread(target=searcher, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        far = 1000.0  # l2 distance to every query is enormous: never in a top 10
        for b in range(6):
            col.add([f"w{b}-{i}" for i in range(100)], metadatas=[{"g": 99}] * 100, vectors=rng.normal(size=(100, DIM)) + far)
            if b % 3 == 2:
                col.update([f"w{b}-0"], metadatas=[{"g": 98}])
                col.delete(ids=[f"w{b}-1"])
        col.wait_for_maintenance(60)
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(60)
        assert not failures, failures[:5]
        assert min(counts) > 5, counts
        assert len(col) == 3000 + 6 * 100 - 2
