"""``vecnest check``: verify a store against its own records, and repair what can be repaired.

What is checked (each in :mod:`vecnest.store.verify` unless said otherwise):

* the catalog: SQLite's ``PRAGMA integrity_check``; the manifest and format versions;
* each collection: its stored configuration; its documents against its committed row count;
  its vector segment's size against the committed rows (never a symlink); the CRC-32 of every
  committed batch (rows written before checksums existed are reported as unverified);
* derived data, through the :class:`DerivedCheck` each kind registers (the approximate index:
  :mod:`vecnest.index.verify`): present, loadable, of the configured kind and dimension, and
  consistent with the live rows;
* files: every file in ``segments/`` is named by the catalog, or is a leftover (temporary files
  of interrupted writes, files of dropped collections, derived files the catalog no longer
  names), or is of a kind vecnest does not know and leaves alone.

``repair=True`` then, per collection and under its maintenance lock where files are touched:
re-embeds lost or changed vectors from the stored texts (when the collection has an encoder and
every affected document a text; otherwise the loss is reported and nothing is touched), sweeps
leftovers, cuts uncommitted segment tails, and rebuilds damaged derived data; then checks again,
and reports the second check with the repairs made. Acknowledged documents are never deleted or
changed, except a damaged vector replaced by its re-embedding.

Extension: a new kind of derived data (a lexical index, compressed code tiers) implements
:class:`DerivedCheck` and adds an instance to ``vecnest.database.DERIVED_CHECKS`` (the tuple
:meth:`vecnest.Database.check` runs; :func:`check_store` takes any sequence, for tests). Its files must follow :mod:`vecnest.store.layout`
(``c<cid>.<kind>…``) and be written under the collection's maintenance lock, so a sweep never
removes a file still being written.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vecnest.config import CollectionConfig
from vecnest.errors import CorruptStoreError, VecnestError
from vecnest.store.catalog import Catalog, docs_table
from vecnest.store.files import MaintenanceLock
from vecnest.store.layout import SegmentsEntry, lock_name, segment_name
from vecnest.store.report import CheckReport, CollectionReport, Finding, Severity
from vecnest.store.rows import RowState, Rows
from vecnest.store import repair as fix
from vecnest.store.verify import (
    FileVerdict,
    VectorDamage,
    check_catalog,
    check_config,
    check_manifest,
    check_rows,
    classify,
    list_segments,
    root_leftovers,
)

log = logging.getLogger("vecnest")


@dataclass(frozen=True)
class CollectionContext:
    """What a derived check sees of one collection (valid during :meth:`DerivedCheck.check`).

    Attributes:
        cid: the collection's id; its files are named ``c<cid>.*``.
        name: its name.
        config: its stored configuration.
        state: its committed row state.
        conn: the read transaction the check runs in (the catalog state below).
        segments_dir: the folder of its files.
        live_slots: ``(n_live,) int64`` sorted slots of its documents.
    """

    cid: int
    name: str
    config: CollectionConfig
    state: RowState
    conn: sqlite3.Connection
    segments_dir: Path
    live_slots: np.ndarray


class DerivedCheck(Protocol):
    """The check and repair of one kind of derived data (rebuildable from the catalog and the
    segments). Implementations are stateless and shared by every collection."""

    #: the kind's name, used as the ``part`` of its findings (``ann_index``, ``lexical``, ...)
    name: str

    def owns(self, entry: SegmentsEntry) -> bool:
        """Whether a file in ``segments/`` is of this kind (whether or not the catalog names
        it): a file of a known kind that the catalog does not name is a leftover to sweep."""

    def referenced(self, ctx: CollectionContext) -> set[str]:
        """The file names in ``segments/`` the catalog names for this collection."""

    def check(self, ctx: CollectionContext) -> list[Finding]:
        """Findings about this collection's derived data (``damaged`` when it must be rebuilt;
        an ``ok`` finding saying what was verified)."""

    def repair(self, collection: Any) -> Finding:
        """Rebuild this collection's derived data from its rows (``collection`` is the
        :class:`vecnest.Collection`); returns a finding with ``repaired=True``."""


class CheckedStore(Protocol):
    """What the check needs of an open store (a :class:`vecnest.Database`)."""

    root: Path
    segments_dir: Path
    catalog: Catalog

    def repair_target(self, name: str, models: Mapping[str, Any]) -> tuple[Any, Callable[[list[str]], np.ndarray] | None]:
        """``(collection, embed)`` for repairs: the :class:`vecnest.Collection`, and a function
        embedding document texts as the collection does (``None`` if it has no encoder)."""


@dataclass
class _Plan:
    """What one collection's check found that a repair can act on."""

    cid: int
    name: str
    findings: list[Finding] = field(default_factory=list)
    documents: int = 0
    damage: VectorDamage = VectorDamage()
    sweep: bool = False  # leftover files to remove
    tail: bool = False  # uncommitted bytes past the segment's committed rows
    derived: list[str] = field(default_factory=list)  # derived kinds found damaged
    lock_link: bool = False  # the maintenance lock file is a symlink


@dataclass
class _Inspection:
    store: list[Finding]
    collections: list[_Plan]
    root_sweep: list[Path]
    dropped: dict[int, list[str]]
    stray_rows: bool


def check_store(
    store: CheckedStore, derived: Sequence[DerivedCheck], *, repair: bool, models: Mapping[str, Any] | None = None
) -> CheckReport:
    """Check (and with ``repair`` repair) the store; see the module docstring."""
    first = _inspect(store, derived)
    if not repair:
        return _report(store, first, {}, [], repair=False)
    store_actions: list[Finding] = []
    if first.root_sweep:
        store_actions.append(_attempt("files", fix.remove_root_leftovers, store.root, first.root_sweep))
    if first.stray_rows:
        store_actions.append(_attempt("catalog", _in_write, store, fix.remove_stray_rows))
    for cid in sorted(first.dropped):
        store_actions.append(_attempt("files", fix.remove_dropped, store.segments_dir, cid, store.catalog.lock_timeout))
    actions = {}
    for plan in first.collections:
        try:
            actions[plan.cid] = _repair_collection(store, derived, plan, models or {})
        except (VecnestError, OSError) as exc:  # the second check reports what is left
            actions[plan.cid] = [Finding("files", Severity.DAMAGED, f"repair stopped: {exc}")]
    second = _inspect(store, derived)
    return _report(store, second, actions, store_actions, repair=True)


def _attempt(part: str, repair: Callable[..., Finding], *args: Any) -> Finding:
    """Run one store-level repair; a failure becomes a finding (the second check says what is left)."""
    try:
        return repair(*args)
    except (VecnestError, OSError) as exc:
        return Finding(part, Severity.DAMAGED, f"repair failed: {exc}")


def _in_write(store: CheckedStore, repair: Callable[[sqlite3.Connection], Finding]) -> Finding:
    with store.catalog.write() as conn:
        return repair(conn)


def _repair_collection(store: CheckedStore, derived: Sequence[DerivedCheck], plan: _Plan, models: Mapping[str, Any]) -> list[Finding]:
    """The repairs of one collection, in an order where each builds on the last: its lock file,
    its vectors, its leftovers and tail, then its derived data (rebuilt from the vectors)."""
    if not (plan.damage.any or plan.sweep or plan.tail or plan.derived or plan.lock_link):
        return []
    out: list[Finding] = []
    try:
        collection, embed = store.repair_target(plan.name, models)
    except VecnestError as exc:
        return [Finding("catalog", Severity.LOST, f"cannot open the collection to repair it: {exc}")]
    rows = Rows(store.catalog, store.segments_dir, plan.cid, plan.name, collection.dim)
    if plan.lock_link:
        out.append(fix.unlink_lock_link(store.segments_dir, plan.cid))
    restored = False
    if plan.damage.any:
        found = fix.restore_vectors(rows, embed)
        restored = found.repaired and found.severity is Severity.LOST  # vectors rewritten
        out.append(found)
    if plan.sweep:
        lock = MaintenanceLock(store.segments_dir / lock_name(plan.cid))
        with lock.hold(store.catalog.lock_timeout) as got:
            if got:
                entries = [e for e in list_segments(store.segments_dir) if e.cid == plan.cid]
                with store.catalog.read() as conn:
                    verdicts = _files(store, derived, conn, plan, entries)
                names = [v.entry.name for v in verdicts if v.sweep]
                if names:
                    out.append(fix.remove_files(store.segments_dir, names))
    if plan.tail:
        out.append(fix.cut_tail(rows))
    for check in derived:
        if check.name in plan.derived or restored:
            try:
                out.append(check.repair(collection))
            except (VecnestError, OSError, RuntimeError) as exc:
                out.append(Finding(check.name, Severity.DAMAGED, f"rebuilding it failed: {exc}"))
    return out


def _report(
    store: CheckedStore, seen: _Inspection, actions: dict[int, list[Finding]], store_actions: list[Finding], *, repair: bool
) -> CheckReport:
    return CheckReport(
        root=str(store.root),
        repair=repair,
        store=CollectionReport(None, 0, tuple(seen.store + store_actions)),
        collections=tuple(
            CollectionReport(p.name, p.documents, tuple(p.findings + actions.get(p.cid, []))) for p in seen.collections
        ),
    )


def _inspect(store: CheckedStore, derived: Sequence[DerivedCheck]) -> _Inspection:
    entries = list_segments(store.segments_dir)  # listed before the catalog is read: a file of a
    by_cid: dict[int | None, list[SegmentsEntry]] = defaultdict(list)  # collection made later is
    for e in entries:  # never taken for a dropped collection's
        by_cid[e.cid].append(e)
    with store.catalog.read() as conn:
        findings = check_catalog(conn) + check_manifest(store.root, conn)
        rows = conn.execute("SELECT cid, name, config FROM collections ORDER BY cid").fetchall()
        stray = _stray_rows(conn)
    root_findings, root_sweep = root_leftovers(store.root)
    findings += root_findings
    if stray:
        findings.append(Finding("catalog", Severity.NOTE, f"{stray} catalog record(s) of dropped collections; --repair removes them"))
    live = {int(r[0]) for r in rows}
    dropped = {cid: [e.name for e in es] for cid, es in by_cid.items() if cid is not None and cid not in live}
    for cid, names in sorted(dropped.items()):
        findings.append(Finding("files", Severity.NOTE, f"{len(names)} file(s) of dropped collection #{cid}; --repair removes them"))
    for e in by_cid.get(None, []):
        findings.append(Finding("files", Severity.NOTE, f"segments/{e.name} is of no kind vecnest knows (left alone)"))
    plans = [_inspect_collection(store, derived, int(cid), name, config, by_cid.get(int(cid), [])) for cid, name, config in rows]
    return _Inspection(findings, plans, root_sweep, dropped, bool(stray))


def _stray_rows(conn: sqlite3.Connection) -> int:
    """Catalog records of collections that no longer exist (a crash mid-drop cannot leave
    these, since a drop is one transaction; an older vecnest could)."""
    n = 0
    for table in ("index_state", "batches"):
        n += conn.execute(f"SELECT COUNT(*) FROM {table} WHERE cid NOT IN (SELECT cid FROM collections)").fetchone()[0]
    return int(n)


def _inspect_collection(
    store: CheckedStore, derived: Sequence[DerivedCheck], cid: int, name: str, config_json: str, entries: list[SegmentsEntry]
) -> _Plan:
    plan = _Plan(cid, name)
    lock = MaintenanceLock(store.segments_dir / lock_name(cid))
    with ExitStack() as stack:
        try:
            if store.catalog.read_only and not lock.path.is_symlink() and not lock.path.exists():
                raise OSError("never locked: no maintenance to wait for (and a read-only check creates nothing)")
            got = stack.enter_context(lock.hold(timeout=store.catalog.lock_timeout))
        except CorruptStoreError:  # the lock file is a symlink
            plan.lock_link = True
            plan.findings.append(
                Finding("files", Severity.DAMAGED, f"{lock_name(cid)} is a symlink: maintenance of this collection is refused; --repair removes the link")
            )
        except OSError:  # a read-only folder: nobody can be maintaining this collection
            pass
        else:
            if not got:
                plan.findings.append(Finding("files", Severity.NOTE, "maintenance was running throughout; its files were checked without its lock"))
        _inspect_locked(store, derived, plan, config_json, entries)
    return plan


def _inspect_locked(
    store: CheckedStore, derived: Sequence[DerivedCheck], plan: _Plan, config_json: str, entries: list[SegmentsEntry]
) -> None:
    config, problems = check_config(config_json)
    plan.findings += problems
    if config is None:
        return
    with store.catalog.read() as conn:
        row = conn.execute("SELECT n_slots, generation, version FROM collections WHERE cid = ?", (plan.cid,)).fetchone()
        if row is None:
            plan.findings.append(Finding("catalog", Severity.NOTE, "dropped while being checked"))
            return
        state = RowState(int(row[0]), int(row[1]), int(row[2]))
        table = docs_table(plan.cid)
        seg = store.segments_dir / segment_name(plan.cid, state.generation)
        rows = check_rows(conn, table, state, seg, config.dim, plan.cid)
        plan.findings += rows.findings
        plan.damage, plan.tail = rows.damage, rows.tail_bytes > 0
        live = np.fromiter((r[0] for r in conn.execute(f"SELECT slot FROM {table} ORDER BY slot")), dtype=np.int64)
        plan.documents = len(live)
        ctx = CollectionContext(plan.cid, plan.name, config, state, conn, store.segments_dir, live)
        for check in derived:
            try:
                found = check.check(ctx)
            except (VecnestError, OSError, RuntimeError, ValueError) as exc:
                found = [Finding(check.name, Severity.DAMAGED, f"its check failed: {exc}")]
            plan.findings += found
            if any(f.severity.rank >= Severity.DAMAGED.rank for f in found):
                plan.derived.append(check.name)
        verdicts = _files(store, derived, conn, plan, entries, ctx)
    for verdict in verdicts:
        plan.sweep |= verdict.sweep
        if verdict.finding is not None:
            plan.findings.append(verdict.finding)


def _context(store: CheckedStore, conn: sqlite3.Connection, cid: int, name: str) -> CollectionContext | None:
    """The context of collection ``cid`` in transaction ``conn`` (``None`` if it is gone)."""
    row = conn.execute("SELECT n_slots, generation, version, config FROM collections WHERE cid = ?", (cid,)).fetchone()
    if row is None:
        return None
    config, _ = check_config(row[3])
    if config is None:
        return None
    live = np.fromiter((r[0] for r in conn.execute(f"SELECT slot FROM {docs_table(cid)} ORDER BY slot")), dtype=np.int64)
    state = RowState(int(row[0]), int(row[1]), int(row[2]))
    return CollectionContext(cid, name, config, state, conn, store.segments_dir, live)


def _files(
    store: CheckedStore,
    derived: Sequence[DerivedCheck],
    conn: sqlite3.Connection,
    plan: _Plan,
    entries: list[SegmentsEntry],
    ctx: CollectionContext | None = None,
) -> list[FileVerdict]:
    """The verdicts on one collection's files against what the catalog names in ``conn``."""
    ctx = ctx or _context(store, conn, plan.cid, plan.name)
    if ctx is None:
        return []
    keep = {segment_name(plan.cid, ctx.state.generation)}
    for check in derived:
        try:
            keep |= check.referenced(ctx)
        except (VecnestError, OSError, RuntimeError, ValueError):
            keep |= {e.name for e in entries if check.owns(e)}  # unsure: sweep none of its files
    owned = {e.name for e in entries if any(check.owns(e) for check in derived)}
    return classify(entries, keep, owned)


def rows_of(store: CheckedStore, cid: int, name: str, dim: int) -> Rows:
    """The :class:`Rows` of collection ``cid`` (for repairs)."""
    return Rows(store.catalog, store.segments_dir, cid, name, dim)
