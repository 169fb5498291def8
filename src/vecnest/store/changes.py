"""A shared change counter beside the catalog, so a search can tell "nothing was committed since
my snapshot" with one memory read instead of a SQLite statement.

``catalog.sqlite3-changes`` holds one little-endian ``uint64`` that every process maps. A writer
makes it odd right after taking the write lock and even again after its commit (or rollback), so
an even value read *before* a read transaction began vouches for that transaction's snapshot
until the value changes:

* the same even value read again later means no write transaction has started since, and a
  snapshot taken after the first read is still current;
* an odd value means a write is in progress, or its writer died mid-way (``kill -9``): readers
  then always ask the catalog, so a crash can cost speed, never freshness. The next writer to
  take the lock makes it even again.

The file is created in place (``O_CREAT``, then grown to eight zero bytes), never renamed over:
two processes creating it at once map the same file, and no process is left holding a replaced
copy that nobody bumps any more. A file of the wrong size (damaged) is not trusted by readers
(they ask the catalog) and is repaired in place by the next writer.

Only vecnest writers bump it; a different program writing the SQLite file is not something
vecnest supports. The file is vecnest's own, not SQLite's: opening and closing it never touches
SQLite's POSIX locks (which closing any descriptor of the database would release).
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
from pathlib import Path

_FORMAT = struct.Struct("<Q")


class ChangeCounter:
    """The mapped counter (see module docstring); :meth:`value` is ``None`` when unavailable."""

    def __init__(self, path: Path, *, writable: bool) -> None:
        self.path = path
        self.writable = writable
        self._map: mmap.mmap | None = None
        self._lock = threading.Lock()
        self._open()

    def _open(self) -> None:
        try:
            flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW if self.writable else os.O_RDONLY | os.O_NOFOLLOW
            fd = os.open(self.path, flags, 0o644)
        except OSError:  # a read-only folder, an old store without the file: ask the catalog
            return
        try:
            size = os.fstat(fd).st_size
            if self.writable and size < _FORMAT.size:
                os.ftruncate(fd, _FORMAT.size)  # new (or damaged): eight zero bytes, in place
                size = _FORMAT.size
            if size == _FORMAT.size:
                access = mmap.ACCESS_WRITE if self.writable else mmap.ACCESS_READ
                self._map = mmap.mmap(fd, _FORMAT.size, access=access)
        except (OSError, ValueError):
            self._map = None
        finally:
            os.close(fd)

    def value(self) -> int | None:
        """The current count, or ``None`` if there is no usable counter."""
        m = self._map
        if m is None:
            return None
        try:
            return _FORMAT.unpack_from(m, 0)[0]
        except (ValueError, struct.error):  # closed meanwhile
            return None

    def begin_write(self) -> None:
        """Mark a write as started: close a write a dead writer left open, then go odd.

        Writers only, holding the catalog's write lock. A missing or damaged file is repaired
        in place first; if that is impossible the counter stays unavailable (readers ask the
        catalog), which costs speed, never freshness or the write.
        """
        with self._lock:
            if self._map is None and self.writable:
                self._open()
            value = self.value()
            if value is None:
                return
            if value % 2:
                value += 1
            _FORMAT.pack_into(self._map, 0, value + 1)  # type: ignore[arg-type]

    def end_write(self) -> None:
        """Mark the write as finished (even again). Writers only, holding the write lock."""
        with self._lock:
            value = self.value()
            if value is not None and value % 2:
                _FORMAT.pack_into(self._map, 0, value + 1)  # type: ignore[arg-type]

    def close(self) -> None:
        """Unmap (idempotent)."""
        with self._lock:
            if self._map is not None:
                self._map.close()
                self._map = None
