"""Reading rows of files with positioned reads (``os.pread``), never mapping them.

Rescoring tiers and the float32 segment are read this way: a row read is a copy into the
caller's buffer, so it never becomes part of the process's resident set; the OS page cache
keeps what is hot (and may drop it under pressure). Every one-off pass over many rows reads the
segment this way too, so it does not leave the whole segment resident in the serving process:
coding the compression tiers, building and merging the approximate index, and the exact scans
that measure recall (the index's calibration, a filter's learned effort).
"""

from __future__ import annotations

import errno
import os
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from vecnest.errors import TierIntegrityError
from vecnest.store.pagecache import prefetch

#: Bytes of rows :func:`blocks` reads at a time (64k rows of 256 float32).
BLOCK_BYTES = 64 << 20
#: :func:`blocks` reads the wanted rows of a block with one ranged read when at least this
#: fraction of their span is wanted, else with one positioned read per row (~1 µs each).
DENSE = 0.125
#: :meth:`RowReader.read` turns readahead off for rows at least this many bytes apart on
#: average (over their span): rows closer than that share the pages readahead brings.
SPARSE_GAP = 32 << 10
#: ``preadv`` flag: take only what the page cache holds (Linux); 0 where the system lacks it.
_NOWAIT = getattr(os, "RWF_NOWAIT", 0)


class RowReader:
    """Rows of files read with positioned reads (``os.pread``), never mapped.

    Args:
        files: ``(path, data_offset, lo, hi)`` per file, rows ``[lo, hi)`` in row order.
        row_bytes: bytes per row.
        dtype: element type.
        row_len: elements per row.
    """

    def __init__(self, files: Sequence[tuple[Path, int, int, int]], row_bytes: int, dtype: np.dtype, row_len: int) -> None:
        self.paths = [Path(f[0]) for f in files]
        # (never a link, and never blocking on a FIFO planted in a store: vecnest follows no links)
        self.fds = [os.open(f[0], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC) for f in files]
        self._random = False  # (see _access)
        self.offsets = [f[1] for f in files]
        self.bounds = np.asarray([f[2] for f in files] + ([files[-1][3]] if files else [0]), dtype=np.int64)
        self.row_bytes = row_bytes
        self.dtype = np.dtype(dtype)
        self.row_len = row_len
        self._nowait = bool(_NOWAIT)
        self._finalizer = weakref.finalize(self, _close_all, list(self.fds))

    def read(self, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), row_len)`` rows (any order, repeats allowed): one positioned read per row
        (about 1 µs each from the page cache). Rows the page cache lacks are not waited for one
        by one: the first pass takes only what is cached (``RWF_NOWAIT``), then every missing row
        is asked of the device at once and read (from a cold cache, ~5 ms for 500 scattered rows
        where one round trip each took ~27 ms)."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) > 1:  # (scattered rows: no readahead; dense ones: the kernel's)
            self._access(random=int(rows.max() - rows.min()) * self.row_bytes >= SPARSE_GAP * len(rows))
        which = np.searchsorted(self.bounds, rows, side="right") - 1
        fds = np.asarray(self.fds, dtype=np.int64)[which].tolist()
        offsets = (np.asarray(self.offsets, dtype=np.int64)[which] + (rows - self.bounds[which]) * self.row_bytes).tolist()
        out = np.empty((len(rows), self.row_len), dtype=self.dtype)
        rb = self.row_bytes
        views = out.view(np.uint8).reshape(len(rows), rb)
        todo = range(len(rows))
        if self._nowait and len(rows) > 1:
            todo = self._read_rows(views, fds, offsets, todo, _NOWAIT)
            if todo:
                prefetch_rows: dict[int, list[tuple[int, int]]] = {}
                for i in todo:
                    prefetch_rows.setdefault(fds[i], []).append((offsets[i], rb))
                for fd, ranges in prefetch_rows.items():
                    prefetch(fd, ranges)
        missed = self._read_rows(views, fds, offsets, todo, 0)
        if missed:
            raise TierIntegrityError(f"{self.paths[0]}: short read; a tier or segment file is truncated. Rebuild the tiers")
        return out

    def _read_rows(self, views: np.ndarray, fds: list[int], offsets: list[int], todo: Sequence[int], flags: int) -> list[int]:
        """Read rows ``todo`` into ``views``; returns those not read whole (with ``RWF_NOWAIT``:
        not cached; without: the file ends before them)."""
        rb = self.row_bytes
        left: list[int] = []
        for i in todo:
            try:
                got = os.preadv(fds[i], [views[i]], offsets[i], flags)
            except BlockingIOError:
                if not flags:
                    raise
                got = -1
            except OSError as exc:  # (a file system without RWF_NOWAIT: plain reads from now on)
                if not flags or exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise
                self._nowait = False
                return list(todo)
            if got != rb:
                left.append(i)
        return left

    def read_range(self, lo: int, hi: int, out: np.ndarray | None = None) -> np.ndarray:
        """``(hi - lo, row_len)`` consecutive rows (one read per file they span), into ``out``
        (C-contiguous, of this dtype and at least ``hi - lo`` rows) where given."""
        if out is None:
            out = np.empty((hi - lo, self.row_len), dtype=self.dtype)
        else:
            out = out[: hi - lo]
        buf = memoryview(out).cast("B")
        self._access(random=False)
        rb = self.row_bytes
        r = lo
        while r < hi:
            f = int(np.searchsorted(self.bounds, r, side="right") - 1)
            end = min(hi, int(self.bounds[f + 1]))
            self._read_into(buf[(r - lo) * rb : (end - lo) * rb], f, r)
            r = end
        return out

    def _read_into(self, view: memoryview, f: int, row: int) -> None:
        offset = self.offsets[f] + (row - int(self.bounds[f])) * self.row_bytes
        done = 0
        while done < len(view):
            got = os.preadv(self.fds[f], [view[done:]], offset + done)
            if got <= 0:
                raise TierIntegrityError(f"{self.paths[f]}: short read at row {row}; the file is truncated. Rebuild the tiers")
            done += got

    def _access(self, *, random: bool) -> None:
        """Readahead off for scattered rows, on for ranges and dense rows (``posix_fadvise`` on
        this reader's own open files; best effort). Off: a read of a row the page cache lacks
        brings that row's pages only, where the kernel reads ahead of it (the device's readahead
        window, 128 KiB here); for rows :data:`SPARSE_GAP` or more apart that was mostly waste,
        and :meth:`read`'s cold pass (``RWF_NOWAIT`` starts each missing row's read) read ~48 MB
        of a 109 MB segment for 1,343 rows of 1.5 KB (74k arXiv titles, a 1.8 % filter's first
        exact search: 37 -> 12 ms). On: a ranged read of a cold segment is ~25 % slower without
        it (75 vs 97 ms for 109 MB). A reader shared by threads that mix scattered and ranged
        reads only changes the hint more often (no read is wrong for it)."""
        if random == self._random:
            return
        advise = getattr(os, "posix_fadvise", None)
        if advise is not None:
            for fd in self.fds:
                try:
                    advise(fd, 0, 0, os.POSIX_FADV_RANDOM if random else os.POSIX_FADV_NORMAL)
                except OSError:
                    pass
        self._random = random

    def close(self) -> None:
        """Close the files (also done when the reader is collected)."""
        self._finalizer()


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def npy_offset(path: Path) -> int:
    """Byte offset of the data in a ``.npy`` file."""
    with open(path, "rb") as fh:
        major, _ = np.lib.format.read_magic(fh)
        if major == 1:
            np.lib.format.read_array_header_1_0(fh)
        else:
            np.lib.format.read_array_header_2_0(fh)
        return fh.tell()


def segment_reader(vectors: np.ndarray, path: Path | None = None) -> RowReader | None:
    """A reader of a float32 segment's file: ``path`` (the file ``vectors`` maps from its
    start), or the file of a C-contiguous ``np.memmap``; ``None`` for an in-memory array, which
    is indexed directly."""
    n, d = vectors.shape
    if path is not None and vectors.dtype == np.float32:
        return RowReader([(Path(path), 0, 0, n)], 4 * d, np.dtype(np.float32), d)
    if isinstance(vectors, np.memmap) and vectors.filename is not None and vectors.dtype == np.float32 and vectors.flags.c_contiguous:
        return RowReader([(Path(vectors.filename), int(vectors.offset), 0, n)], 4 * d, np.dtype(np.float32), d)
    return None


def matching_reader(vectors: np.ndarray, path: Path | None = None) -> RowReader | None:
    """:func:`segment_reader`, or ``None`` where the file is gone or shorter than the map
    (not the same file: a snapshot of a dropped or compacted generation still maps it), so the
    caller reads through ``vectors`` instead."""
    if vectors.dtype != np.float32:
        return None
    n, d = vectors.shape
    try:
        reader = segment_reader(vectors, path)
        if reader is not None and any(os.fstat(fd).st_size < off + n * 4 * d for fd, off in zip(reader.fds, reader.offsets, strict=True)):
            reader.close()
            reader = None
    except OSError:
        reader = None
    return reader


def read_rows(vectors: np.ndarray, rows: np.ndarray | None = None, lo: int = 0, hi: int | None = None) -> np.ndarray:
    """Rows of a segment as ``float32`` (``rows``, or the range ``[lo, hi)``), read without
    touching its map when it is one."""
    reader = segment_reader(vectors)
    try:
        if rows is not None:
            return reader.read(rows) if reader is not None else np.asarray(vectors[rows], dtype=np.float32)
        hi = vectors.shape[0] if hi is None else hi
        return reader.read_range(lo, hi) if reader is not None else np.asarray(vectors[lo:hi], dtype=np.float32)
    finally:
        if reader is not None:
            reader.close()


def block_rows(row_bytes: int) -> int:
    """Rows per block of :func:`blocks`: :data:`BLOCK_BYTES` of them, at least 1,024."""
    return max(1024, BLOCK_BYTES // max(row_bytes, 1))


def blocks(
    vectors: np.ndarray, rows: np.ndarray | None = None, *, path: Path | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(slots, float32 rows)`` of ``vectors`` block by block, in slot order: the sorted,
    distinct slots ``rows`` (``None``: every row), at most :func:`block_rows` slots apart per
    block, so a pass over a whole segment holds one block at a time. Read with positioned reads
    from ``path`` (the file ``vectors`` maps from its start: a regular file holding every row)
    or an ``np.memmap``'s file, never through the map (a pass over a million rows would
    otherwise leave them all in the process's resident set); an in-memory array, or a file that
    is gone or is not what the map holds (a snapshot of a dropped or compacted generation still
    maps it), is read from ``vectors`` itself.

    A dense block is read as one range and its unwanted rows squeezed out in place (never a
    second copy of the block). Every block read as a range lands in one buffer, which the next
    block overwrites: a caller uses or copies each block before asking for the next, so the
    pass holds one block, not two (1M x 256 float32: 64 MiB less while an index is built).

    Raises:
        ValueError: ``rows`` is not sorted, has repeats or is out of ``[0, len(vectors))``.
    """
    n, d = vectors.shape
    if rows is not None and len(rows) and (rows[0] < 0 or rows[-1] >= n or (len(rows) > 1 and not (np.diff(rows) > 0).all())):
        raise ValueError(f"blocks() needs sorted distinct rows in [0, {n}); got {len(rows)} rows from {rows[0]} to {rows[-1]}")
    reader = matching_reader(vectors, path)
    block = block_rows(4 * d)
    buffer: np.ndarray | None = None

    def room(count: int) -> np.ndarray:
        nonlocal buffer
        if buffer is None:
            buffer = np.empty((min(block, n), d), dtype=np.float32)
        return buffer[:count]

    try:
        for lo in range(0, n, block):
            hi = min(n, lo + block)
            if rows is None:
                part = np.arange(lo, hi, dtype=np.int64)
                got = reader.read_range(lo, hi, room(hi - lo)) if reader is not None else np.asarray(vectors[lo:hi], dtype=np.float32)
            else:
                a, b = np.searchsorted(rows, (lo, hi))
                if a == b:
                    continue
                part = np.asarray(rows[a:b], dtype=np.int64)
                first, end = int(part[0]), int(part[-1]) + 1
                if reader is None:
                    got = np.asarray(vectors[part], dtype=np.float32)
                elif len(part) >= DENSE * (end - first):
                    got = _squeeze(reader.read_range(first, end, room(end - first)), part - first)
                else:
                    got = reader.read(part)
            yield part, got
            del got  # (a caller done with the block frees it before the next is read)
    finally:
        if reader is not None:
            reader.close()


def _squeeze(span: np.ndarray, keep: np.ndarray, step: int = 4096) -> np.ndarray:
    """``span[keep]`` for sorted distinct ``keep``, moved to the front of ``span`` itself in
    steps of ``step`` rows (each row moves down or stays, so none is overwritten before it is
    moved): a view of ``span``, with no copy of the block beside it."""
    if len(keep) == len(span):
        return span
    for s in range(0, len(keep), step):
        chunk = keep[s : s + step]
        span[s : s + len(chunk)] = span[chunk]
    return span[: len(keep)]


def gather(vectors: np.ndarray, rows: np.ndarray, *, path: Path | None = None) -> np.ndarray:
    """``(len(rows), dim) float32`` copies of the sorted ``rows`` of ``vectors``, read as
    :func:`blocks` reads them (from the file, never through the map)."""
    out = np.empty((len(rows), vectors.shape[1]), dtype=np.float32)
    done = 0
    for part, got in blocks(vectors, rows, path=path):
        out[done : done + len(part)] = got
        done += len(part)
    return out
