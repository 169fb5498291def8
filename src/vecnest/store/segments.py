"""Vector segments: flat, append-only float32 files addressed by slot, memory-mapped for reading.

A segment holds ``rows`` vectors of ``dim`` float32 components in row-major order. Only the
first ``committed`` rows are valid: the committed count lives in the catalog and moves in the same
SQLite transaction as the documents that own the rows. Bytes past it are leftovers of a write
that never committed (a crash, an error) and are truncated by the next writer. Readers map just
the committed prefix, which writers never modify, so a reader's view is a stable snapshot.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

_ROW_DTYPE = np.dtype("<f4")


class Segment:
    """One vector file. Stateless apart from its path and shape; safe to share across threads."""

    def __init__(self, path: Path, dim: int) -> None:
        self.path = path
        self.dim = dim
        self.row_bytes = dim * _ROW_DTYPE.itemsize

    def append(self, committed: int, vectors: np.ndarray) -> None:
        """Write ``vectors`` at rows ``committed ..`` and flush them to disk.

        Anything beyond ``committed`` rows (an uncommitted tail) is discarded first. The caller
        commits the new row count in the catalog only after this returns.

        Args:
            committed: rows currently committed in the catalog.
            vectors: ``(n, dim) float32`` C-contiguous.
        """
        data = np.ascontiguousarray(vectors, dtype=_ROW_DTYPE)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            offset = committed * self.row_bytes
            os.ftruncate(fd, offset)
            view = memoryview(data).cast("B")
            written = 0
            while written < len(view):
                written += os.pwrite(fd, view[written:], offset + written)
            os.fsync(fd)
        finally:
            os.close(fd)

    def truncate(self, committed: int) -> None:
        """Drop any uncommitted tail (best effort after a failed write)."""
        try:
            fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            return
        try:
            os.ftruncate(fd, committed * self.row_bytes)
        finally:
            os.close(fd)

    def map(self, rows: int) -> np.ndarray:
        """Read-only ``(rows, dim) float32`` view of the first ``rows`` committed rows."""
        if rows == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        return np.memmap(self.path, dtype=_ROW_DTYPE, mode="r", shape=(rows, self.dim))

    def disk_bytes(self) -> int:
        """Size of the file on disk (0 if it does not exist yet)."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def remove(self) -> None:
        """Delete the file (after its collection was dropped or compacted)."""
        self.path.unlink(missing_ok=True)
