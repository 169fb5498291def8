"""The C library calls the store makes through ``ctypes``: ``mmap``/``munmap`` (maps the
store controls itself), ``madvise`` (releasing the pages of a map) and ``mincore`` (which
pages of a range are resident). One binding for every module that needs them; ``LIBC`` is
``None`` where this system has no such C library to call, ``MINCORE`` where it lacks
``mincore`` (its callers then fall back to not knowing what is cached)."""

from __future__ import annotations

import ctypes

try:
    LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
    LIBC.mmap.restype = ctypes.c_void_p
    LIBC.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    LIBC.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    LIBC.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
except (OSError, AttributeError):  # (no C library symbols to call)
    LIBC = None
try:
    #: ``mincore(address, length, out)``: one byte per page of the range into ``out``, bit 0 set
    #: where the page is resident
    MINCORE = LIBC.mincore if LIBC is not None else None
    if MINCORE is not None:
        MINCORE.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
        MINCORE.restype = ctypes.c_int
except AttributeError:  # (a C library without mincore)
    MINCORE = None
#: What ``mmap`` returns when it fails.
MAP_FAILED = ctypes.c_void_p(-1).value
