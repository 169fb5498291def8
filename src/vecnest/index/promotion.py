"""Promotion: a lazily opened HNSW graph searched from a private copy on huge pages.

A reader maps its index file (:meth:`AnnIndex.open`): page cache shared with every process,
on 4 KiB pages. A graph walk touches a few hundred vectors and neighbour lists scattered over
the whole file, far more pages than the TLB holds (74k arXiv titles, 76 MB: ~19k pages). A
private copy collapsed onto transparent huge pages (:mod:`vecnest.index.hugepages`) walks the
same graph faster (ef 28: ~100 µs per walk on the map, 87-92 µs on huge pages). The copy costs
this process the graph's size in private memory, so it is made once per index, only with twice
the file's size free, and only for a file that is still the one the index was opened from.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss

from vecnest.errors import CorruptStoreError
from vecnest.index import hugepages
from vecnest.index.ann import _FD_DIR, _ID_MAPS, AnnIndex

#: One promotion at a time (the background promoter's and :func:`promote` called directly).
_PROMOTING = threading.Lock()


def promote(ann: AnnIndex, path: Path, *, dim: int, n_indexed: int, keep: Callable[[], bool] | None = None) -> int:
    """Search a private copy of ``ann``'s graph on huge pages from now on: read the file it was
    opened from (``path``: the same file, no link, checked by device, inode and size against
    what :meth:`AnnIndex.open` saw) into this process's memory, check it as a load does,
    collapse its vectors and links onto huge pages and, if ``keep()`` still holds, swap it in
    (:meth:`AnnIndex.adopt`). A search already running finishes on the map it started with.

    Returns the bytes now on huge pages; 0 where nothing changed: not a lazily opened HNSW
    graph, not loaded, tried already (once per index), no huge pages on this system, too little
    memory to spare (twice the file), the file gone or another, or no page collapsed (a copy on
    small pages is no faster than the map)."""
    identity = ann.__dict__.get("_identity")
    if not ann._hnsw or identity is None or not ann.loaded or not hugepages.available():
        return 0
    with _PROMOTING:
        owner = ann.index
        parts = _graph_arrays(owner)
        if ann.__dict__.get("_tried") or parts is None or any(getattr(v, "is_owned", True) for v, _ in parts):
            return 0  # (tried already: promoted, or not worth a second copy; or not a map)
        ann._tried = True
        room = hugepages.headroom()
        if room is not None and room < 2 * identity[2]:
            return 0
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return 0
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or (info.st_dev, info.st_ino, info.st_size) != identity:
                return 0
            copy = AnnIndex(faiss.read_index(str(_FD_DIR / str(fd))), ann.config, l2=ann.l2)
            copy.check(dim=dim, n_indexed=n_indexed)
        except (RuntimeError, OSError, CorruptStoreError):
            return 0
        finally:
            os.close(fd)
        huge = sum(hugepages.collapse(int(v.data()), int(v.size()) * width) for v, width in _graph_arrays(copy.index) or [])
        if not huge or (keep is not None and not keep()):
            return 0
        ann.adopt(copy, huge)
        del owner, parts  # (the map goes with the last search holding it)
        return huge


def _graph_arrays(index: faiss.Index) -> list[tuple[Any, int]] | None:
    """The large arrays of an HNSW graph in an id map (its vectors' codes and its links), each
    with its element width in bytes; ``None`` for any other index."""
    outer = faiss.downcast_index(index)
    if not isinstance(outer, _ID_MAPS):
        return None
    inner = faiss.downcast_index(outer.index)
    if not isinstance(inner, faiss.IndexHNSW):
        return None
    storage = faiss.downcast_index(inner.storage)
    codes = getattr(storage, "codes", None)
    if codes is None:
        return None
    return [(codes, 1), (inner.hnsw.neighbors, 4)]
