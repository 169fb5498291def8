"""Durability of names: a new segment and a published index file are followed by an fsync of
their folder (a crash right after must not lose the file's name)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import vecnest


def _fsynced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return seen


def test_a_new_segment_and_a_new_index_fsync_their_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with vecnest.open(tmp_path / "s", background=False) as db:
        col = db.create_collection("c", model=None, dim=4, index=vecnest.IndexConfig(kind="hnsw", min_rows=10))
        segments = str((tmp_path / "s" / "segments").resolve())
        seen = _fsynced(monkeypatch)
        col.add([str(i) for i in range(5)], vectors=np.random.default_rng(0).normal(size=(5, 4)))
        assert seen.index(str(Path(segments) / "c1.g0.f32")) < seen.index(segments)  # file, then its name
        seen.clear()
        col.add([str(i) for i in range(5, 20)], vectors=np.random.default_rng(1).normal(size=(15, 4)))  # builds the index
        tmp = next(i for i, p in enumerate(seen) if p.endswith(".faiss.tmp"))  # the index's bytes...
        assert segments in seen[tmp + 1 :]  # ...then, after its rename, its folder
        assert [p for p in os.listdir(segments) if p.endswith(".faiss")]


def test_folder_bytes_counts_what_is_there_and_a_file_removed_meanwhile_as_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vecnest.store import files

    (tmp_path / "sub").mkdir()
    (tmp_path / "a").write_bytes(b"x" * 10)
    (tmp_path / "sub" / "b").write_bytes(b"y" * 5)
    (tmp_path / "sub" / "gone").write_bytes(b"z" * 7)
    (tmp_path / "link").symlink_to(tmp_path / "a")  # (never followed nor counted)
    assert files.folder_bytes(tmp_path) == 22
    assert files.folder_bytes(tmp_path, recursive=False) == 10
    lstat = os.lstat

    def racing(path: str) -> os.stat_result:  # (a merge or the lexical index removed it after listing)
        if path.endswith("gone"):
            raise FileNotFoundError(path)
        return lstat(path)

    monkeypatch.setattr(files.os, "lstat", racing)
    assert files.folder_bytes(tmp_path) == 15
    assert files.folder_bytes(tmp_path / "missing") == 0
