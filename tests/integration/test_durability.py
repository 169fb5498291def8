"""Multi-process behaviour of the on-disk store, with real processes (kill -9: ``test_crash.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import vecnest

from ._workers import BATCH

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
