"""The check and repair of a collection's approximate index (a :class:`~vecnest.store.check.DerivedCheck`).

An index is derived data: the catalog's ``index_state`` row names its file, the slots it covers
(``built_upto``) and the rows it holds (``n_indexed``). The check verifies that the file is a
regular file (never a symlink), loads as an index of the configured kind, dimension and metric
holding ``n_indexed`` rows, and holds every live slot below ``built_upto`` exactly once and no
slot at or past it. A failure is ``damaged``: searches already bypass such a file (exact search
answers), and the repair rebuilds the index from the segment with
:meth:`IndexMaintainer.optimize(rebuild=True) <vecnest.index.maintain.IndexMaintainer.optimize>`.
"""

from __future__ import annotations

import os
import stat
from typing import Any

import numpy as np

from vecnest.config import IndexConfig, IndexKind, Metric
from vecnest.errors import CorruptStoreError
from vecnest.index.ann import AnnIndex
from vecnest.index.state import read_state
from vecnest.store.check import CollectionContext
from vecnest.store.layout import SegmentsEntry
from vecnest.store.report import Finding, Severity

#: Slots named in a finding about missing or extra index rows (the rest are counted).
SHOWN_SLOTS = 5


class AnnIndexCheck:
    """The approximate index's :class:`~vecnest.store.check.DerivedCheck`."""

    name = "ann_index"

    def owns(self, entry: SegmentsEntry) -> bool:
        """Index files (``c<cid>.<kind>.<rows>.<token>.faiss``)."""
        return entry.is_index

    def referenced(self, ctx: CollectionContext) -> set[str]:
        """The index file the catalog names, if any."""
        file = read_state(ctx.conn, ctx.cid).file
        return {file} if file else set()

    def check(self, ctx: CollectionContext) -> list[Finding]:
        """See the module docstring."""
        cfg = ctx.config.index or IndexConfig()
        state = read_state(ctx.conn, ctx.cid)
        if state.file is None:
            if cfg.kind is not IndexKind.EXACT and len(ctx.live_slots) >= cfg.min_rows:
                return [Finding(self.name, Severity.NOTE, f"no {cfg.kind.value} index built yet (searches are exact until it is)")]
            return []
        if cfg.kind is IndexKind.EXACT:
            return [Finding(self.name, Severity.NOTE, f"an index {state.file} is recorded for an exact collection (never used)")]
        path = ctx.segments_dir / state.file
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return [self._damaged(f"index file {state.file} named by the catalog is missing")]
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
            return [self._damaged(f"index file {state.file} is a symlink or not a regular file (never followed)")]
        try:
            ann = AnnIndex.load(path, cfg, l2=ctx.config.metric is Metric.L2, mmap=True)
            ann.check(dim=ctx.config.dim, n_indexed=state.n_indexed)
            labels = ann.labels()
        except (RuntimeError, CorruptStoreError, OSError) as exc:
            return [self._damaged(f"index file {state.file} is unusable: {str(exc).splitlines()[0][:200]}")]
        problems = _membership(labels, ctx.live_slots, state.built_upto, ctx.state.n_slots)
        if problems:
            return [self._damaged(f"index file {state.file} disagrees with the catalog: {problems}")]
        delta = ctx.state.n_slots - state.built_upto
        return [
            Finding(
                self.name,
                Severity.OK,
                f"{cfg.kind.value} index of {ann.ntotal} rows covers every live slot below {state.built_upto} ({delta} newer rows searched exactly)",
            )
        ]

    def repair(self, collection: Any) -> Finding:
        """Rebuild the index from the collection's rows (or drop a damaged one when the
        collection has fewer rows than ``min_rows``: it is then searched exactly)."""
        result = collection.optimize(rebuild=True)
        action = result.get("action")
        if action in ("built", "rebuilt"):
            message = f"rebuilt the index from the vectors ({result['rows_indexed']} rows)"
        elif action == "dropped":
            message = "removed the damaged index (too few rows for one: searches are exact)"
        elif (collection.config.index or IndexConfig()).kind is IndexKind.EXACT:
            return Finding(self.name, Severity.NOTE, "no index to rebuild (exact search only)", repaired=True)
        else:
            return Finding(self.name, Severity.DAMAGED, f"could not rebuild the index: {result.get('reason', action)}")
        return Finding(self.name, Severity.DAMAGED, message, repaired=True)

    def _damaged(self, what: str) -> Finding:
        return Finding(self.name, Severity.DAMAGED, f"{what}; searches fall back to exact until --repair rebuilds it")


def _membership(labels: np.ndarray, live_slots: np.ndarray, built_upto: int, n_slots: int) -> str | None:
    """What is wrong with the index's slots (``None`` if nothing): every live slot below
    ``built_upto`` exactly once, nothing at or past it."""
    problems = []
    if built_upto > n_slots:
        problems.append(f"it covers {built_upto} slots but only {n_slots} are committed")
    unique, counts = np.unique(labels, return_counts=True)
    if (counts > 1).any():
        problems.append(f"{int((counts > 1).sum())} slot(s) held twice")
    beyond = unique[(unique < 0) | (unique >= built_upto)]
    if len(beyond):
        problems.append(f"{len(beyond)} row(s) outside slots 0..{built_upto - 1} (e.g. {beyond[:SHOWN_SLOTS].tolist()})")
    covered = live_slots[live_slots < built_upto]
    missing = np.setdiff1d(covered, unique, assume_unique=True)
    if len(missing):
        problems.append(f"{len(missing)} live row(s) below {built_upto} are not in it (e.g. slots {missing[:SHOWN_SLOTS].tolist()})")
    return "; ".join(problems) or None
