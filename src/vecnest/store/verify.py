"""The checks of acknowledged data: catalog integrity, manifest, each collection's vectors
against its committed rows and batch checksums, and which files in ``segments/`` are whose.

Pure inspection: nothing here writes (repairs live in :mod:`vecnest.store.repair`). Each check
returns :class:`~vecnest.store.report.Finding` values; what a repair needs to know (which slot
ranges lost their vectors, which files are leftovers) is returned beside them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vecnest.config import CollectionConfig
from vecnest.errors import VecnestError
from vecnest.store.layout import MANIFEST_TMP, ROOT_ENTRIES, SegmentsEntry, parse_entry
from vecnest.store.manifest import FORMAT_VERSION, read_manifest
from vecnest.store.report import Finding, Severity
from vecnest.store.rows import RowState
from vecnest.store.segments import map_file

#: Live documents named in a finding about lost rows (the rest are counted).
SHOWN_IDS = 5


# ---------------------------------------------------------------------------------------------
# the store
# ---------------------------------------------------------------------------------------------


def check_catalog(conn: sqlite3.Connection) -> list[Finding]:
    """SQLite's own ``PRAGMA integrity_check`` over the whole catalog file."""
    try:
        rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        return [Finding("catalog", Severity.LOST, f"SQLite cannot check the catalog: {exc}")]
    if rows == ["ok"]:
        return [Finding("catalog", Severity.OK, "SQLite integrity_check: ok")]
    shown = "; ".join(rows[:3]) + (f" (+{len(rows) - 3} more)" if len(rows) > 3 else "")
    return [Finding("catalog", Severity.LOST, f"SQLite integrity_check failed: {shown}. Restore the catalog from a backup")]


def check_manifest(root: Path, conn: sqlite3.Connection) -> list[Finding]:
    """The manifest is readable and agrees with the catalog's recorded format version."""
    try:
        manifest = read_manifest(root)
    except VecnestError as exc:
        return [Finding("manifest", Severity.DAMAGED, f"{exc}; --repair rewrites it from the catalog")]
    row = conn.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()
    recorded = int(row[0]) if row and str(row[0]).isdigit() else None
    if recorded != manifest["format_version"]:
        return [
            Finding(
                "manifest",
                Severity.NOTE,
                f"the manifest says format_version {manifest['format_version']}, the catalog records {recorded}",
            )
        ]
    return [Finding("manifest", Severity.OK, f"format_version {recorded} (this vecnest reads 1..{FORMAT_VERSION})")]


def root_leftovers(root: Path) -> tuple[list[Finding], list[Path]]:
    """Findings about the store folder's own entries, and the temporary files to sweep."""
    findings: list[Finding] = []
    sweep: list[Path] = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name in ROOT_ENTRIES:
            continue
        if MANIFEST_TMP.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            sweep.append(Path(entry.path))
            findings.append(Finding("files", Severity.NOTE, f"leftover temporary manifest {entry.name}; --repair removes it"))
        else:
            findings.append(Finding("files", Severity.NOTE, f"{entry.name} in the store folder is not vecnest's (left alone)"))
    return findings, sweep


# ---------------------------------------------------------------------------------------------
# one collection's rows
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VectorDamage:
    """Slot ranges of one collection whose stored vectors are lost or changed.

    Attributes:
        ranges: sorted, disjoint ``(first, end)`` slot ranges.
        live: live documents in them.
        live_without_text: those of them that have no stored text (cannot be re-embedded).
        link: the segment path is a symlink (vecnest never follows it; every row is lost).
    """

    ranges: tuple[tuple[int, int], ...] = ()
    live: int = 0
    live_without_text: int = 0
    link: bool = False

    @property
    def any(self) -> bool:
        """Whether anything is damaged."""
        return bool(self.ranges) or self.link


@dataclass
class RowsCheck:
    """What :func:`check_rows` found (findings, and what a repair needs)."""

    findings: list[Finding] = field(default_factory=list)
    damage: VectorDamage = VectorDamage()
    tail_bytes: int = 0  #: bytes past the committed rows (an interrupted write's tail)
    verified_rows: int = 0


def check_config(config_json: str) -> tuple[CollectionConfig | None, list[Finding]]:
    """The collection's stored configuration, parsed (``None`` and a finding if it cannot be)."""
    try:
        config = CollectionConfig.from_json(json.loads(config_json))
    except (ValueError, KeyError, TypeError) as exc:
        return None, [Finding("catalog", Severity.LOST, f"the collection's stored configuration is unreadable: {exc}")]
    if config.format_version > FORMAT_VERSION:
        return config, [
            Finding("catalog", Severity.LOST, f"written by format_version {config.format_version}; this vecnest reads up to {FORMAT_VERSION}")
        ]
    return config, []


def check_rows(
    conn: sqlite3.Connection, table: str, state: RowState, path: Path, dim: int, cid: int
) -> RowsCheck:
    """The documents table against the committed row count, and the segment against both:
    its size, and the CRC-32 of every committed batch that recorded one.

    Args:
        conn: a read transaction.
        table: the collection's documents table.
        state: its committed row state.
        path: its segment file.
        dim: vector dimension.
        cid: the collection's id (its ``batches`` rows).
    """
    out = RowsCheck()
    n_slots, row_bytes = state.n_slots, dim * 4
    count, low, high = conn.execute(f"SELECT COUNT(*), MIN(slot), MAX(slot) FROM {table}").fetchone()
    if count and (low < 0 or high >= n_slots):
        out.findings.append(
            Finding("catalog", Severity.LOST, f"documents point at slots {low}..{high}, outside the {n_slots} committed rows")
        )
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    lost: list[tuple[int, int]] = []
    readable = 0
    if st is not None and stat.S_ISLNK(st.st_mode):
        out.damage = VectorDamage(link=True)
        lost = [(0, n_slots)] if n_slots else []
        what = f"vector segment {path.name} is a symlink, which vecnest never follows"
    elif st is not None and not stat.S_ISREG(st.st_mode):
        lost = [(0, n_slots)] if n_slots else []
        what = f"vector segment {path.name} is not a regular file"
    else:
        size = st.st_size if st is not None else 0
        readable = min(size // row_bytes, n_slots)
        if readable < n_slots:
            lost = [(readable, n_slots)]
        out.tail_bytes = max(size - n_slots * row_bytes, 0)
        what = (
            f"vector segment {path.name} is missing" if st is None
            else f"vector segment {path.name} holds {readable} of {n_slots} committed rows (truncated)"
        )
    if out.damage.link and not lost:  # no committed rows: only the link itself to remove
        out.findings.append(Finding("segment", Severity.DAMAGED, f"{what}; --repair removes the link (never its target)"))
    if out.tail_bytes and not lost:
        out.findings.append(
            Finding("segment", Severity.NOTE, f"{out.tail_bytes} bytes past the committed rows (a write that never committed); the next write or --repair cuts them")
        )
    changed, verified, unverified = _checksums(conn, path, cid, state, readable, row_bytes)
    out.verified_rows = verified
    damage_ranges = _merge(lost + changed)
    if damage_ranges:
        live, no_text, shown = _affected(conn, table, damage_ranges)
        link = out.damage.link
        out.damage = VectorDamage(tuple(damage_ranges), live, no_text, link)
        ids = ", ".join(repr(i) for i in shown) + (", ..." if live > len(shown) else "")
        affected = f"{live} live document(s) lost their vectors" + (f" ({ids})" if live else "")
        if lost:
            out.findings.append(Finding("segment", Severity.LOST, f"{what}: {affected}"))
        if changed:
            rows = sum(b - a for a, b in changed)
            out.findings.append(
                Finding("checksums", Severity.LOST, f"{len(changed)} batch(es) of {rows} rows changed on disk (CRC-32 mismatch)" + ("" if lost else f": {affected}"))
            )
    if not lost and not changed and n_slots:
        out.findings.append(Finding("segment", Severity.OK, f"{n_slots} rows, {verified} verified by checksum"))
    if unverified:
        out.findings.append(
            Finding("checksums", Severity.NOTE, f"{unverified} rows were written before checksums existed (unverified)")
        )
    return out


def _checksums(
    conn: sqlite3.Connection, path: Path, cid: int, state: RowState, readable: int, row_bytes: int
) -> tuple[list[tuple[int, int]], int, int]:
    """``(changed ranges, verified rows, rows with no checksum)`` of the readable prefix."""
    batches = conn.execute(
        "SELECT first_slot, n_rows, checksum FROM batches WHERE cid = ? AND generation = ? ORDER BY first_slot",
        (cid, state.generation),
    ).fetchall()
    covered = np.zeros(state.n_slots, dtype=bool)
    changed: list[tuple[int, int]] = []
    verified = 0
    raw = None
    if readable:
        try:
            raw = map_file(path, readable * row_bytes)
        except (OSError, VecnestError):
            raw = None
    for first, n, crc in batches:
        end = min(first + n, state.n_slots)
        covered[first:end] = True
        if raw is None or first + n > readable:
            continue  # (lost rows are reported as lost)
        if f"{zlib.crc32(raw[first * row_bytes : (first + n) * row_bytes]):08x}" == crc:
            verified += n
        else:
            changed.append((first, first + n))
    return changed, verified, int(state.n_slots - covered.sum())


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _affected(conn: sqlite3.Connection, table: str, ranges: list[tuple[int, int]]) -> tuple[int, int, list[str]]:
    """Live documents in ``ranges``: their count, how many lack a text, the first few ids."""
    live = no_text = 0
    shown: list[str] = []
    for a, b in ranges:
        for doc_id, has_text in conn.execute(
            f"SELECT id, text IS NOT NULL FROM {table} WHERE slot >= ? AND slot < ? ORDER BY slot", (a, b)
        ):
            live += 1
            no_text += not has_text
            if len(shown) < SHOWN_IDS:
                shown.append(doc_id)
    return live, no_text, shown


# ---------------------------------------------------------------------------------------------
# files in segments/
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileVerdict:
    """What one file of a collection is, for the check (see :func:`classify`)."""

    entry: SegmentsEntry
    sweep: bool  #: a leftover vecnest may delete (under the collection's maintenance lock)
    finding: Finding | None  #: ``None`` for a file the catalog names


def classify(entries: list[SegmentsEntry], keep: set[str], derived_kind: set[str]) -> list[FileVerdict]:
    """Sort one collection's files into those the catalog names (``keep``), leftovers that may
    be swept (temporary files, old segment generations, derived files of a known kind that the
    catalog no longer names: ``derived_kind``) and files of unknown kind (left alone)."""
    out: list[FileVerdict] = []
    for e in entries:
        if e.name in keep or e.is_lock:
            out.append(FileVerdict(e, False, None))
        elif e.is_tmp:
            out.append(FileVerdict(e, True, Finding("files", Severity.NOTE, f"leftover temporary file {e.name} (an interrupted write); --repair removes it")))
        elif e.generation is not None or e.name in derived_kind:
            out.append(FileVerdict(e, True, Finding("files", Severity.NOTE, f"orphaned file {e.name}: the catalog no longer names it; --repair removes it")))
        else:
            out.append(FileVerdict(e, False, Finding("files", Severity.NOTE, f"{e.name} is of no kind vecnest knows (left alone)")))
    return out


def list_segments(segments_dir: Path) -> list[SegmentsEntry]:
    """Every entry of ``segments/`` (files, links and anything else), parsed, sorted by name."""
    try:
        names = sorted(os.listdir(segments_dir))
    except FileNotFoundError:
        return []
    return [parse_entry(n) for n in names]
