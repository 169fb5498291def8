"""One collection's documents table in the catalog: ``(slot, id, text, metadata)`` rows.

The SQL the collection runs against it lives here, chunked so that any number of ids stays within
SQLite's parameter limit. A row's slot is its vector's row in the segment; slots only grow within
a segment generation (a replaced document gets a new slot), except that ``update()`` without new
vectors rewrites text and metadata in place.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np

from vecnest import filter as vfilter
from vecnest.records import Metadata, check_ids
from vecnest.store.catalog import chunks


def _marks(n: int) -> str:
    return ",".join("?" * n)


class DocumentTable:
    """SQL over one collection's documents table (named ``table``)."""

    def __init__(self, table: str) -> None:
        self.table = table

    def existing_ids(self, conn: sqlite3.Connection, ids: Sequence[str]) -> list[str]:
        """The ones of ``ids`` that are stored."""
        found: list[str] = []
        for part in chunks(ids):
            found += [
                r[0]
                for r in conn.execute(f"SELECT id FROM {self.table} WHERE id IN ({_marks(len(part))})", tuple(part))
            ]
        return found

    def rows_by_id(self, conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, tuple]:
        """``id -> (id, text, metadata JSON, slot)`` for the stored ones of ``ids``."""
        rows: dict[str, tuple] = {}
        for part in chunks(ids):
            for r in conn.execute(
                f"SELECT id, text, metadata, slot FROM {self.table} WHERE id IN ({_marks(len(part))})",
                tuple(part),
            ):
                rows[r[0]] = r
        return rows

    def rows_by_slot(self, conn: sqlite3.Connection, slots: np.ndarray) -> dict[int, tuple[str, str | None, Metadata]]:
        """``slot -> (id, text, metadata)`` for the live ones of ``slots``."""
        out: dict[int, tuple[str, str | None, Metadata]] = {}
        for part in chunks(slots.tolist()):
            for slot, doc_id, text, meta in conn.execute(
                f"SELECT slot, id, text, metadata FROM {self.table} WHERE slot IN ({_marks(len(part))})",
                tuple(part),
            ):
                out[slot] = (doc_id, text, json.loads(meta))
        return out

    def delete_ids(self, conn: sqlite3.Connection, ids: Sequence[str]) -> None:
        """Delete the rows of ``ids`` (unknown ids are ignored)."""
        for part in chunks(ids):
            conn.execute(f"DELETE FROM {self.table} WHERE id IN ({_marks(len(part))})", tuple(part))

    def insert(
        self, conn: sqlite3.Connection, first_slot: int, ids: Sequence[str], texts: Sequence[str | None], metadata_json: Sequence[str]
    ) -> None:
        """Insert rows at slots ``first_slot, first_slot + 1, …``."""
        conn.executemany(
            f"INSERT INTO {self.table}(slot, id, text, metadata) VALUES (?, ?, ?, ?)",
            zip(range(first_slot, first_slot + len(ids)), ids, texts, metadata_json, strict=True),
        )

    @staticmethod
    def where_clause(
        ids: Sequence[str] | None, where: dict[str, Any] | None, where_document: dict[str, Any] | None
    ) -> tuple[str, list[Any]]:
        """SQL condition and parameters for ``get``/``delete``: the filters and, if given, the ids."""
        node = vfilter.parse(where, where_document)
        clause, params = ("1", []) if isinstance(node, vfilter.TrueFilter) else vfilter.to_sql(node)
        if ids is not None:
            ids = check_ids(ids, allow_existing_dupes=True)
            # json_each keeps one statement whatever the number of ids
            clause = f"({clause}) AND id IN (SELECT value FROM json_each(?))"
            params = [*params, json.dumps(list(ids))]
        return clause, list(params)
