"""Huge pages for an index's large arrays (Linux transparent huge pages).

An HNSW walk reads a few hundred vectors and neighbour lists scattered over arrays of tens or
hundreds of MiB; on 4 KiB pages nearly every one of those reads also misses the TLB (a 75k
graph of 384-dim float16 vectors spans ~19k pages, far past the ~2k entries of a core's
second-level TLB). On 2 MiB pages the same arrays span a few dozen. Measured on the 74k arXiv
title graph (M=32, ef 28, one thread, distinct queries): 100 µs per query through the shared
file map, 103 µs in private memory on 4 KiB pages, 87-92 µs on huge pages.

``madvise(MADV_COLLAPSE)`` (Linux >= 6.1) backs a range of the process's own anonymous memory
with huge pages at once, whatever the system's THP mode (short of ``never``), and leaves no
advice on the range behind (``MADV_HUGEPAGE`` would outlive the array, for whatever the
allocator puts there next). Kernels without it: nothing is done. Only anonymous memory the
process owns is collapsed (a file map's offsets are not huge-page-aligned, and other processes
share its pages): see :mod:`vecnest.index.promotion`. Nothing here changes a system
or process setting.
"""

from __future__ import annotations

import ctypes
import errno
import sys
from functools import cache
from pathlib import Path
from typing import Any

_THP = Path("/sys/kernel/mm/transparent_hugepage")
_MADV_COLLAPSE = 25
_MEMINFO = Path("/proc/meminfo")
#: Bytes collapsed per call (a huge page the kernel refuses fails its whole call).
_CHUNK = 32 << 20
_CGROUP = Path("/sys/fs/cgroup")


@cache
def huge_page_bytes() -> int:
    """The size of a transparent huge page here (2 MiB on x86-64 and 4 KiB-page arm64)."""
    try:
        return int((_THP / "hpage_pmd_size").read_text())
    except (OSError, ValueError):
        return 2 << 20


#: kernels found without MADV_COLLAPSE (an EINVAL on an aligned anonymous range)
_unsupported: list[bool] = []


@cache
def _madvise() -> Any:
    """libc's ``madvise`` where transparent huge pages can be used, else ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        if "[never]" in (_THP / "enabled").read_text():
            return None
        fn = ctypes.CDLL(None, use_errno=True).madvise  # (the process's own C library)
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def available() -> bool:
    """Whether this system can back memory with huge pages on request."""
    return _madvise() is not None and not _unsupported


def interior(address: int, nbytes: int) -> tuple[int, int]:
    """``(start, length)`` of the whole huge pages inside ``[address, address + nbytes)``
    (``length`` 0: none)."""
    page = huge_page_bytes()
    start = -(-address // page) * page
    end = (address + nbytes) // page * page
    return start, max(end - start, 0)


def collapse(address: int, nbytes: int) -> int:
    """Back the whole huge pages inside ``[address, address + nbytes)`` of this process's own
    anonymous memory with huge pages now. Returns the bytes collapsed (0: none). Never raises:
    huge pages are a speed-up, never a condition."""
    fn = _madvise()
    start, length = interior(address, nbytes)
    if fn is None or _unsupported or not length:
        return 0
    done = 0
    step = max(_CHUNK // huge_page_bytes(), 1) * huge_page_bytes()
    for at in range(start, start + length, step):  # (in chunks: a page refused costs its chunk, not the array)
        part = min(step, start + length - at)
        if fn(at, part, _MADV_COLLAPSE) == 0:
            done += part
        elif ctypes.get_errno() == errno.EINVAL:  # (no MADV_COLLAPSE in this kernel: never ask again)
            _unsupported.append(True)
            break
    return done


def headroom() -> int | None:
    """Bytes this process can still take without pressing on memory: the system's
    ``MemAvailable``, or less where its cgroup (v2) or one above it has a limit (what the group
    holds, less its reclaimable file cache); ``None``: unknown."""
    room: int | None = None
    try:
        for line in _MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                room = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    try:
        own = next(line[3:] for line in Path("/proc/self/cgroup").read_text().splitlines() if line.startswith("0::"))
    except (OSError, StopIteration):
        return room
    group = _CGROUP / own.strip().lstrip("/")
    while True:
        left = _group_room(group)
        if left is not None:
            room = left if room is None else min(room, left)
        if group == _CGROUP or _CGROUP not in group.parents:
            return room
        group = group.parent


def _group_room(group: Path) -> int | None:
    """What a cgroup (v2) with a memory limit can still take (``None``: no limit, or unknown)."""
    try:
        limit = (group / "memory.max").read_text().strip()
        if limit == "max":
            return None
        used = int((group / "memory.current").read_text())
        for line in (group / "memory.stat").read_text().splitlines():
            if line.startswith("inactive_file "):
                used -= int(line.split()[1])
                break
        return int(limit) - used
    except (OSError, ValueError, IndexError):
        return None
