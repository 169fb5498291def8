"""A collection's compression tiers in its store: the catalog's record of them, and keeping them
up to date after writes (run by the maintenance worker).

A collection declaring ``compression="binary-rot192/asym > int8 > float32"`` keeps its tier files
in its own folder ``segments/c<cid>.tiers/`` (immutable files under fresh names, one manifest
per published state; see :mod:`vecnest.compress.storage`). The catalog table ``tier_state``
names the current manifest and the rows it codes; it is updated in a short write transaction
after the files are published, so a crash leaves the old state or the new one, never a mix.
Rows past the codes are scanned exactly with float32 (see :class:`TieredIndex`), so searches
never wait for this; files of replaced states are removed after the switch (readers holding an
older state keep their open files).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np

from vecnest.compress import storage
from vecnest.compress.maintain import Action, TierState, bring_up_to_date
from vecnest.compress.spec import parse_pipeline
from vecnest.config import CollectionConfig
from vecnest.errors import TierIntegrityError
from vecnest.store.files import MaintenanceLock
from vecnest.store.rows import Rows

log = logging.getLogger("vecnest")


def tiers_dir(segments_dir: Path, cid: int) -> Path:
    """The folder of a collection's tier files."""
    return segments_dir / f"c{int(cid)}.tiers"


def read_tier_state(conn: sqlite3.Connection, cid: int) -> TierState:
    """The recorded tier state of collection ``cid`` (empty if none)."""
    try:
        row = conn.execute("SELECT manifest, upto FROM tier_state WHERE cid = ?", (cid,)).fetchone()
    except sqlite3.OperationalError:  # a store from before tiers
        return TierState()
    return TierState(row[0], int(row[1])) if row else TierState()


class TierMaintainer:
    """Keeps one collection's tiers current (see module docstring).

    Args:
        rows: the collection's rows.
        pipeline: the declared pipeline.
        l2: the collection's metric is L2.
        lock: its maintenance lock.
    """

    def __init__(self, rows: Rows, pipeline: str, *, l2: bool, lock: MaintenanceLock) -> None:
        self.rows = rows
        self.pipeline = pipeline
        self.l2 = l2
        self.lock = lock
        self.directory = tiers_dir(rows.segments_dir, rows.cid)

    def run_if_needed(self, *, force: Action | None = None, wait: float | None = 0) -> str:
        """Build or extend the tiers if the catalog's state asks for it; returns what was done."""
        with self.lock.hold(wait) as got:
            if not got:
                return "busy"
            with self.rows.catalog.read() as conn:
                state_rows = self.rows.state(conn)
                state = read_tier_state(conn, self.rows.cid)
                vectors = self.rows.segment(state_rows.generation).map(state_rows.n_slots)
                text = conn.execute(f"SELECT json_group_array(slot) FROM {self.rows.table}").fetchone()[0]
            alive = np.zeros(state_rows.n_slots, dtype=bool)
            alive[np.asarray(json.loads(text), dtype=np.int64)] = True
            self.directory.mkdir(exist_ok=True)
            try:
                new, action, reason = bring_up_to_date(
                    self.directory, self.pipeline, state, vectors, alive=alive, l2=self.l2,
                    generation=state_rows.generation, force=force,
                )
            except TierIntegrityError:  # the recorded state is damaged: build afresh
                new, action, reason = bring_up_to_date(
                    self.directory, self.pipeline, TierState(), vectors, alive=alive, l2=self.l2,
                    generation=state_rows.generation, force=Action.BUILD,
                )
            if action is Action.NONE:
                return reason
            with self.rows.catalog.write() as conn:
                now = self.rows.state(conn)
                if now.generation != state_rows.generation:
                    return "the collection was compacted meanwhile; the next run rebuilds"
                conn.execute(
                    "INSERT OR REPLACE INTO tier_state(cid, manifest, upto) VALUES (?, ?, ?)",
                    (self.rows.cid, new.manifest, new.upto),
                )
                self.rows.bump(conn)
            storage.remove_unreferenced(self.directory, keep=[new.manifest] if new.manifest else [])
            return f"{action.value}: {reason}"


def set_compression(rows: Rows, config: CollectionConfig, pipeline: str | None) -> CollectionConfig:
    """Record a new compression pipeline in the collection's manifest (``None``: none, and the
    tier record is dropped); returns the new configuration. Maintenance then builds the tiers."""
    normal = None if pipeline is None else str(parse_pipeline(pipeline, config.dim))
    new = replace(config, compression=normal)
    with rows.write() as conn:
        conn.execute("UPDATE collections SET config = ? WHERE cid = ?", (json.dumps(new.to_json()), rows.cid))
        if normal is None:
            conn.execute("DELETE FROM tier_state WHERE cid = ?", (rows.cid,))
        rows.bump(conn)
    return new
