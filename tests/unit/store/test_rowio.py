from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from tests.unit.compress.conftest import segment
from vecnest.compress import memory
from vecnest.store.rowio import RowReader, blocks, gather, npy_offset, read_rows, segment_reader
from vecnest.store.segments import map_file
from vecnest.errors import TierIntegrityError


def test_reader_reads_rows_across_files_without_mapping(tmp_path: Path, rng: np.random.Generator) -> None:
    a = rng.integers(0, 255, (10, 6), dtype=np.uint8)
    b = rng.integers(0, 255, (7, 6), dtype=np.uint8)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    files = [(tmp_path / "a.npy", npy_offset(tmp_path / "a.npy"), 0, 10), (tmp_path / "b.npy", npy_offset(tmp_path / "b.npy"), 10, 17)]
    reader = RowReader(files, 6, np.dtype(np.uint8), 6)
    both = np.concatenate([a, b])
    rows = np.array([16, 0, 9, 10, 3, 3])
    np.testing.assert_array_equal(reader.read(rows), both[rows])
    np.testing.assert_array_equal(reader.read_range(8, 13), both[8:13])
    reader.close()
    (tmp_path / "b.npy").write_bytes((tmp_path / "b.npy").read_bytes()[:-8])
    reader = RowReader(files, 6, np.dtype(np.uint8), 6)
    with pytest.raises(TierIntegrityError, match="short read"):
        reader.read(np.array([16]))
    reader.close()


def test_segment_rows_are_read_without_touching_its_map(tmp_path: Path, rng: np.random.Generator) -> None:
    x = rng.standard_normal((3000, 64)).astype(np.float32)
    seg = segment(tmp_path / "s.f32", x)
    assert segment_reader(x) is None  # an in-memory array is indexed directly
    np.testing.assert_array_equal(read_rows(seg, np.array([5, 2999, 0])), x[[5, 2999, 0]])
    np.testing.assert_array_equal(read_rows(seg, lo=100, hi=2100), x[100:2100])
    np.testing.assert_array_equal(read_rows(x, lo=3, hi=5), x[3:5])
    assert memory.mapped_rss([tmp_path / "s.f32"])[str((tmp_path / "s.f32").resolve())] == 0


def test_blocks_read_a_segment_block_by_block_from_its_file_never_its_map(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every row asked for, once, in slot order, however sparse or dense (one ranged read per
    dense block, a read per row in a sparse one), never more than a block at a time, and none
    through the map (the store's own ``map_file`` view, with the file's path given); without a
    usable file (gone, shorter than the map, a link; or an in-memory array), from the array;
    rows that are unsorted, repeated or out of range are refused."""
    from vecnest.store import rowio

    monkeypatch.setattr(rowio, "BLOCK_BYTES", 1)  # (1,024-row blocks)
    x = rng.standard_normal((5000, 16)).astype(np.float32)
    path = tmp_path / "c1.g0.f32"
    x.tofile(path)
    view = map_file(path, x.nbytes).view(np.float32).reshape(x.shape)
    key = str(path.resolve())
    for rows in (None, np.arange(5000), np.sort(rng.choice(5000, 40, replace=False)), np.flatnonzero(rng.random(5000) < 0.5), np.array([4999])):
        got = [(p, v.copy()) for p, v in blocks(view, rows, path=path)]  # (a block is valid until the next)
        want = np.arange(5000) if rows is None else rows
        assert len(got) > 1 or len(want) == 1
        np.testing.assert_array_equal(np.concatenate([p for p, _ in got]), want)
        np.testing.assert_array_equal(np.concatenate([v for _, v in got]), x[want])
        assert all(p[-1] - p[0] < 1024 and len(p) == len(v) for p, v in got)
        np.testing.assert_array_equal(gather(view, want, path=path), x[want])
    assert memory.mapped_rss([path])[key] == 0  # the map was never read
    assert list(blocks(view, np.array([], dtype=np.int64), path=path)) == []
    for bad in (np.array([3, 2]), np.array([2, 2]), np.array([-1, 4]), np.array([4, 5000])):
        with pytest.raises(ValueError, match="sorted distinct rows"):
            gather(view, bad, path=path)
    link = tmp_path / "link.f32"
    link.symlink_to(path)
    short = tmp_path / "short.f32"
    x[:10].tofile(short)
    for other in (link, short):  # not the mapped file: read through the map instead
        np.testing.assert_array_equal(gather(view, np.array([3, 4000]), path=other), x[[3, 4000]])
    path.unlink()  # gone (a snapshot of a compacted generation): read through the map it still holds
    np.testing.assert_array_equal(gather(view, np.array([3, 4000]), path=path), x[[3, 4000]])
    np.testing.assert_array_equal(gather(x, np.array([3, 4000])), x[[3, 4000]])


def test_blocks_read_every_block_into_one_buffer_squeezing_dense_ones_in_place(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every block read from the file lands in one buffer (a pass holds one block, not the
    last one and the next), and the unwanted rows of a dense block are squeezed out of it in
    place, with no second copy of the block."""
    from vecnest.store import rowio

    monkeypatch.setattr(rowio, "BLOCK_BYTES", 1)  # (1,024-row blocks)
    x = rng.standard_normal((5000, 16)).astype(np.float32)
    path = tmp_path / "c1.g0.f32"
    x.tofile(path)
    view = map_file(path, x.nbytes).view(np.float32).reshape(x.shape)
    for rows in (None, np.flatnonzero(rng.random(5000) < 0.5), np.flatnonzero(rng.random(5000) < 0.9)):
        want = np.arange(5000) if rows is None else rows
        seen: list[np.ndarray] = []
        parts = []
        first = None
        for part, vecs in blocks(view, rows, path=path):
            np.testing.assert_array_equal(vecs, x[part])  # (valid until the next block is read)
            first = vecs if first is None else first
            assert np.shares_memory(vecs, first)  # one buffer for the whole pass
            seen.append(vecs.copy())
            parts.append(part)
        np.testing.assert_array_equal(np.concatenate(parts), want)
        np.testing.assert_array_equal(np.concatenate(seen), x[want])
    assert memory.mapped_rss([path])[str(path.resolve())] == 0


def test_squeeze_moves_the_kept_rows_to_the_front_of_the_span_itself(rng: np.random.Generator) -> None:
    from vecnest.store.rowio import _squeeze

    span = rng.standard_normal((1000, 8)).astype(np.float32)
    before = span.copy()
    for keep in (np.flatnonzero(rng.random(1000) < 0.6), np.arange(1000), np.array([999]), np.arange(0, 1000, 7)):
        span[:] = before
        got = _squeeze(span, keep, step=64)
        assert np.shares_memory(got, span)
        np.testing.assert_array_equal(got, before[keep])


def test_rows_the_cache_lacks_are_asked_for_at_once_then_read(tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    from vecnest.store import rowio

    x = rng.standard_normal((500, 16)).astype(np.float32)
    seg = segment(tmp_path / "s.f32", x)
    reader = segment_reader(seg)
    assert reader is not None and reader._nowait == bool(rowio._NOWAIT)
    if not rowio._NOWAIT:  # (a system without RWF_NOWAIT reads row by row, as before)
        np.testing.assert_array_equal(reader.read(np.array([3, 1])), x[[3, 1]])
        return
    cold = {7, 100, 499}  # rows the page cache "lacks"
    real = os.preadv
    calls: list[tuple[int, int]] = []

    def preadv(fd: int, bufs: list, offset: int, flags: int = 0) -> int:
        calls.append((offset // 64, flags))
        if flags and offset // 64 in cold:
            raise BlockingIOError(11, "would block")
        return real(fd, bufs, offset, flags)

    asked: list[list[tuple[int, int]]] = []
    monkeypatch.setattr(rowio.os, "preadv", preadv)
    monkeypatch.setattr(rowio, "prefetch", lambda fd, ranges: asked.append(list(ranges)))
    rows = np.array([499, 3, 7, 100, 8, 7])
    np.testing.assert_array_equal(reader.read(rows), x[rows])
    assert asked == [[(499 * 64, 64), (7 * 64, 64), (100 * 64, 64), (7 * 64, 64)]]  # one hint, every miss
    assert [r for r, f in calls if not f] == [499, 7, 100, 7]  # only the misses waited for
    calls.clear()

    def unsupported(fd: int, bufs: list, offset: int, flags: int = 0) -> int:
        if flags:
            raise OSError(errno.EOPNOTSUPP, "not supported")
        return real(fd, bufs, offset)

    monkeypatch.setattr(rowio.os, "preadv", unsupported)
    np.testing.assert_array_equal(reader.read(rows), x[rows])  # plain reads from now on
    assert reader._nowait is False
    np.testing.assert_array_equal(reader.read(rows[:2]), x[rows[:2]])
    reader.close()


def test_scattered_rows_are_read_without_readahead_and_ranges_with_it(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vecnest.store import rowio

    if not hasattr(os, "posix_fadvise"):
        pytest.skip("no posix_fadvise on this system")
    x = rng.standard_normal((3000, 1024)).astype(np.float32)  # 4 KiB rows
    seg = segment(tmp_path / "s.f32", x)
    reader = segment_reader(seg)
    assert reader is not None
    advised: list[tuple[int, int, int]] = []
    real = os.posix_fadvise

    def record(fd: int, off: int, n: int, how: int) -> None:
        if fd in reader.fds and how != os.POSIX_FADV_WILLNEED:  # (this reader's mode changes only)
            advised.append((off, n, how))
        real(fd, off, n, how)

    monkeypatch.setattr(rowio.os, "posix_fadvise", record)
    dense = np.arange(100, 140)  # 4 KiB apart: readahead brings the next rows
    np.testing.assert_array_equal(reader.read(dense), x[dense])
    assert advised == []
    rows = np.array([2999, 3, 1500])  # ~4 MiB apart: readahead would read what nobody asked for
    np.testing.assert_array_equal(reader.read(rows), x[rows])
    assert advised == [(0, 0, os.POSIX_FADV_RANDOM)]  # the whole file, once
    np.testing.assert_array_equal(reader.read(np.array([1, 2000])), x[[1, 2000]])
    np.testing.assert_array_equal(reader.read(np.array([9])), x[[9]])
    assert len(advised) == 1
    np.testing.assert_array_equal(reader.read_range(10, 400), x[10:400])
    assert advised == [(0, 0, os.POSIX_FADV_RANDOM), (0, 0, os.POSIX_FADV_NORMAL)]  # a range reads ahead again
    np.testing.assert_array_equal(reader.read(dense), x[dense])
    assert len(advised) == 2
    reader.close()
