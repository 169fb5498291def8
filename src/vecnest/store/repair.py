"""The repairs ``vecnest check --repair`` makes, one primitive each (the check decides which).

None of them deletes or changes an acknowledged document: they remove files and catalog records
nothing refers to, cut bytes past a segment's committed rows, rewrite a manifest from the
catalog, and rewrite lost or changed vectors from their documents' stored texts.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import stat
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from vecnest._version import __version__
from vecnest.errors import VecnestError
from vecnest.store.files import MaintenanceLock, fsync_dir, open_nofollow, remove, storage_error
from vecnest.store.layout import lock_name
from vecnest.store.manifest import CATALOG_NAME, FORMAT_VERSION, create_manifest
from vecnest.store.report import Finding, Severity
from vecnest.store.rows import Rows
from vecnest.store.segments import map_file
from vecnest.store.verify import check_rows, list_segments

Embed = Callable[[list[str]], np.ndarray]


@contextmanager
def folder_lock(root: Path) -> Iterator[None]:
    """The exclusive ``flock`` on a store folder that store creation holds."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def remove_root_leftovers(root: Path, paths: list[Path]) -> Finding:
    """Remove temporary manifests (under the folder lock, so none being written)."""
    with folder_lock(root):
        for path in paths:
            remove(path)
        fsync_dir(root)
    return Finding("files", Severity.NOTE, f"removed {len(paths)} temporary manifest file(s)", repaired=True)


def remove_stray_rows(conn: sqlite3.Connection) -> Finding:
    """Delete catalog records of collections that no longer exist (inside a write transaction)."""
    n = 0
    for table in ("index_state", "batches"):
        n += conn.execute(f"DELETE FROM {table} WHERE cid NOT IN (SELECT cid FROM collections)").rowcount
    return Finding("catalog", Severity.NOTE, f"removed {n} catalog record(s) of dropped collections", repaired=True)


def remove_dropped(segments_dir: Path, cid: int, timeout: float) -> Finding:
    """Remove the files of dropped collection ``cid`` under its maintenance lock (cids are
    never reused, so nothing can be writing new ones once its optimizer is gone)."""
    lock = MaintenanceLock(segments_dir / lock_name(cid))
    if lock.path.is_symlink():
        lock.path.unlink()  # a planted link: removed, never followed
    with lock.hold(timeout) as got:
        if not got:
            return Finding("files", Severity.NOTE, f"files of dropped collection #{cid} are busy (maintenance still running): left for now")
        names = [e.name for e in list_segments(segments_dir) if e.cid == cid and not e.is_lock]
        for name in names:
            remove(segments_dir / name)
    remove(lock.path)
    fsync_dir(segments_dir)
    return Finding("files", Severity.NOTE, f"removed {len(names)} file(s) of dropped collection #{cid}", repaired=True)


def remove_files(segments_dir: Path, names: list[str]) -> Finding:
    """Remove leftover files of a live collection (the caller holds its maintenance lock)."""
    for name in names:
        remove(segments_dir / name)
    fsync_dir(segments_dir)
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return Finding("files", Severity.NOTE, f"removed {len(names)} leftover file(s): {shown}", repaired=True)


def unlink_lock_link(segments_dir: Path, cid: int) -> Finding:
    """Remove a symlink planted as a collection's lock file (the link only, never its target)."""
    path = segments_dir / lock_name(cid)
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            path.unlink()
    except FileNotFoundError:
        pass
    return Finding("files", Severity.DAMAGED, f"removed the symlink {path.name} (its target was not touched)", repaired=True)


def cut_tail(rows: Rows) -> Finding:
    """Cut the bytes past the committed rows (under the write lock: no write is appending)."""
    with rows.write() as conn:
        state = rows.state(conn)
        seg = rows.segment(state.generation)
        before = seg.disk_bytes()
        seg.truncate(state.n_slots)
        cut = before - seg.disk_bytes()
    return Finding("segment", Severity.NOTE, f"cut {cut} uncommitted bytes past the committed rows", repaired=True)


def restore_vectors(rows: Rows, embed: Embed | None) -> Finding:
    """Rewrite the lost or changed vectors of one collection from its documents' texts.

    Runs in one write transaction: the damage is measured again there (no writer can change it
    meanwhile), the live documents of every damaged slot range are re-embedded (dead slots get
    zeros: nothing can read them), the rows are written in place and flushed, the checksums of
    the batches they belong to are recomputed from the rewritten file, and the collection's
    version is bumped so every snapshot reloads.

    Returns:
        A repaired finding, or a ``lost`` one naming what could not be restored (then nothing
        was written).
    """
    with rows.write() as conn:
        state = rows.state(conn)
        seg = rows.segment(state.generation)
        damage = check_rows(conn, rows.table, state, seg.path, rows.dim, rows.cid).damage
        if not damage.any:
            return Finding("segment", Severity.NOTE, "no lost vectors left to restore", repaired=True)
        if not damage.ranges:  # a link where an empty segment would be: remove the link only
            seg.path.unlink()
            return Finding("segment", Severity.DAMAGED, f"removed the symlink {seg.path.name} (its target was not touched)", repaired=True)
        if embed is None or damage.live_without_text:
            why = (
                "the collection has no encoder to re-embed with (pass the model: db.check(repair=True, models={name: encoder}))"
                if embed is None
                else f"{damage.live_without_text} of them have no stored text"
            )
            return Finding(
                "segment",
                Severity.LOST,
                f"cannot restore the vectors of {damage.live} live document(s): {why}. Restore the segment "
                "from a backup, or delete and re-add those documents",
            )
        if damage.link:
            seg.path.unlink()  # the link only; its target is never touched
        written = live = 0
        created = not seg.path.exists()
        fd = open_nofollow(seg.path, os.O_RDWR | os.O_CREAT)
        try:
            for first, end in damage.ranges:
                block = np.zeros((end - first, rows.dim), dtype="<f4")
                found = conn.execute(
                    f"SELECT slot, text FROM {rows.table} WHERE slot >= ? AND slot < ? ORDER BY slot", (first, end)
                ).fetchall()
                if found:
                    block[[s - first for s, _ in found]] = embed([t for _, t in found])
                data = memoryview(np.ascontiguousarray(block)).cast("B")
                done = 0
                while done < len(data):
                    done += os.pwrite(fd, data[done:], first * rows.dim * 4 + done)
                written += end - first
                live += len(found)
            os.fsync(fd)
        except OSError as exc:
            raise storage_error(exc, f"rewrite rows of {seg.path.name}") from None
        finally:
            os.close(fd)
        if created:
            fsync_dir(seg.path.parent)
        _rechecksum(conn, rows, state.generation, state.n_slots, damage.ranges)
        rows.bump(conn)
    return Finding(
        "segment",
        Severity.LOST,
        f"re-embedded the vectors of {live} live document(s) from their stored texts ({written} rows rewritten); "
        "their batches' checksums were recomputed",
        repaired=True,
    )


def _rechecksum(conn: sqlite3.Connection, rows: Rows, generation: int, n_slots: int, ranges: tuple[tuple[int, int], ...]) -> None:
    """Recompute the checksums of the batches overlapping ``ranges`` from the file."""
    raw = map_file(rows.segment(generation).path, n_slots * rows.dim * 4)
    row_bytes = rows.dim * 4
    for first, n in conn.execute(
        "SELECT first_slot, n_rows FROM batches WHERE cid = ? AND generation = ?", (rows.cid, generation)
    ).fetchall():
        if any(first < end and a < first + n for a, end in ranges):
            crc = f"{zlib.crc32(raw[first * row_bytes : (first + n) * row_bytes]):08x}"
            conn.execute(
                "UPDATE batches SET checksum = ? WHERE cid = ? AND generation = ? AND first_slot = ?",
                (crc, rows.cid, generation, first),
            )


def rewrite_manifest(root: Path) -> bool:
    """Rewrite an unreadable manifest from the catalog's own record of the format version.

    Returns ``False`` (touching nothing) unless ``root`` holds a readable SQLite catalog that
    records a format version this vecnest reads.
    """
    path = root / CATALOG_NAME
    if not path.is_file() or path.is_symlink():
        return False
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False
    if row is None or not str(row[0]).isdigit() or not 1 <= int(row[0]) <= FORMAT_VERSION:
        return False
    with folder_lock(root):
        try:
            create_manifest(root, __version__)
        except (OSError, VecnestError):
            return False
    return True
