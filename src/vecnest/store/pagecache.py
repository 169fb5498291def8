"""What of a file the OS page cache holds, and filling in the rest at the disk's full speed.

A search over a mapped file that is not in the page cache waits for one small read per page it
touches: a graph walk touches thousands, ~50 µs each on an SSD, one after the other. Read in
order instead, the same file streams at the disk's sequential speed (measured on this project's
2-core machine: a 78 MB, 75k-row HNSW file, cold, open → first filtered search 400–520 ms
through page faults, ~110 ms after one sequential read; the second search then takes 1 ms, not
120 ms of further faults). Rows read one by one (:class:`vecnest.store.rowio.RowReader`) do the
same with :func:`prefetch`: the rows the cache lacks are all asked for at once, so the device
reads them in parallel instead of one round trip per row.

Linux and other systems with ``mincore``; elsewhere :func:`missing` answers ``None`` and
:func:`fill` falls back to a background read-ahead hint.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from vecnest.store.libc import LIBC as _libc
from vecnest.store.libc import MINCORE as _mincore
from vecnest.store.libc import MAP_FAILED as _MAP_FAILED

#: Bytes :func:`fill` reads synchronously at most (~0.3 s at 800 MB/s); the rest of a larger
#: file is only hinted (``POSIX_FADV_WILLNEED``), read in the background.
FILL_BYTES = 256 << 20
#: Missing runs closer than this are read as one (a few cached pages cost less than a read).
_MERGE_GAP = 256 << 10
_CHUNK = 4 << 20
_PAGE = mmap.PAGESIZE



def missing(fd: int, size: int) -> list[tuple[int, int]] | None:
    """``(offset, length)`` byte runs of the first ``size`` bytes of the open file ``fd`` that
    the page cache does not hold (page-aligned, in file order, runs closer than 256 KiB merged);
    ``None`` where this system cannot tell. Maps the file for the question only (no page is
    touched) and unmaps it."""
    if _libc is None or _mincore is None or size <= 0:
        return None if _libc is None or _mincore is None else []
    addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    if addr is None or addr == _MAP_FAILED:
        return None
    try:
        pages = -(-size // _PAGE)
        vec = np.zeros(pages, dtype=np.uint8)
        if _mincore(addr, size, vec.ctypes.data) != 0:
            return None
    finally:
        _libc.munmap(addr, size)
    absent = (vec & 1) == 0
    if not absent.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate(([False], absent, [False])).astype(np.int8)))
    runs: list[tuple[int, int]] = []
    for lo, hi in zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True):
        start, end = lo * _PAGE, min(hi * _PAGE, size)
        if runs and start - (runs[-1][0] + runs[-1][1]) < _MERGE_GAP:
            runs[-1] = (runs[-1][0], end - runs[-1][0])
        else:
            runs.append((start, end - start))
    return runs


def fill(path: Path, *, budget: int = FILL_BYTES) -> int:
    """Bring ``path`` into the page cache before it is searched through a map: the runs it lacks
    are read in order, synchronously, up to ``budget`` bytes in all (a run is cut there); beyond
    that, and where the system cannot tell what is cached, the kernel is asked to read them in
    the background. Costs one
    ``mincore`` call when the file is cached already. Best effort: an unreadable file is left
    to whoever opens it next to report. Returns the bytes read synchronously."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return 0
    try:
        return fill_fd(fd, budget=budget)
    finally:
        os.close(fd)


def fill_fd(fd: int, *, budget: int = FILL_BYTES) -> int:
    """:func:`fill` for a file already open as ``fd`` (left open; it may have been unlinked
    since: its pages are filled all the same)."""
    try:
        size = os.fstat(fd).st_size
        runs = missing(fd, size)
        if runs is None:
            _hint(fd, [(0, 0)])
            return 0
        done = 0
        buf = bytearray(min(_CHUNK, max(size, 1)))
        view = memoryview(buf)
        rest: list[tuple[int, int]] = []
        for off, length in runs:
            take = min(length, max(budget - done, 0))
            if take < length:  # (past the budget: only hinted)
                rest.append((off + take, length - take))
            if not take:
                continue
            _hint(fd, [(off, take)])  # (the whole run queued at once: the reads below wait less)
            end = off + take
            while off < end:
                got = os.preadv(fd, [view[: min(len(buf), end - off)]], off)
                if got <= 0:
                    return done
                off += got
                done += got
        _hint(fd, rest)
        return done
    except OSError:
        return 0


def prefetch(fd: int, ranges: Iterable[tuple[int, int]]) -> None:
    """Ask the kernel to read the byte ``ranges`` of ``fd`` into the page cache in the
    background, all at once (the device serves them in parallel); best effort."""
    _hint(fd, ranges)


def _hint(fd: int, ranges: Iterable[tuple[int, int]]) -> None:
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return
    try:
        for off, length in ranges:
            advise(fd, off, length, os.POSIX_FADV_WILLNEED)
    except OSError:
        pass
