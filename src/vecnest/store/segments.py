"""Vector segments: flat, append-only float32 files addressed by slot, memory-mapped for reading.

A segment holds ``rows`` vectors of ``dim`` float32 components in row-major order. Only the
first ``committed`` rows are valid: the committed count lives in the catalog and moves in the same
SQLite transaction as the documents that own the rows (and the checksum of each appended batch).
Bytes past it are leftovers of a write that never committed (a crash, an error) and are
truncated by the next writer. Readers map just the committed prefix, which writers never modify,
so a reader's view is a stable snapshot.

A segment shorter than its committed rows was damaged (truncated, deleted, replaced): every
operation on it raises :class:`~vecnest.errors.CorruptStoreError` instead of zero-filling the
lost rows or answering from them.

Maps are made without keeping a file descriptor open (one per collection would exhaust a
process's descriptors with many collections); the mapping is released when the last array
viewing it is garbage-collected. :func:`release_pages` drops the pages a one-off pass mapped
into the process (they stay in the page cache, shared, evictable), so such a pass does not leave
the whole file resident in the process's memory for its lifetime.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import weakref
import zlib
from pathlib import Path

import numpy as np

from vecnest.errors import CorruptStoreError
from vecnest.store.files import fsync_dir, open_nofollow, storage_error
from vecnest.store.libc import LIBC as _libc
from vecnest.store.libc import MAP_FAILED as _MAP_FAILED

if _libc is None:  # (maps are made and released through the C library: nothing to fall back to)
    raise ImportError("vecnest needs the C library's mmap, munmap and madvise, which ctypes could not bind here")

_ROW_DTYPE = np.dtype("<f4")
_MADV_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)  # (a shared read-only file map: read again on use)
_PAGE = mmap.PAGESIZE
#: Live maps of :func:`map_file`, start address -> length: only their pages are ever released
#: (the same advice on anonymous memory would zero it).
_MAPS: dict[int, int] = {}


def checksum(vectors: np.ndarray) -> str:
    """CRC-32 of rows as stored (little-endian float32 bytes), as 8 hex digits."""
    data = np.ascontiguousarray(vectors, dtype=_ROW_DTYPE)
    return f"{zlib.crc32(memoryview(data).cast('B')):08x}"


def map_file(path: Path, nbytes: int) -> np.ndarray:
    """A read-only ``(nbytes,) uint8`` view of the first ``nbytes`` of ``path``, with no file
    descriptor kept open. Raises ``FileNotFoundError`` if absent, :class:`CorruptStoreError`
    if shorter than ``nbytes``."""
    fd = open_nofollow(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size < nbytes:
            raise CorruptStoreError(
                f"{path.name} holds {size} bytes but the catalog committed {nbytes}: the file was "
                "truncated or replaced after its rows were acknowledged. Run `vecnest check "
                f"--db {path.parent.parent}` to see what is damaged (--repair re-embeds lost "
                "rows from their stored texts where it can)"
            )
        addr = _libc.mmap(None, nbytes, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr is None or addr == _MAP_FAILED:
            err = ctypes.get_errno()
            raise OSError(err, f"mmap of {path} failed: {os.strerror(err)}")
    finally:
        os.close(fd)
    buf = (ctypes.c_char * nbytes).from_address(addr)
    _MAPS[addr] = nbytes
    unmap = weakref.finalize(buf, _unmap, addr, nbytes)
    unmap.atexit = False  # never unmap under a thread still searching at exit; the OS does it
    arr = np.frombuffer(buf, dtype=np.uint8)
    arr.flags.writeable = False
    return arr


def _unmap(addr: int, nbytes: int) -> None:
    _MAPS.pop(addr, None)
    _libc.munmap(addr, nbytes)


def release_pages(view: np.ndarray) -> bool:
    """Drop from this process the pages of ``view`` (an array over a :func:`map_file` map) that
    a pass has faulted in: its memory no longer counts them, the page cache keeps them and the
    next read maps them again (a read-only shared file map loses nothing). Only the whole pages
    inside ``view`` are released. Returns ``False``, doing nothing, for an array that is not a
    view of such a map (an in-memory array is never touched) or where the OS refuses."""
    if _MADV_DONTNEED is None or not view.size or not view.flags.c_contiguous:
        return False
    start = int(view.__array_interface__["data"][0])
    end = start + int(view.nbytes)
    if not any(base <= start and end <= base + size for base, size in list(_MAPS.items())):
        return False
    lo, hi = -(-start // _PAGE) * _PAGE, end // _PAGE * _PAGE
    return hi <= lo or _libc.madvise(lo, hi - lo, _MADV_DONTNEED) == 0


class Segment:
    """One vector file. Stateless apart from its path and shape; safe to share across threads."""

    def __init__(self, path: Path, dim: int) -> None:
        self.path = path
        self.dim = dim
        self.row_bytes = dim * _ROW_DTYPE.itemsize

    def _damaged(self, size: int, committed: int) -> CorruptStoreError:
        return CorruptStoreError(
            f"vector segment {self.path.name} holds {size // self.row_bytes} rows but the catalog "
            f"committed {committed}: the file was truncated, deleted or replaced. Nothing was "
            f"written. Run `vecnest check --db {self.path.parent.parent}` (--repair re-embeds the "
            "lost rows from their stored texts where it can)"
        )

    def append(self, committed: int, vectors: np.ndarray) -> None:
        """Write ``vectors`` at rows ``committed ..`` and flush them to disk.

        Anything beyond ``committed`` rows (an uncommitted tail) is discarded first. The caller
        commits the new row count in the catalog only after this returns.

        Args:
            committed: rows currently committed in the catalog.
            vectors: ``(n, dim) float32`` C-contiguous.

        Raises:
            CorruptStoreError: the file holds fewer than ``committed`` rows.
            StorageFullError: the disk is full (the tail is removed again).
        """
        data = np.ascontiguousarray(vectors, dtype=_ROW_DTYPE)
        created = not self.path.exists()
        if created and committed:  # committed rows and no file: never zero-fill them
            raise self._damaged(0, committed)
        fd = open_nofollow(self.path, os.O_RDWR | (os.O_CREAT if not committed else 0))
        offset = committed * self.row_bytes
        try:
            size = os.fstat(fd).st_size
            if size < offset:
                raise self._damaged(size, committed)
            os.ftruncate(fd, offset)
            view = memoryview(data).cast("B")
            written = 0
            while written < len(view):
                written += os.pwrite(fd, view[written:], offset + written)
            os.fsync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, offset)
            except OSError:
                pass
            raise storage_error(exc, f"append {len(data)} rows to {self.path.name}") from None
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.path.parent)  # the new file's name survives a crash too

    def truncate(self, committed: int) -> None:
        """Drop any uncommitted tail (best effort after a failed write)."""
        try:
            fd = open_nofollow(self.path, os.O_RDWR)
        except (OSError, CorruptStoreError):
            return
        try:
            if os.fstat(fd).st_size > committed * self.row_bytes:
                os.ftruncate(fd, committed * self.row_bytes)
        except OSError:
            pass
        finally:
            os.close(fd)

    def map(self, rows: int) -> np.ndarray:
        """Read-only ``(rows, dim) float32`` view of the first ``rows`` committed rows.

        Raises:
            FileNotFoundError: the file is gone (dropped or compacted since the caller's
                snapshot: take a fresh one), or :class:`CorruptStoreError` if it is too short.
        """
        if rows == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        try:
            raw = map_file(self.path, rows * self.row_bytes)
        except CorruptStoreError:
            raise self._damaged(self.disk_bytes(), rows) from None
        return raw.view(_ROW_DTYPE).reshape(rows, self.dim)

    def checksum(self, first: int, n: int) -> str:
        """CRC-32 of rows ``first .. first + n`` as stored (see :func:`checksum`)."""
        raw = map_file(self.path, (first + n) * self.row_bytes)
        return f"{zlib.crc32(raw[first * self.row_bytes :]):08x}"

    def disk_bytes(self) -> int:
        """Size of the file on disk (0 if it does not exist yet)."""
        try:
            return os.lstat(self.path).st_size
        except FileNotFoundError:
            return 0

    def remove(self) -> None:
        """Delete the file (after its collection was dropped or compacted)."""
        self.path.unlink(missing_ok=True)
