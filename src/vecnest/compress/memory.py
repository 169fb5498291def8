"""Measured memory: resident pages of arrays and files, and the process's resident set (Linux).

- :func:`resident_bytes` asks the kernel (``mincore``) which pages of an array's memory are
  resident: anonymous memory (codes loaded into RAM) and mapped files alike.
- :func:`page_cache_bytes` maps a file without touching it and asks the same: how much of it the
  OS page cache holds (memory the kernel may reclaim, not the process's own).
- :func:`mapped_rss` reads ``/proc/self/smaps``: what the process has resident of each mapped file.
- :func:`process_rss` reads ``VmRSS`` from ``/proc/self/status``.

Where the kernel offers none of these (not Linux), they return ``None``.
"""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np

from vecnest.store.libc import MINCORE

_PAGE = mmap.PAGESIZE


def _mincore(address: int, length: int) -> int | None:
    """Bytes of ``[address, address + length)`` that lie in resident pages (a page only partly
    covered counts for its covered part, so a fully resident range measures ``length``)."""
    if length <= 0:
        return 0
    if MINCORE is None:
        return None
    start = address - address % _PAGE
    span = address + length - start
    pages = -(-span // _PAGE)
    vec = np.zeros(pages, dtype=np.uint8)
    if MINCORE(start, span, vec.ctypes.data) != 0:
        return None
    resident = (vec & 1).astype(np.int64)
    covered = np.full(pages, _PAGE, dtype=np.int64)
    covered[0] -= address - start
    covered[-1] -= pages * _PAGE - span
    return int((resident * covered).sum())


def resident_bytes(arr: np.ndarray) -> int | None:
    """Bytes of ``arr``'s memory that are resident in RAM now, measured page by page (for a
    mapped file: pages in the page cache)."""
    if arr.size == 0:
        return 0
    return _mincore(int(arr.__array_interface__["data"][0]), int(arr.nbytes))


def page_cache_bytes(path: Path) -> int | None:
    """Bytes of the file at ``path`` held in the OS page cache (mapped untouched, then ``mincore``)."""
    try:
        size = path.stat().st_size
        if size == 0:
            return 0
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_READ) as mm:
            view = np.frombuffer(mm, dtype=np.uint8)  # a view: no page is touched
            try:
                return resident_bytes(view)
            finally:
                del view
    except (OSError, ValueError):
        return None


def mapped_rss(paths: list[Path]) -> dict[str, int]:
    """Resident bytes of this process's mappings of each file in ``paths`` (``/proc/self/smaps``)."""
    wanted = {str(Path(p).resolve()): 0 for p in paths}
    try:
        text = Path("/proc/self/smaps").read_text()
    except OSError:
        return {}
    current: str | None = None
    for line in text.splitlines():
        first = line.split(maxsplit=5)
        if len(first) >= 5 and "-" in first[0] and not first[0].endswith(":"):
            current = first[5] if len(first) == 6 else None
        elif current in wanted and line.startswith("Rss:"):
            wanted[current] += int(line.split()[1]) * 1024
    return wanted


def process_rss() -> int | None:
    """This process's resident set size in bytes (``VmRSS``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
