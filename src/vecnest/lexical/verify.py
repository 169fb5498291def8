"""The check and repair of a collection's lexical index (a :class:`~vecnest.store.check.DerivedCheck`).

The catalog's ``lexical_state`` row names the index folder (``c<cid>.lex.<token>``); the folder's
manifest says what it covers. The check opens it, and compares it with the catalog's committed
state (:meth:`vecnest.lexical.LexicalIndex.check`, deep): the analyser configured for the
collection, the segment generation, every live row below ``upto`` present, no live row recorded
as deleted, nothing past the committed rows. Rows past ``upto`` are a note (searches score them
as pending rows; maintenance adds them). A failure is ``damaged``: searches bypass a folder
they cannot open (every row is then scored as pending), and the repair rebuilds it.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from vecnest.errors import LexicalIndexError
from vecnest.lexical.analyzer import AnalyzerConfig
from vecnest.lexical.index import LexicalIndex
from vecnest.lexical.maintain import LexicalMaintainer, has_text, read_lexical_dir
from vecnest.store.catalog import docs_table
from vecnest.store.check import CollectionContext
from vecnest.store.layout import SegmentsEntry
from vecnest.store.report import Finding, Severity

_FOLDER = re.compile(r"lex\.[0-9a-f]+")


class LexicalIndexCheck:
    """The lexical index's :class:`~vecnest.store.check.DerivedCheck`."""

    name = "lexical"

    def owns(self, entry: SegmentsEntry) -> bool:
        """Lexical index folders (``c<cid>.lex.<token>``)."""
        return _FOLDER.fullmatch(entry.rest) is not None

    def referenced(self, ctx: CollectionContext) -> set[str]:
        """The folder the catalog names, if any."""
        name = read_lexical_dir(ctx.conn, ctx.cid)
        return {name} if name else set()

    def check(self, ctx: CollectionContext) -> list[Finding]:
        """See the module docstring."""
        if ctx.config.lexical is None:
            return []
        name = read_lexical_dir(ctx.conn, ctx.cid)
        if name is None:
            if ctx.state.n_slots and has_text(ctx.conn, docs_table(ctx.cid)):
                return [Finding(self.name, Severity.NOTE, "no lexical index built yet (lexical searches score every row until it is)")]
            return []
        try:
            index = LexicalIndex.open(ctx.segments_dir / name)
        except (LexicalIndexError, OSError, ValueError) as exc:
            return [self._damaged(f"lexical index {name} cannot be opened: {str(exc)[:200]}")]
        alive = np.zeros(ctx.state.n_slots, dtype=bool)
        alive[ctx.live_slots] = True
        report = index.check(
            n_slots=ctx.state.n_slots,
            alive=alive,
            config=AnalyzerConfig.from_json(ctx.config.lexical),
            generation=ctx.state.generation,
            deep=True,
        )
        if not report.ok:
            return [self._damaged(f"lexical index {name}: " + "; ".join(report.problems))]
        out = [Finding(self.name, Severity.OK, f"lexical index of {index.upto} slots agrees with the catalog ({report.unpurged_deleted} deleted documents not purged yet)")]
        if report.pending:
            out.append(Finding(self.name, Severity.NOTE, f"{report.pending} newer rows not indexed yet (scored as pending rows; maintenance adds them)"))
        return out

    def repair(self, collection: Any) -> Finding:
        """Rebuild the index into a fresh folder from the catalog's rows."""
        maintainer: LexicalMaintainer | None = collection._maint.lexical
        if maintainer is None:
            return Finding(self.name, Severity.NOTE, "no lexical index configured", repaired=True)
        with collection._store.catalog.read() as conn:
            name = read_lexical_dir(conn, collection.cid)
        if name is not None:  # a damaged folder is not reused: the catch-up builds a fresh one
            maintainer.discard(name)
        what = maintainer.catch_up(wait=None)
        return Finding(self.name, Severity.DAMAGED, f"rebuilt the lexical index ({what})", repaired=True)

    def _damaged(self, what: str) -> Finding:
        return Finding(self.name, Severity.DAMAGED, f"{what}; --repair rebuilds it")

