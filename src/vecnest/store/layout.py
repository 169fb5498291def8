"""The names of a store's files: what each entry of a store folder is, and whose it is.

A store folder holds the manifest, the catalog (with SQLite's ``-wal``/``-shm`` and vecnest's
``-changes`` counter) and ``segments/``, where every file belongs to one collection and says so
in its name: ``c<cid>.<rest>``. The rest tells its kind:

=====================================  ==========================================
``c<cid>.g<generation>.f32``           a vector segment
``c<cid>.<kind>.<rows>.<token>.faiss`` an approximate index (kind hnsw/ivf/ivf_pq)
``c<cid>.maint.lock``                  the collection's maintenance lock
``<any>.tmp``                          a file being written (published by rename)
=====================================  ==========================================

Later derived data adds its own kinds (their checks say which names are theirs, see
:class:`vecnest.store.check.DerivedCheck`). A name of no known kind is never deleted by vecnest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vecnest.store.manifest import CATALOG_NAME, MANIFEST_NAME, SEGMENTS_DIR

#: Entries of a store folder that vecnest itself creates.
ROOT_ENTRIES = frozenset(
    {MANIFEST_NAME, CATALOG_NAME, f"{CATALOG_NAME}-wal", f"{CATALOG_NAME}-shm", f"{CATALOG_NAME}-changes", f"{CATALOG_NAME}-journal", SEGMENTS_DIR}
)
#: A manifest being written (``vecnest.json.<token>.tmp``).
MANIFEST_TMP = re.compile(re.escape(MANIFEST_NAME) + r"\.[0-9a-f]+\.tmp")

_OWNER = re.compile(r"c(\d+)\.(.+)")
_SEGMENT = re.compile(r"g(\d+)\.f32")
_INDEX = re.compile(r"(hnsw|ivf|ivf_pq)\.\d+\.[0-9a-z]+\.faiss")
LOCK_SUFFIX = "maint.lock"


@dataclass(frozen=True)
class SegmentsEntry:
    """One file name in ``segments/``, parsed.

    Attributes:
        name: the file name.
        cid: the collection it belongs to (``None``: not a vecnest name).
        rest: the name after ``c<cid>.``.
    """

    name: str
    cid: int | None
    rest: str

    @property
    def is_tmp(self) -> bool:
        """A temporary file (an interrupted write leaves these)."""
        return self.name.endswith(".tmp")

    @property
    def is_lock(self) -> bool:
        """The collection's maintenance lock file."""
        return self.rest == LOCK_SUFFIX

    @property
    def generation(self) -> int | None:
        """The generation of a vector segment (``None`` if this is no segment)."""
        m = _SEGMENT.fullmatch(self.rest)
        return int(m.group(1)) if m else None

    @property
    def is_index(self) -> bool:
        """An approximate index file (see :func:`vecnest.index.state.index_file_name`)."""
        return _INDEX.fullmatch(self.rest) is not None


def parse_entry(name: str) -> SegmentsEntry:
    """Parse a file name found in ``segments/``."""
    m = _OWNER.fullmatch(name)
    if m is None:
        return SegmentsEntry(name, None, name)
    return SegmentsEntry(name, int(m.group(1)), m.group(2))


def segment_name(cid: int, generation: int) -> str:
    """The file name of collection ``cid``'s vector segment of ``generation``."""
    return f"c{cid}.g{generation}.f32"


def lock_name(cid: int) -> str:
    """The file name of collection ``cid``'s maintenance lock."""
    return f"c{cid}.{LOCK_SUFFIX}"
