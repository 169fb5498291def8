"""Keeping a collection's lexical index in step with its catalog (run by the maintenance worker).

The catalog is the source of truth; the index is derived data in its own folder
(``segments/c<cid>.lex.<token>/``), named by the catalog table ``lexical_state``. After writes,
the worker brings the index up to the committed state: truncates rows a dead writer indexed
past the catalog, adds the committed rows past its ``upto`` (texts read from the catalog),
records deletions, and commits with the catalog's ``(generation, n_slots)``. A new segment
generation (compaction) or another analyser configuration gets a fresh folder, built whole,
published by switching the catalog row, the old folder removed after.

Searches never wait for this: rows past the index's ``upto`` are scored as pending rows (see
:mod:`vecnest.search.lexical_view`), so a lexical search reflects every committed write.
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np

from vecnest.errors import LexicalIndexError
from vecnest.lexical.analyzer import AnalyzerConfig
from vecnest.lexical.index import LexicalIndex
from vecnest.store.files import MaintenanceLock, remove, token
from vecnest.store.rows import Rows

#: Rows read from the catalog and analysed per batch while catching up.
CATCH_UP_BATCH = 8_192


def read_lexical_dir(conn: sqlite3.Connection, cid: int) -> str | None:
    """The folder name of collection ``cid``'s lexical index (``None``: none yet)."""
    try:
        row = conn.execute("SELECT dir FROM lexical_state WHERE cid = ?", (cid,)).fetchone()
    except sqlite3.OperationalError:  # a store from before lexical indexes
        return None
    return row[0] if row else None


def has_text(conn: sqlite3.Connection, table: str) -> bool:
    """Whether any document of the table has a text (else there is nothing to index)."""
    return conn.execute(f"SELECT 1 FROM {table} WHERE text IS NOT NULL LIMIT 1").fetchone() is not None


class LexicalMaintainer:
    """Brings one collection's lexical index up to date (see module docstring).

    Args:
        rows: the collection's rows.
        config: its analyser.
        lock: its maintenance lock.
    """

    def __init__(self, rows: Rows, config: AnalyzerConfig, lock: MaintenanceLock) -> None:
        self.rows = rows
        self.config = config
        self.lock = lock
        self._discarded: set[str] = set()

    def discard(self, name: str) -> None:
        """Never reuse folder ``name`` (found damaged): the next catch-up builds a fresh one."""
        self._discarded.add(name)

    def _open(self, name: str | None) -> LexicalIndex | None:
        if name is None or name in self._discarded:
            return None
        try:
            index = LexicalIndex.open(self.rows.segments_dir / name)
        except LexicalIndexError:
            return None  # damaged: rebuilt into a fresh folder below
        return index if index.config == self.config else None

    def needed(self) -> bool:
        """Whether the index is missing, behind, ahead or of another generation (cheap)."""
        with self.rows.catalog.read() as conn:
            state = self.rows.state(conn)
            name = read_lexical_dir(conn, self.rows.cid)
            if name is None:
                return state.n_slots > 0 and has_text(conn, self.rows.table)
        try:
            generation, upto, config = LexicalIndex.coverage(self.rows.segments_dir / name)
        except LexicalIndexError:
            return True
        return generation != state.generation or upto != state.n_slots or config != self.config

    def run_if_needed(self) -> None:
        """The background job."""
        if self.needed():
            self.catch_up(wait=0)

    def catch_up(self, *, wait: float | None) -> str:
        """Bring the index up to the committed state now; returns what was done."""
        with self.lock.hold(wait) as got:
            if not got:
                return "busy"
            with self.rows.catalog.read() as conn:
                state = self.rows.state(conn)
                name = read_lexical_dir(conn, self.rows.cid)
                if name is None and not has_text(conn, self.rows.table):
                    return "nothing to index"
            index = self._open(name)
            fresh = index is None or index.generation != state.generation or index.config != self.config
            if fresh:
                new_name = f"c{self.rows.cid}.lex.{token()}"
                index = LexicalIndex.create(self.rows.segments_dir / new_name, self.config, generation=state.generation)
            assert index is not None
            if index.upto > state.n_slots:
                index.truncate(state.n_slots)  # a dead writer's rows past the catalog's commit
            n_slots = self._add_committed(index, state.generation)
            if fresh:
                self._switch(name, new_name, state.generation)
            return "rebuilt" if fresh else f"caught up to {n_slots}"

    def _add_committed(self, index: LexicalIndex, generation: int) -> int:
        """Add the catalog's rows past ``index.upto``, record its deletions, commit."""
        upto = index.upto
        while True:
            with self.rows.catalog.read() as conn:
                state = self.rows.state(conn)
                if state.generation != generation:
                    raise LexicalIndexError("the collection was compacted meanwhile; the next run rebuilds")
                rows = conn.execute(
                    f"SELECT slot, text FROM {self.rows.table} WHERE slot >= ? ORDER BY slot LIMIT ?",
                    (upto, CATCH_UP_BATCH),
                ).fetchall()
                alive = None
                if len(rows) < CATCH_UP_BATCH:  # the last batch: this transaction's state is final
                    text = conn.execute(f"SELECT json_group_array(slot) FROM {self.rows.table}").fetchone()[0]
                    alive = np.zeros(state.n_slots, dtype=bool)
                    alive[np.asarray(json.loads(text), dtype=np.int64)] = True
            if rows:
                index.add(np.asarray([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows])
                upto = int(rows[-1][0]) + 1
            if alive is not None:
                index.sync_deletes(alive)
                index.commit(upto=state.n_slots, generation=generation)
                return state.n_slots
            index.commit(upto=upto, generation=generation)  # keep memory bounded on big catch-ups

    def _switch(self, old: str | None, new: str, generation: int) -> None:
        """Name the new folder in the catalog (if the collection is still of ``generation``)."""
        try:
            with self.rows.catalog.write() as conn:
                if self.rows.state(conn).generation != generation or read_lexical_dir(conn, self.rows.cid) != old:
                    raise LexicalIndexError("superseded")
                conn.execute("INSERT OR REPLACE INTO lexical_state(cid, dir) VALUES (?, ?)", (self.rows.cid, new))
        except BaseException:
            remove(self.rows.segments_dir / new)
            raise
        if old is not None:
            remove(self.rows.segments_dir / old)

