"""Collection.stats() helpers (stats.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vecnest import stats


def test_folder_bytes_counts_what_is_there_and_a_file_removed_meanwhile_as_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a").write_bytes(b"x" * 10)
    (tmp_path / "sub" / "b").write_bytes(b"y" * 5)
    (tmp_path / "sub" / "gone").write_bytes(b"z" * 7)
    assert stats._folder_bytes(tmp_path) == 22
    lstat = os.lstat

    def racing(path: str) -> os.stat_result:  # (the lexical index merged it away after listing)
        if path.endswith("gone"):
            raise FileNotFoundError(path)
        return lstat(path)

    monkeypatch.setattr(stats.os, "lstat", racing)
    assert stats._folder_bytes(tmp_path) == 15
    assert stats._folder_bytes(tmp_path / "missing") == 0
