"""The C library calls the store makes through ``ctypes``: ``mmap``/``munmap`` (maps the
store controls itself), ``madvise`` (releasing the pages of a map) and ``mincore`` (what of a
file the page cache holds). One binding for every module that needs them; ``LIBC`` is
``None`` where this system has no such C library to call."""

from __future__ import annotations

import ctypes

try:
    LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
    LIBC.mmap.restype = ctypes.c_void_p
    LIBC.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    LIBC.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    LIBC.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    LIBC.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
except (OSError, AttributeError):  # (no C library symbols to call)
    LIBC = None
#: What ``mmap`` returns when it fails.
MAP_FAILED = ctypes.c_void_p(-1).value
