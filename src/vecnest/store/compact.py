"""Compaction: rewrite a collection's segment without its dead rows (a new segment generation).

Deleted and replaced documents leave dead rows in the append-only segment (and in the index,
which skips them with a bitmap). Compaction copies the live rows into ``c<cid>.g<G+1>.f32``
outside the write lock, then, in one write transaction, copies rows appended meanwhile,
renumbers the documents' slots, records the new generation and its batch checksums, and drops
the derived state that referred to old slots (index, image; they are rebuilt by maintenance).
A crash before the commit leaves the old generation in force (the half-written new file is
never named by the catalog and is overwritten by the next compaction); after it, the new one.

Readers holding a snapshot of the old generation keep searching it (its files stay mapped after
they are removed); a reader whose transaction predates the commit finds the old file gone and
retries on the new generation.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from vecnest.store.files import MaintenanceLock, fsync_dir, remove
from vecnest.store.rows import Rows, RowState
from vecnest.store.segments import Segment, checksum

#: Rows copied per chunk (and per checksummed batch) of the new segment.
COPY_CHUNK = 65_536
#: Maintenance compacts by itself once this fraction of a segment's rows is dead ...
AUTO_DEAD_FRACTION = 0.5
#: ... and the segment has at least this many rows.
AUTO_MIN_SLOTS = 10_000


def _live(conn: Any, table: str, below: int | None = None) -> np.ndarray:
    where = "" if below is None else f" WHERE slot < {int(below)}"
    text = conn.execute(f"SELECT json_group_array(slot) FROM (SELECT slot FROM {table}{where} ORDER BY slot)").fetchone()[0]
    return np.asarray(json.loads(text), dtype=np.int64)


def dead_fraction(rows: Rows) -> tuple[int, float]:
    """``(n_slots, fraction of them dead)`` as committed."""
    with rows.catalog.read() as conn:
        n_slots = rows.state(conn).n_slots
        n_live = int(conn.execute(f"SELECT COUNT(*) FROM {rows.table}").fetchone()[0])
    return n_slots, (n_slots - n_live) / n_slots if n_slots else 0.0


def compact(rows: Rows, lock: MaintenanceLock, *, wait: float | None) -> dict[str, Any]:
    """Compact now (see module docstring). Returns what was done: ``{"action": "compacted" |
    "none" | "busy", ...}`` (``busy``: another thread or process held the maintenance lock
    past ``wait`` seconds; ``None``: waits as long as it takes)."""
    start = time.perf_counter()
    with lock.hold(wait) as got:
        if not got:
            return {"action": "busy", "reason": "another thread or process is maintaining this collection"}
        with rows.catalog.read() as conn:
            state = rows.state(conn)
            live = _live(conn, rows.table)
        if len(live) == state.n_slots:
            return {"action": "none", "reason": "no dead rows"}
        old_seg = rows.segment(state.generation)
        new_seg = rows.segment(state.generation + 1)
        remove(new_seg.path)  # left by a compaction that crashed before its commit
        batches: list[tuple[int, int, str]] = []
        source = old_seg.map(state.n_slots)
        written = 0
        for lo in range(0, len(live), COPY_CHUNK):
            part = np.ascontiguousarray(source[live[lo : lo + COPY_CHUNK]], dtype=np.float32)
            new_seg.append(written, part)
            batches.append((written, len(part), checksum(part)))
            written += len(part)
        try:
            result, leftovers = _commit(rows, state, live, old_seg, new_seg, batches, written)
        except BaseException:
            remove(new_seg.path)  # never named by the catalog: the old generation stays in force
            raise
        for path in leftovers:  # (after the commit: anything left is swept by `vecnest check`)
            remove(path)
        fsync_dir(rows.segments_dir)
        result["seconds"] = time.perf_counter() - start
        return result


def _commit(
    rows: Rows,
    state: RowState,
    live: np.ndarray,
    old_seg: Segment,
    new_seg: Segment,
    batches: list[tuple[int, int, str]],
    written: int,
) -> tuple[dict[str, Any], list[Path]]:
    """The write transaction of :func:`compact`; returns its result and the files it orphaned."""
    with rows.write() as conn:
        now = rows.state(conn)
        if now.generation != state.generation:
            remove(new_seg.path)
            return {"action": "none", "reason": "the collection was compacted meanwhile"}
        fresh = np.arange(state.n_slots, now.n_slots, dtype=np.int64)  # appended meanwhile
        fresh = fresh[np.isin(fresh, _live(conn, rows.table), assume_unique=True)] if len(fresh) else fresh
        if len(fresh):
            part = np.ascontiguousarray(old_seg.map(now.n_slots)[fresh], dtype=np.float32)
            new_seg.append(written, part)
            batches.append((written, len(part), checksum(part)))
        old = np.concatenate([live, fresh])
        new = np.arange(len(old), dtype=np.int64)
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS compact_map (old INTEGER PRIMARY KEY, new INTEGER NOT NULL)")
        conn.execute("DELETE FROM compact_map")
        conn.executemany("INSERT INTO compact_map VALUES (?, ?)", zip(old.tolist(), new.tolist(), strict=True))
        # two passes, so no new slot ever collides with an old one still in the table
        conn.execute(f"UPDATE {rows.table} SET slot = -1 - slot")
        conn.execute(
            f"UPDATE {rows.table} SET slot = (SELECT new FROM compact_map WHERE old = -1 - {rows.table}.slot)"
        )
        conn.execute("DROP TABLE compact_map")
        conn.execute("DELETE FROM batches WHERE cid = ?", (rows.cid,))
        conn.executemany(
            "INSERT INTO batches(cid, generation, first_slot, n_rows, checksum) VALUES (?, ?, ?, ?, ?)",
            [(rows.cid, state.generation + 1, first, n, crc) for first, n, crc in batches],
        )
        index = conn.execute("SELECT file FROM index_state WHERE cid = ?", (rows.cid,)).fetchone()
        image = conn.execute("SELECT file FROM image_state WHERE cid = ?", (rows.cid,)).fetchone()
        conn.execute("DELETE FROM index_state WHERE cid = ?", (rows.cid,))
        conn.execute("DELETE FROM image_state WHERE cid = ?", (rows.cid,))
        conn.execute(
            "UPDATE collections SET generation = ?, n_slots = ?, version = version + 1 WHERE cid = ?",
            (state.generation + 1, len(old), rows.cid),
        )
    leftovers = [old_seg.path, *(rows.segments_dir / r[0] for r in (index, image) if r)]
    result = {"action": "compacted", "rows_before": now.n_slots, "rows_after": len(old), "generation": state.generation + 1}
    return result, leftovers
