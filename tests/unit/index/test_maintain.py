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
