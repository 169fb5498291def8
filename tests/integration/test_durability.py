"""Crash safety and multi-process behaviour of the on-disk store, with real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import vecnest

from ._workers import BATCH, batch_ids, batch_vectors

WORKERS = Path(__file__).with_name("_workers.py")


def _spawn(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKERS), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_write_in_one_process_read_in_another(tmp_path: Path) -> None:
    store = tmp_path / "s"
    proc = _spawn("writer", store, 0, 3)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.split() == ["ack", "0", "ack", "1", "ack", "2"]
    script = (
        "import vecnest, json;"
        f"c = vecnest.open({str(store)!r}, read_only=True).get_collection('crash');"
        "print(json.dumps([len(c), c['b2-5'].metadata]))"
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == [3 * BATCH, {"batch": 2, "i": 5}]


def _check_store(store: Path, acked: set[int]) -> set[int]:
    """Every acknowledged batch is present whole, with its exact vectors; no batch is torn."""
    with vecnest.open(store, read_only=True) as db:
        col = db.get_collection("crash")
        docs = col.get(include_vectors=True)
        by_batch: dict[int, list[vecnest.Document]] = {}
        for doc in docs:
            by_batch.setdefault(doc.metadata["batch"], []).append(doc)
        for b, members in by_batch.items():
            assert len(members) == BATCH, f"batch {b} is torn: {len(members)} of {BATCH} rows"
            got = np.stack([d.vector for d in sorted(members, key=lambda d: d.metadata["i"])])
            np.testing.assert_array_equal(got, batch_vectors(b))
            assert [d.id for d in sorted(members, key=lambda d: d.metadata["i"])] == batch_ids(b)
        missing = acked - set(by_batch)
        assert not missing, f"acknowledged batches lost after kill -9: {sorted(missing)}"
        # the store still answers searches exactly
        probe = next(iter(by_batch.values()))[0]
        assert col.search(probe.vector, k=1)[0].id == probe.id
        return set(by_batch)


@pytest.mark.slow
def test_kill_minus_nine_never_loses_acknowledged_batches(tmp_path: Path) -> None:
    store = tmp_path / "s"
    rng = np.random.default_rng(7)
    acked: set[int] = set()
    next_batch = 0
    kills_mid_run = 0
    for _ in range(20):
        proc = _spawn("writer", store, next_batch, 10_000)
        assert proc.stdout is not None
        # wait for the process to start writing, then kill it at a random moment
        first = proc.stdout.readline()
        assert first.startswith("ack"), proc.stderr.read() if proc.stderr else first
        acked.add(int(first.split()[1]))
        time.sleep(float(rng.uniform(0.0, 0.4)))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        kills_mid_run += proc.returncode == -signal.SIGKILL
        acked.update(int(line.split()[1]) for line in out.splitlines() if line.startswith("ack"))
        present = _check_store(store, acked)
        next_batch = max(present | acked) + 1
    assert kills_mid_run == 20
    assert len(acked) >= 20


@pytest.mark.slow
def test_readers_see_consistent_snapshots_while_a_writer_writes(tmp_path: Path) -> None:
    store = tmp_path / "s"
    first = _spawn("writer", store, 0, 1)
    first.communicate(timeout=60)
    assert first.returncode == 0
    writer = _spawn("writer", store, 1, 150)
    readers = [_spawn("reader", store, 4.0) for _ in range(2)]
    results = []
    for r in readers:
        out, err = r.communicate(timeout=120)
        assert r.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    _, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err
    for res in results:
        assert res["searches"] > 5
        assert res["torn"] == 0, res
        assert res["mismatched"] == 0, res
    assert max(r["distinct_counts"] for r in results) > 1  # readers really overlapped the writer
    with vecnest.open(store, read_only=True) as db:
        assert len(db.get_collection("crash")) == 151 * BATCH


def test_second_writer_gets_storage_locked_error(tmp_path: Path) -> None:
    store = tmp_path / "s"
    with vecnest.open(store) as db:
        col = db.create_collection("crash", model=None, dim=16)
        col.add(["a"], vectors=np.ones((1, 16), np.float32))
    holder = _spawn("holdlock", store, 3.0)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    try:
        with vecnest.open(store, lock_timeout=0.3) as db:
            col = db.get_collection("crash")
            start = time.monotonic()
            with pytest.raises(vecnest.StorageLockedError, match="one writer at a time"):
                col.add(["b"], vectors=np.ones((1, 16), np.float32))
            assert time.monotonic() - start >= 0.25  # it waited for lock_timeout first
            assert len(col) == 1  # reads still work while another process writes
            assert "b" not in col
    finally:
        holder.communicate(timeout=30)
    with vecnest.open(store) as db:  # once the lock is released, writing works again
        db.get_collection("crash").add(["b"], vectors=np.ones((1, 16), np.float32))
        assert len(db.get_collection("crash")) == 2
