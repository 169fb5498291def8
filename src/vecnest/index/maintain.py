"""Index maintenance: when to build, merge or rebuild a collection's approximate index, and doing it.

:class:`IndexMaintainer` runs after commits (from the background worker, or ``optimize()``): it
takes the collection's maintenance lock (one merge at a time across threads and processes),
builds the new index from a snapshot without holding the write lock, writes it under a fresh
file name, and commits the catalog row in a short write transaction — so a crash at any point
leaves the old index or the new one, never half of one, and two optimizers never write the same
file. The file it replaced is removed once the catalog no longer names it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from vecnest.config import IndexConfig
from vecnest.errors import CollectionNotFoundError
from vecnest.index.ann import AnnIndex
from vecnest.index.calibrate import Calibration, calibrate
from vecnest.index.flat import FlatIndex
from vecnest.index.state import IndexState, index_file_name, read_state
from vecnest.search.reader import SnapshotSource
from vecnest.store.files import MaintenanceLock, remove, token
from vecnest.store.layout import lock_name
from vecnest.store.rows import Rows

log = logging.getLogger("vecnest")

#: Held-out queries for an index's calibration (at most a tenth of the rows): the recall
#: table's standard error at recall@10 ~0.96 is ~0.0025 with 1,024 (~0.005 with 256, ~0.01
#: with 64), and ``target_recall`` keeps twice it as its margin. The whole ladder is measured
#: on 256 of them, the values around the default target on all (see ``calibrate.precise``).
CALIBRATION_QUERIES = 1024
#: A merge re-measures the calibration on the fresh rows only when there are this many.
RECALIBRATE_MIN_FRESH = 128
#: A merge re-measures the calibration once the index has grown by this factor since.
RECALIBRATE_GROWTH = 1.25
#: Once writes pause, a delta of at least this many rows (and a tenth of ``delta_limit``) is
#: merged rather than scanned exactly by every search until the next writes.
IDLE_MIN_ROWS = 1_000


def idle_delta(cfg: IndexConfig) -> int:
    """The delta worth merging once writes pause (see :func:`needs_work`): a tenth of
    ``delta_limit``, at least 1,000 rows (a smaller one costs searches less than a merge costs),
    at most ``delta_limit``."""
    return min(cfg.delta_limit, max(IDLE_MIN_ROWS, cfg.delta_limit // 10))


def needs_work(cfg: IndexConfig, state: IndexState, *, n_slots: int, n_live: int, indexed_live: int, idle: bool = False) -> bool:
    """Whether a write left enough to do for an automatic :func:`build_or_merge`: no index yet
    (and ``min_rows`` reached), a delta of ``delta_limit`` rows (``idle``: writes paused, of
    :func:`idle_delta` rows), or too many dead indexed rows."""
    if n_live < cfg.min_rows:
        return False
    dead = state.built_upto - indexed_live
    stale = n_slots - state.built_upto >= (idle_delta(cfg) if idle else cfg.delta_limit)
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
    path: Path | None = None,
) -> tuple[AnnIndex, Calibration | None, str]:
    """Bring the index up to every live slot; returns ``(index, calibration, action)``.

    Builds from scratch (``"built"`` / ``"rebuilt"``) when there is no index, when asked, or when
    more than ``rebuild_dead_fraction`` of the indexed rows are dead (so churn never rots the
    graph); otherwise merges the delta into a private copy of the current index (``"merged"``),
    re-measuring the calibration once the index grew by :data:`RECALIBRATE_GROWTH` (a bulk load
    merges many deltas; calibrating each would cost more than merging). Calibration queries are
    live rows held out of the index while it is measured, then added.

    Args:
        vectors: ``(n_slots, dim)`` segment map of the snapshot (a private one, released when
            the build is done: only the exact scans the calibration times read through it).
        path: the segment's file, which the build and the calibration's exact answers read
            with positioned reads instead (see :func:`vecnest.store.rowio.blocks`).
        alive: ``(n_slots,) bool`` live slots; ``live_slots`` the same as sorted slots.
        current: the index the snapshot searches (``None``: none yet).
        built_upto: slots below this are in ``current``.
        cal: ``current``'s calibration.
        load_current: ``current``'s file, read again into memory to be extended (snapshots
            keep searching ``current``, which is never modified).
    """
    n_slots = vectors.shape[0]
    rng = np.random.default_rng(n_slots)
    flat = FlatIndex(vectors, alive, l2=l2, path=path)
    dead = built_upto - int(alive[:built_upto].sum()) if current is not None else 0
    if current is None or rebuild or dead > cfg.rebuild_dead_fraction * max(current.ntotal, 1):
        action = "built" if current is None else "rebuilt"
        n_held = max(1, min(CALIBRATION_QUERIES, len(live_slots) // 10))
        held = np.sort(rng.choice(live_slots, size=n_held, replace=False))
        rest = np.setdiff1d(live_slots, held, assume_unique=True)
        ann = AnnIndex.build(vectors, rest, cfg, l2=l2, path=path, spare=len(held))  # (the held rows join it after)
        cal = dataclasses.replace(calibrate(ann, flat, rest, held, rng=rng), lineage=token())
        ann.add(vectors, held, path=path)
        return ann, cal, action
    if load_current is None:
        raise ValueError("load_current is required to extend an index")
    ann = AnnIndex.load(load_current, cfg, l2=l2, mmap=False)
    fresh = built_upto + np.flatnonzero(alive[built_upto:])
    after = int(alive[:built_upto].sum()) + len(fresh)
    grown = cal is None or after >= RECALIBRATE_GROWTH * max(cal.n_indexed, 1)
    if grown and len(fresh) >= RECALIBRATE_MIN_FRESH:  # fresh rows are the held-out queries
        held = rng.choice(fresh, size=min(CALIBRATION_QUERIES, len(fresh)), replace=False)
        # (the same graph grown: what searches learned on it still applies, see search.effort)
        lineage = cal.lineage if cal is not None and cal.lineage else token()
        cal = dataclasses.replace(calibrate(ann, flat, live_slots[live_slots < built_upto], held, rng=rng), lineage=lineage)
    ann.add(vectors, fresh, path=path)
    return ann, cal, "merged"


class IndexMaintainer:
    """Keeps one collection's approximate index up to date (see module docstring).

    Args:
        rows: the collection's rows.
        source: its snapshot source (the maintainer reads snapshots and hands it new indexes).
        config: its index configuration (not exact).
    """

    def __init__(
        self, rows: Rows, source: SnapshotSource, config: IndexConfig, *, l2: bool, lock: MaintenanceLock | None = None
    ) -> None:
        self.rows = rows
        self.source = source
        self.config = config
        self.l2 = l2
        self.lock = lock or MaintenanceLock(rows.segments_dir / lock_name(rows.cid))

    def needed(self, *, idle: bool = False) -> bool:
        """Whether the catalog shows work for an automatic merge (cheap: a few SQL counts;
        ``idle``: for the merge once writes pause, see :func:`needs_work`)."""
        cfg = self.config
        with self.rows.catalog.read() as conn:
            state_rows = self.rows.state(conn)
            state = read_state(conn, self.rows.cid)
            if state.file is not None and state.file in self.source.damaged:
                return True
            # the indexed live rows: all less those past the index (a whole-table COUNT(*) reads
            # page headers of the smallest index; one bounded below a slot reads every row's page)
            n_live = int(conn.execute(f"SELECT COUNT(*) FROM {self.rows.table}").fetchone()[0])
            fresh = int(
                conn.execute(f"SELECT COUNT(*) FROM {self.rows.table} WHERE slot >= ?", (state.built_upto,)).fetchone()[0]
            )
            indexed_live = n_live - fresh
        return needs_work(cfg, state, n_slots=state_rows.n_slots, n_live=n_live, indexed_live=indexed_live, idle=idle)

    def run_if_needed(self, *, idle: bool = False) -> dict[str, Any] | None:
        """The background job: merge if there is work (``idle``: as once writes pause) and
        nobody else is merging (nothing to do, and nothing to retry, once the collection was
        dropped); returns what :meth:`optimize` did, or ``None``."""
        try:
            if self.needed(idle=idle):
                return self.optimize(rebuild=False, wait=0)
        except CollectionNotFoundError:
            return None
        return None

    def delta(self) -> int:
        """Rows appended since the index was last built or merged (one catalog read); 0 while
        there is no index (nothing to merge into: its first build waits for ``min_rows``, and
        a compacted collection's is rebuilt whole)."""
        with self.rows.catalog.read() as conn:
            n_slots = self.rows.state(conn).n_slots
            state = read_state(conn, self.rows.cid)
            return 0 if state.file is None else max(0, n_slots - state.built_upto)

    def optimize(self, *, rebuild: bool, wait: float | None) -> dict[str, Any]:
        """Build, merge or rebuild the index now (see ``Collection.optimize``).

        Args:
            rebuild: build from scratch.
            wait: seconds to wait for another optimizer of this collection (``None``: as long
                as it takes; ``0``: give up at once); answers ``{"action": "busy"}`` once it gave up.
        """
        start = time.perf_counter()
        with self.lock.hold(wait) as got:
            if not got:
                return {"action": "busy", "reason": "another thread or process is optimizing this collection"}
            snap, state = self.source.load_with(lambda conn: read_state(conn, self.rows.cid))
            if snap.n_live < self.config.min_rows:
                if rebuild and state.file is not None:  # asked to rebuild, too few rows for an index
                    self._discard(state)
                    return {"action": "dropped", "reason": f"{snap.n_live} rows < min_rows {self.config.min_rows}"}
                return {"action": "none", "reason": f"{snap.n_live} rows < min_rows {self.config.min_rows}"}
            current = snap.ann  # None if there is none yet or it is damaged
            dead = state.built_upto - int(snap.alive[: state.built_upto].sum())
            if (
                not rebuild
                and current is not None
                and state.built_upto == snap.n_slots
                and dead <= self.config.rebuild_dead_fraction * max(state.built_upto, 1)
            ):
                return {"action": "none", "reason": "the index already covers every row"}
            current = self.source.usable_ann(snap)  # (loaded now: one opened lazily may prove damaged)
            # a private map of the segment for the build, released with it: the pages the
            # calibration's timed exact scans read do not stay resident in the searches' map
            segment = self.rows.segment(snap.generation)
            try:
                vectors, seg_path = segment.map(snap.n_slots), segment.path
            except FileNotFoundError:  # (gone meanwhile: the snapshot's own map still reads it)
                vectors, seg_path = snap.flat.vectors, None
            ann, cal, action = build_or_merge(
                vectors=vectors,
                path=seg_path,
                alive=snap.alive,
                live_slots=snap.live_slots,
                current=current,
                built_upto=state.built_upto if current is not None else 0,
                cal=state.parsed_calibration(),
                cfg=self.config,
                l2=self.l2,
                load_current=self.rows.segments_dir / state.file if current is not None and state.file else None,
                rebuild=rebuild,
            )
            del vectors
            built = time.perf_counter() - start
            name = index_file_name(self.rows.cid, self.config.kind.value, snap.n_slots, token())
            path = self.rows.segments_dir / name
            ann.save(path)
            try:
                with self.rows.catalog.write() as conn:
                    self.rows.state(conn)  # still there?
                    if read_state(conn, self.rows.cid) != state:
                        raise _Superseded
                    conn.execute(
                        "INSERT OR REPLACE INTO index_state(cid, file, built_upto, n_indexed, calibration) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (self.rows.cid, name, snap.n_slots, ann.ntotal, json_or_none(cal)),
                    )
                    self.rows.bump(conn)
            except (_Superseded, CollectionNotFoundError) as exc:
                remove(path)
                if isinstance(exc, CollectionNotFoundError):
                    raise
                return {"action": "none", "reason": "the index was changed by another writer meanwhile"}
            except BaseException:
                remove(path)
                raise
            if state.file and state.file != name:
                remove(self.rows.segments_dir / state.file)
                self.source.damaged.pop(state.file, None)
            return {
                "action": action,
                "rows_indexed": ann.ntotal,
                "rows_added": int(snap.alive[state.built_upto :].sum()) if action == "merged" else ann.ntotal,
                "build_seconds": built,
                "total_seconds": time.perf_counter() - start,
                "calibration": cal.to_json() if cal else None,
            }


    def _discard(self, state: IndexState) -> None:
        """Forget the index (its catalog row, then its file); the caller holds the lock."""
        with self.rows.catalog.write() as conn:
            if read_state(conn, self.rows.cid) != state:
                return
            conn.execute("DELETE FROM index_state WHERE cid = ?", (self.rows.cid,))
            self.rows.bump(conn)
        if state.file:
            remove(self.rows.segments_dir / state.file)
            self.source.damaged.pop(state.file, None)


class _Superseded(Exception):
    """Another optimizer committed an index between our snapshot and our commit."""


def json_or_none(cal: Calibration | None) -> str | None:
    """A calibration as stored in the catalog."""
    import json

    return json.dumps(cal.to_json()) if cal else None
