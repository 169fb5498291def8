"""Index maintenance is never part of a write's outcome: a merge that fails (a full disk, a
damaged file) is logged and retried, and the write that triggered it has returned normally."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import numpy as np
import pytest

import vecnest
from vecnest.index.ann import AnnIndex


def test_a_failing_merge_never_fails_the_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def full(self: AnnIndex, path: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with vecnest.open(tmp_path / "s", background=False) as db:
        col = db.create_collection("c", model=None, dim=8, index=vecnest.IndexConfig(kind="hnsw", min_rows=20, delta_limit=10))
        vecs = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
        monkeypatch.setattr(AnnIndex, "save", full)
        with caplog.at_level(logging.WARNING, logger="vecnest"):
            col.add([str(i) for i in range(30)], vectors=vecs[:30])  # commits, then its merge fails
            col.add([str(i) for i in range(30, 60)], vectors=vecs[30:])
        assert len(col) == 60 and "maintenance" in caplog.text and "will retry" in caplog.text
        with pytest.raises(vecnest.DuplicateIdError):  # it was stored: a retry is a duplicate
            col.add(["0"], vectors=vecs[:1])
        assert col.search(vecs[42], k=1)[0].id == "42"  # searched exactly meanwhile
        monkeypatch.undo()
        assert col.optimize()["action"] == "built"
        assert col.search(vecs[42], k=1, strategy="ann")[0].id == "42"


def _bulk_loaded(db: vecnest.Database, cfg: vecnest.IndexConfig, vecs: np.ndarray) -> vecnest.Collection:
    """Collection ``c`` of ``db`` holding ``vecs`` under ids ``0..``, indexed by one bulk build."""
    col = db.create_collection("c", model=None, dim=vecs.shape[1], index=cfg)
    with col.bulk():
        col.add([str(i) for i in range(len(vecs))], vectors=vecs)
    return col


def test_a_leftover_delta_is_merged_once_writes_pause(tmp_path: Path) -> None:
    """A delta below ``delta_limit`` but of at least ``idle_delta`` rows is merged about a second
    after the last write (searches would otherwise scan it exactly until the next writes); a
    smaller one is left; writes that keep coming push the merge back."""
    import time

    from vecnest.index.maintain import idle_delta

    cfg = vecnest.IndexConfig(kind="hnsw", min_rows=500, delta_limit=20_000, ef_construction=32)
    assert idle_delta(cfg) == 2_000 and idle_delta(vecnest.IndexConfig(delta_limit=5_000)) == 1_000
    assert idle_delta(vecnest.IndexConfig(delta_limit=300)) == 300
    vecs = np.random.default_rng(1).normal(size=(7_000, 16)).astype(np.float32)
    with vecnest.open(tmp_path / "s") as db:  # a background worker
        col = _bulk_loaded(db, cfg, vecs[:3_000])
        maint = col._maint.index
        col.add([str(i) for i in range(3_000, 4_000)], vectors=vecs[3_000:4_000])
        time.sleep(2.5)
        assert maint.delta() == 1_000  # below idle_delta: left for the next writes
        col.add([str(i) for i in range(4_000, 4_500)], vectors=vecs[4_000:4_500])
        time.sleep(0.3)
        col.add([str(i) for i in range(4_500, 5_000)], vectors=vecs[4_500:5_000])
        assert maint.delta() == 2_000  # writes are still coming: not merged yet
        deadline = time.monotonic() + 30
        while maint.delta() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert maint.delta() == 0  # merged once writes paused
        hits = col.search(vecs[4_321], k=1, strategy="ann", include=())
        assert hits[0].id == "4321"
        col.add([str(i) for i in range(5_000, 7_000)], vectors=vecs[5_000:7_000])
        assert col.wait_for_maintenance(timeout=30) and maint.delta() == 0  # waited for: at once


def test_a_settle_that_finds_the_lock_held_merges_once_it_is_free(tmp_path: Path) -> None:
    """A maintenance job that cannot take the lock at once answers ``busy`` (not ``none``: its
    work is still to do); the settle job that got that answer looks again later, and the
    leftover delta is merged once the other optimizer (here: this test) lets go."""
    import time

    cfg = vecnest.IndexConfig(kind="hnsw", min_rows=500, delta_limit=20_000, ef_construction=32)
    vecs = np.random.default_rng(2).normal(size=(5_500, 16)).astype(np.float32)
    with vecnest.open(tmp_path / "s") as db:  # a background worker
        col = _bulk_loaded(db, cfg, vecs[:3_000])
        maint = col._maint.index
        seen: list[str] = []
        run = maint.run_if_needed

        def recording(*, idle: bool = False) -> dict | None:
            done = run(idle=idle)
            seen.append(str((done or {}).get("action")))
            return done

        maint.run_if_needed = recording  # type: ignore[method-assign]
        with maint.lock.hold(None) as got:
            assert got
            assert maint.optimize(rebuild=False, wait=0)["action"] == "busy"
            col.add([str(i) for i in range(3_000, 5_500)], vectors=vecs[3_000:5_500])
            deadline = time.monotonic() + 30
            while "busy" not in seen and time.monotonic() < deadline:  # the settle job runs, finds the lock held
                time.sleep(0.1)
            assert "busy" in seen and maint.delta() == 2_500
        deadline = time.monotonic() + 30
        while maint.delta() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert maint.delta() == 0  # looked again and merged
