"""What the page cache holds of a file, and filling in the rest: runs found by ``mincore``,
read in order up to a budget, the rest only hinted."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import pytest

from vecnest.store import pagecache

PAGE = mmap.PAGESIZE


def _sparse(path: Path, pages: int) -> Path:
    """A file of holes: none of its pages is in the page cache until read."""
    with open(path, "wb") as fh:
        fh.truncate(pages * PAGE)
    return path


def _missing(path: Path) -> list[tuple[int, int]] | None:
    fd = os.open(path, os.O_RDONLY)
    try:
        return pagecache.missing(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)


def test_missing_finds_the_runs_not_cached_and_merges_close_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _sparse(tmp_path / "f", 1024)  # 4 MiB of pages
    assert _missing(path) == [(0, 1024 * PAGE)]
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)  # (no read-ahead: exactly the pages read)
        os.pread(fd, 3 * PAGE, 10 * PAGE)
        os.pread(fd, PAGE, 900 * PAGE)
    finally:
        os.close(fd)
    monkeypatch.setattr(pagecache, "_MERGE_GAP", 0)
    runs = _missing(path)
    assert runs is not None
    cached = set(range(1024)) - {p for off, length in runs for p in range(off // PAGE, (off + length) // PAGE)}
    assert {10, 11, 12, 900} <= cached and len(cached) < 64
    assert runs[0] == (0, 10 * PAGE) and runs[-1][0] + runs[-1][1] == 1024 * PAGE
    monkeypatch.setattr(pagecache, "_MERGE_GAP", 256 << 10)  # (64 pages: 10-12 fall inside one run)
    merged = _missing(path)
    assert merged is not None and merged[0][0] == 0 and len(merged) < len(runs)


def test_fill_reads_what_is_missing_in_order_and_then_nothing(tmp_path: Path) -> None:
    path = _sparse(tmp_path / "f", 2048)
    assert pagecache.fill(path) == 2048 * PAGE
    assert _missing(path) == []
    assert pagecache.fill(path) == 0  # cached: one mincore call, no read


def test_fill_reads_up_to_its_budget_and_only_hints_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pagecache, "_MERGE_GAP", 0)
    path = _sparse(tmp_path / "f", 3000)
    with open(path, "rb") as fh:  # two missing runs, split by cached pages
        fh.seek(1000 * PAGE)
        fh.read(1000 * PAGE)
    runs = _missing(path)
    assert runs is not None and len(runs) >= 2
    hinted: list[tuple[int, int]] = []
    real = pagecache._hint
    monkeypatch.setattr(pagecache, "_hint", lambda fd, ranges: hinted.extend(ranges := list(ranges)) or real(fd, ranges))
    done = pagecache.fill(path, budget=1)  # the first run is read, the others only hinted
    assert done == runs[0][1]
    assert hinted[-(len(runs) - 1) :] == runs[1:]


def test_fill_of_a_missing_file_does_nothing(tmp_path: Path) -> None:
    assert pagecache.fill(tmp_path / "absent") == 0


def test_without_mincore_fill_hints_the_whole_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pagecache, "_libc", None)
    path = _sparse(tmp_path / "f", 16)
    hinted: list[tuple[int, int]] = []
    monkeypatch.setattr(pagecache, "_hint", lambda fd, ranges: hinted.extend(ranges))
    assert pagecache.fill(path) == 0 and hinted == [(0, 0)]
    assert _missing(path) is None
