"""One collection's stored rows: documents in the catalog, vectors in its segment, written together.

Every write runs in one catalog transaction (:meth:`Rows.write`): vectors are appended to the
segment and flushed first, then the documents, the batch checksum and the new committed row
count are inserted, and the transaction commits. A failure at any point rolls the catalog back
and cuts the segment back to its committed rows, so a call that raises stores nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vecnest.errors import CollectionNotFoundError
from vecnest.store.catalog import Catalog, docs_table
from vecnest.store.documents import DocumentTable
from vecnest.store.layout import segment_name
from vecnest.store.segments import Segment, checksum


@dataclass(frozen=True)
class RowState:
    """A collection's row counts as committed in the catalog."""

    n_slots: int  #: rows in the segment (live and dead)
    generation: int  #: the segment file's generation
    version: int  #: bumped by every committed change of the collection


class Rows:
    """The write path of one collection (and the state lookups reads share with it).

    Args:
        catalog: the store's catalog.
        segments_dir: the store's segments folder.
        cid: the collection's id in the catalog.
        name: its name (for messages).
        dim: vector dimension.
    """

    def __init__(self, catalog: Catalog, segments_dir: Path, cid: int, name: str, dim: int) -> None:
        self.catalog = catalog
        self.segments_dir = segments_dir
        self.cid = cid
        self.name = name
        self.dim = dim
        self.table = docs_table(cid)
        self.docs = DocumentTable(self.table)
        self.epoch_key = f"c{cid}.metadata_rewrites"  # meta-table counter of in-place updates

    def segment(self, generation: int) -> Segment:
        """The segment file of ``generation``."""
        return Segment(self.segments_dir / segment_name(self.cid, generation), self.dim)

    def state(self, conn: sqlite3.Connection) -> RowState:
        """The committed counts, or :class:`CollectionNotFoundError` if the collection is gone."""
        row = conn.execute(
            "SELECT n_slots, generation, version FROM collections WHERE cid = ?", (self.cid,)
        ).fetchone()
        if row is None:
            raise CollectionNotFoundError(
                f"collection {self.name!r} was dropped (by this or another process); open or "
                "create it again"
            )
        return RowState(int(row[0]), int(row[1]), int(row[2]))

    def metadata_epoch(self, conn: sqlite3.Connection) -> int:
        """How many in-place metadata rewrites the collection has had."""
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (self.epoch_key,)).fetchone()
        return int(row[0]) if row else 0

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on this collection; on failure the segment's tail is cut back."""
        with self.catalog.write() as conn:
            state = self.state(conn)
            try:
                yield conn
            except BaseException:
                self.segment(state.generation).truncate(state.n_slots)
                raise

    def bump(self, conn: sqlite3.Connection, n_slots: int | None = None) -> None:
        """Advance the collection's version (and its committed row count, if given)."""
        if n_slots is None:
            conn.execute("UPDATE collections SET version = version + 1 WHERE cid = ?", (self.cid,))
        else:
            conn.execute(
                "UPDATE collections SET n_slots = ?, version = version + 1 WHERE cid = ?",
                (n_slots, self.cid),
            )

    def append(
        self,
        conn: sqlite3.Connection,
        ids: Sequence[str],
        texts: Sequence[str | None],
        metadata_json: Sequence[str],
        vectors: np.ndarray,
    ) -> None:
        """Append documents at the next slots (inside :meth:`write`)."""
        state = self.state(conn)
        self.segment(state.generation).append(state.n_slots, vectors)
        self.docs.insert(conn, state.n_slots, ids, texts, metadata_json)
        conn.execute(
            "INSERT OR REPLACE INTO batches(cid, generation, first_slot, n_rows, checksum) VALUES (?, ?, ?, ?, ?)",
            (self.cid, state.generation, state.n_slots, len(ids), checksum(vectors)),
        )
        self.bump(conn, state.n_slots + len(ids))

    def rewrite_metadata(self, conn: sqlite3.Connection, ids: Sequence[str], metadata_json: Sequence[str]) -> None:
        """Replace documents' metadata in place (inside :meth:`write`): no new slot, so the
        snapshots' cached metadata columns are invalidated by bumping the metadata epoch."""
        conn.executemany(
            f"UPDATE {self.table} SET metadata = ? WHERE id = ?", list(zip(metadata_json, ids, strict=True))
        )
        conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
            (self.epoch_key,),
        )
        self.bump(conn)

    def vectors(self, conn: sqlite3.Connection, slots: Sequence[int]) -> np.ndarray:
        """``(len(slots), dim) float32`` copies of stored rows (inside a transaction)."""
        state = self.state(conn)
        mapped = self.segment(state.generation).map(state.n_slots)
        return np.array(mapped[np.asarray(slots, dtype=np.int64)], dtype=np.float32)
