"""What the page cache holds of a file, and filling in the rest: runs found by ``mincore``,
read in order up to a budget, the rest only hinted."""

from __future__ import annotations

import mmap
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from vecnest.store import pagecache

PAGE = mmap.PAGESIZE


def _read(path: Path, pages: list[tuple[int, int]]) -> None:
    """Read ``(first page, count)`` spans with read-ahead off (exactly those pages cached)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        for first, count in pages:
            os.pread(fd, count * PAGE, first * PAGE)
    finally:
        os.close(fd)


def _caches_holes(folder: Path) -> bool:
    """Whether reading a hole of a sparse file in ``folder`` leaves the page cached (a disk file
    system does; tmpfs keeps no page for a hole)."""
    path = _sparse(folder / "probe", 4)
    _read(path, [(0, 1)])
    runs = _missing(path)
    path.unlink()
    return runs is not None and runs[:1] != [(0, 4 * PAGE)]


@pytest.fixture
def cached_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder on a file system with a page cache: ``tmp_path``, or (where that is tmpfs) one
    inside the repository's checkout."""
    if _caches_holes(tmp_path):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(dir=Path(__file__).resolve().parents[3], prefix=".pagecache-test-"))
    try:
        assert _caches_holes(folder), "no folder with a page cache to test in (the checkout is on tmpfs too)"
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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


def test_missing_finds_the_runs_not_cached_and_merges_close_ones(cached_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _sparse(cached_dir / "f", 1024)  # 4 MiB of pages
    assert _missing(path) == [(0, 1024 * PAGE)]
    _read(path, [(10, 3), (900, 1)])
    monkeypatch.setattr(pagecache, "_MERGE_GAP", 0)
    runs = _missing(path)
    assert runs is not None
    cached = set(range(1024)) - {p for off, length in runs for p in range(off // PAGE, (off + length) // PAGE)}
    assert {10, 11, 12, 900} <= cached and len(cached) < 64
    assert runs[0] == (0, 10 * PAGE) and runs[-1][0] + runs[-1][1] == 1024 * PAGE
    monkeypatch.setattr(pagecache, "_MERGE_GAP", 256 << 10)  # (64 pages: 10-12 fall inside one run)
    merged = _missing(path)
    assert merged is not None and merged[0][0] == 0 and len(merged) < len(runs)


def test_fill_reads_what_is_missing_in_order_and_then_nothing(cached_dir: Path) -> None:
    path = _sparse(cached_dir / "f", 2048)
    assert pagecache.fill(path) == 2048 * PAGE
    assert _missing(path) == []
    assert pagecache.fill(path) == 0  # cached: one mincore call, no read


def test_fill_reads_up_to_its_budget_and_only_hints_the_rest(cached_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pagecache, "_MERGE_GAP", 0)
    path = _sparse(cached_dir / "f", 3000)
    _read(path, [(1000, 1000)])  # two missing runs, split by cached pages
    runs = _missing(path)
    assert runs == [(0, 1000 * PAGE), (2000 * PAGE, 1000 * PAGE)]
    hinted: list[tuple[int, int]] = []
    monkeypatch.setattr(pagecache, "_hint", lambda fd, ranges: hinted.extend(ranges))  # (recorded, not sent)
    done = pagecache.fill(path, budget=1100 * PAGE)  # the first run whole, 100 pages of the second
    assert done == 1100 * PAGE
    assert hinted[-1:] == [(2100 * PAGE, 900 * PAGE)]  # the rest of the run: hinted, not read


def test_a_cold_file_is_read_no_further_than_the_budget(cached_dir: Path) -> None:
    path = _sparse(cached_dir / "f", 4096)  # one missing run of 16 MiB
    assert pagecache.fill(path, budget=64 * PAGE) == 64 * PAGE


def test_fill_of_a_missing_file_does_nothing(tmp_path: Path) -> None:
    assert pagecache.fill(tmp_path / "absent") == 0


@pytest.mark.parametrize("absent", ["_libc", "_mincore"])
def test_without_mincore_fill_hints_the_whole_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, absent: str) -> None:
    """No C library to call, or one without ``mincore``: what is cached is unknown, so the
    whole file is hinted and nothing read."""
    monkeypatch.setattr(pagecache, absent, None)
    path = _sparse(tmp_path / "f", 16)
    hinted: list[tuple[int, int]] = []
    monkeypatch.setattr(pagecache, "_hint", lambda fd, ranges: hinted.extend(ranges))
    assert pagecache.fill(path) == 0 and hinted == [(0, 0)]
    assert _missing(path) is None
