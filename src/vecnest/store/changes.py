"""A shared change counter beside the catalog, so a search can tell "nothing was committed since
my snapshot" with one memory read instead of a SQLite statement.

``catalog.sqlite3-changes`` holds one little-endian ``uint64`` that every process maps. A writer
makes it odd right after taking the write lock and even again after its commit (or rollback), so:

* an even value equal to the one a reader saw before its last ``PRAGMA data_version`` means no
  transaction has started since, and that answer still holds;
* an odd value means a write is in progress, or its writer died mid-way (``kill -9``): readers
  then always ask SQLite, so a crash can cost speed, never freshness. The next writer to open
  the store makes it even again.

Only vecnest writers bump it; any other change to the counter or the catalog (a different
program writing the SQLite file) is not something vecnest supports. The file is vecnest's own,
not SQLite's: opening and closing it never touches SQLite's POSIX locks (which closing any
descriptor of the database or its ``-shm`` file would release).
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

_FORMAT = struct.Struct("<Q")


class ChangeCounter:
    """The mapped counter (see module docstring); :meth:`value` is ``None`` when unavailable."""

    def __init__(self, path: Path, *, writable: bool) -> None:
        self.path = path
        self.writable = writable
        self._map: mmap.mmap | None = None
        try:
            if writable and not path.exists():
                tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
                tmp.write_bytes(_FORMAT.pack(0))
                os.replace(tmp, path)  # others see no file or all eight bytes
            fd = os.open(path, os.O_RDWR if writable else os.O_RDONLY)
            try:
                if os.fstat(fd).st_size >= _FORMAT.size:
                    access = mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ
                    self._map = mmap.mmap(fd, _FORMAT.size, access=access)
            finally:
                os.close(fd)
        except OSError:  # a read-only folder, an old store without the file: ask SQLite always
            self._map = None

    def value(self) -> int | None:
        """The current count, or ``None`` if there is no counter."""
        m = self._map
        return None if m is None else _FORMAT.unpack_from(m, 0)[0]

    def bump(self) -> None:
        """Advance by one (writers only, holding the write lock)."""
        m = self._map
        if m is not None and self.writable:
            _FORMAT.pack_into(m, 0, _FORMAT.unpack_from(m, 0)[0] + 1)

    def make_even(self) -> None:
        """Close a write a dead writer left open (writers only, holding the write lock)."""
        value = self.value()
        if value is not None and value % 2:
            self.bump()

    def close(self) -> None:
        """Unmap (idempotent)."""
        if self._map is not None:
            self._map.close()
            self._map = None
