"""The lexical side of a collection's searches: its index as of a snapshot, plus the rows the
index does not hold yet.

A :class:`~vecnest.lexical.LexicalSearcher` is made once per snapshot, the first time a lexical
or hybrid search runs on it: from the index the catalog names (refreshed to its latest commit),
the snapshot's ``n_slots`` and ``alive``, and the snapshot's rows past the index's ``upto``
(the *pending* rows, read from the catalog in a read pinned to the snapshot's version and
analysed with the index's analyser). Statistics count the snapshot's live documents only, so a
search reflects every committed write and deletion exactly, however far behind the index's
maintenance is. The pending rows' analysis is kept between snapshots and extended with the rows
appended since, so a search after a write pays for the new rows only.

An index of another segment generation (after a compaction) or another analyser, or a damaged
one, is not used: every row is pending until maintenance rebuilds it.
"""

from __future__ import annotations

import functools
import logging
import threading

import numpy as np

from vecnest.errors import LexicalIndexError
from vecnest.lexical.analyzer import Analyzer, AnalyzerConfig
from vecnest.lexical.index import LexicalIndex
from vecnest.lexical.maintain import read_lexical_dir
from vecnest.lexical.postings import Part, build_part, merge_parts
from vecnest.lexical.search import IndexState, LexicalSearcher
from vecnest.search.snapshot import Reader, Snapshot
from vecnest.store.rows import Rows

log = logging.getLogger("vecnest")


class LexicalView:
    """Lexical searchers for the snapshots of one collection (see module docstring).

    Args:
        rows: the collection's rows.
        config: its analyser configuration.
    """

    def __init__(self, rows: Rows, config: AnalyzerConfig) -> None:
        self.rows = rows
        self.config = config
        self._index: tuple[str, LexicalIndex] | None = None
        #: (generation, upto, n_slots, part): the analysed rows [upto, n_slots) of a snapshot
        self._pending: tuple[int, int, int, Part] | None = None
        self._lock = threading.Lock()

    @functools.cached_property
    def analyzer(self) -> Analyzer:
        """The analyser, built at the first lexical search, not when the collection opens
        (building it imports tantivy: ~5 ms of a new process's first dense search otherwise).
        Its configuration is validated when the collection opens; an analyser that fails to
        build (tantivy missing) raises at each lexical search."""
        return Analyzer(self.config)

    def searcher(self, snap: Snapshot, read: Reader) -> LexicalSearcher:
        """The snapshot's lexical searcher (made on first use, then kept with the snapshot).

        Args:
            snap: the snapshot.
            read: a read transaction pinned to the snapshot's version (raises if it changed).
        """
        found = snap.lexical
        if found is not None:
            return found
        with self._lock:
            if snap.lexical is not None:
                return snap.lexical
            with read() as conn:
                index = self._current(read_lexical_dir(conn, self.rows.cid), snap.generation)
                upto = min(index.upto, snap.n_slots) if index is not None else 0
                pending = self._pending_rows(conn, snap, upto)
            if index is not None:
                searcher = index.searcher(n_slots=snap.n_slots, alive=snap.alive, pending=pending)
            else:
                searcher = LexicalSearcher(IndexState.of([], 0), self.analyzer, n_slots=snap.n_slots, alive=snap.alive, pending=pending)
            snap.lexical = searcher
            return searcher

    def _current(self, name: str | None, generation: int) -> LexicalIndex | None:
        """The index named ``name``, at its latest commit, if usable for ``generation``."""
        if name is None:
            return None
        cached = self._index
        try:
            if cached is None or cached[0] != name:
                cached = (name, LexicalIndex.open(self.rows.segments_dir / name))
                self._index = cached
            else:
                cached[1].refresh()
        except (LexicalIndexError, OSError, ValueError) as exc:
            log.warning("vecnest: lexical index %s of collection %r unusable (%s); scoring every row until it is rebuilt", name, self.rows.name, exc)
            self._index = None
            return None
        index = cached[1]
        return index if index.generation == generation and index.config == self.config else None

    def _pending_rows(self, conn: object, snap: Snapshot, upto: int) -> Part | None:
        """The snapshot's live rows at slots ``>= upto``, analysed (extending the last ones)."""
        if upto >= snap.n_slots:
            return None
        since, base = upto, None
        cached = self._pending
        if cached is not None and cached[0] == snap.generation and cached[1] == upto and cached[2] <= snap.n_slots:
            since, base = cached[2], cached[3]
        rows = conn.execute(  # type: ignore[attr-defined]
            f"SELECT slot, text FROM {self.rows.table} WHERE slot >= ? ORDER BY slot", (since,)
        ).fetchall()
        part = base
        if rows:
            fresh = build_part(np.asarray([r[0] for r in rows], dtype=np.int64), self.analyzer.analyze_batch([r[1] for r in rows]))
            part = fresh if base is None or not base.n_docs else merge_parts([base, fresh])
        if part is None:
            return None
        self._pending = (snap.generation, upto, snap.n_slots, part)
        return part if part.n_docs else None
