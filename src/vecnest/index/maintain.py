"""Index maintenance: when to build, merge or rebuild a collection's approximate index, and doing it.

The collection decides nothing here: it hands over a snapshot and the stored index state, gets
back the new index and its calibration, and commits them (file first, then the catalog row), so
a crash at any point leaves either the old index or the new one, never half of one.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vecnest.config import IndexConfig
from vecnest.index.ann import AnnIndex
from vecnest.index.calibrate import Calibration, calibrate
from vecnest.index.flat import FlatIndex

#: Held-out queries for an index's calibration (at most a tenth of the rows): the recall
#: table's standard error at recall@10 ~0.96 is ~0.005 with 256 (~0.01 with 64), which is
#: the margin ``target_recall`` keeps.
CALIBRATION_QUERIES = 256
#: A merge re-measures the calibration once the index has grown by this factor since.
RECALIBRATE_GROWTH = 1.25


@dataclass(frozen=True)
class IndexState:
    """The catalog's record of a collection's index.

    Attributes:
        file: index file name in the segments folder (``None``: no index yet).
        built_upto: slots below this are in the index; the rest is the exact delta.
        calibration: the calibration as stored (JSON text), if any.
    """

    file: str | None = None
    built_upto: int = 0
    calibration: str | None = None


def read_state(conn: sqlite3.Connection, cid: int, *, has_table: bool) -> IndexState:
    """The stored index state of collection ``cid`` (empty on stores from before indexes)."""
    if not has_table:
        return IndexState()
    row = conn.execute(
        "SELECT file, built_upto, calibration FROM index_state WHERE cid = ?", (cid,)
    ).fetchone()
    return IndexState(row[0], int(row[1]), row[2]) if row else IndexState()


def needs_work(cfg: IndexConfig, state: IndexState, *, n_slots: int, n_live: int, indexed_live: int) -> bool:
    """Whether a write left enough to do for an automatic :func:`build_or_merge`: no index yet
    (and ``min_rows`` reached), a delta of ``delta_limit`` rows, or too many dead indexed rows."""
    if n_live < cfg.min_rows:
        return False
    dead = state.built_upto - indexed_live
    stale = n_slots - state.built_upto >= cfg.delta_limit
    return state.file is None or stale or dead > cfg.rebuild_dead_fraction * max(state.built_upto, 1)


def build_or_merge(
    *,
    vectors: np.ndarray,
    alive: np.ndarray,
    live_slots: np.ndarray,
    current: AnnIndex | None,
    built_upto: int,
    cal: Calibration | None,
    cfg: IndexConfig,
    l2: bool,
    load_current: Path | None,
    rebuild: bool,
) -> tuple[AnnIndex, Calibration | None, str]:
    """Bring the index up to every live slot; returns ``(index, calibration, action)``.

    Builds from scratch (``"built"`` / ``"rebuilt"``) when there is no index, when asked, or when
    more than ``rebuild_dead_fraction`` of the indexed rows are dead (so churn never rots the
    graph); otherwise merges the delta into a private copy of the current index (``"merged"``),
    re-measuring the calibration once the index grew by :data:`RECALIBRATE_GROWTH` (a bulk load
    merges many deltas; calibrating each would cost more than merging). Calibration queries are
    live rows held out of the index while it is measured, then added.

    Args:
        vectors: ``(n_slots, dim)`` segment map of the snapshot.
        alive: ``(n_slots,) bool`` live slots; ``live_slots`` the same as sorted slots.
        current: the index the snapshot searches (``None``: none yet).
        built_upto: slots below this are in ``current``.
        cal: ``current``'s calibration.
        load_current: ``current``'s file, read again in memory to be extended.
    """
    n_slots = vectors.shape[0]
    rng = np.random.default_rng(n_slots)
    flat = FlatIndex(vectors, alive, l2=l2)
    dead = built_upto - int(alive[:built_upto].sum()) if current is not None else 0
    if current is None or load_current is None or rebuild or dead > cfg.rebuild_dead_fraction * max(current.ntotal, 1):
        action = "built" if current is None else "rebuilt"
        n_held = max(1, min(CALIBRATION_QUERIES, len(live_slots) // 10))
        held = np.sort(rng.choice(live_slots, size=n_held, replace=False))
        rest = np.setdiff1d(live_slots, held, assume_unique=True)
        ann = AnnIndex.build(np.asarray(vectors[rest]), rest, cfg, l2=l2)
        cal = calibrate(ann, flat, rest, held, rng=rng)
        ann.add(np.asarray(vectors[held]), held)
        return ann, cal, action
    ann = AnnIndex.load(load_current, cfg, l2=l2, mmap=False)
    fresh = built_upto + np.flatnonzero(alive[built_upto:])
    after = int(alive[:built_upto].sum()) + len(fresh)
    grown = cal is None or after >= RECALIBRATE_GROWTH * max(cal.n_indexed, 1)
    if grown and len(fresh) >= CALIBRATION_QUERIES // 2:  # fresh rows are the held-out queries
        held = rng.choice(fresh, size=min(CALIBRATION_QUERIES, len(fresh)), replace=False)
        cal = calibrate(ann, flat, live_slots[live_slots < built_upto], held, rng=rng)
    ann.add(np.asarray(vectors[fresh]), fresh)
    return ann, cal, "merged"
