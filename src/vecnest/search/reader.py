"""Where searches get their snapshot: loaded once per committed state, validated by a stamp read
*before* the transaction it vouches for, with damaged derived files bypassed.

Freshness rule (the reason this module exists): a search must reflect every write acknowledged
before it began. The shared change count (:meth:`Catalog.stamp`) is read first; a snapshot
loaded in a transaction that began after that read carries it, and is reused while the count is
unchanged. A count read after the transaction began could pair an old snapshot with a newer
count, and that stale snapshot would then be served until the next write.

A derived file named by the catalog may have been replaced (and removed) by a writer after this
reader's transaction began: the load is retried on a fresh transaction. A file that stays
missing, or that cannot be read or does not match the catalog (another dimension, another row
count), is damaged: the snapshot goes without it (exact search still answers, the plan says
why) and the collection is flagged for repair.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from vecnest.config import IndexConfig, IndexKind, Metric
from vecnest.errors import CorruptStoreError, DerivedDataError
from vecnest.index import promotion
from vecnest.index.ann import AnnIndex, IndexUnusable
from vecnest.index.state import IndexState, read_state
from vecnest.search.image import Image, load_image, read_image_state
from vecnest.search import effort, sketch
from vecnest.search import promote
from vecnest.search.sketch import SketchBuffer
from vecnest.search.snapshot import Base, IdBuffer, Snapshot, load_snapshot
from vecnest.store.rows import Rows

log = logging.getLogger("vecnest")

_ATTEMPTS = 6
#: A sketch buffer holding more merged rows than this (and than its delta) starts anew.
_SKETCH_REBASE = 65_536

T = TypeVar("T")


class _Missing(Exception):
    """A file named by the catalog was not there (it may have been replaced meanwhile)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class SnapshotSource:
    """The current snapshot of one collection, shared by every thread of the process.

    Args:
        rows: the collection's rows (catalog + segment access).
        index: the collection's index configuration (``None``: exact only).
        metric: the collection's metric.
    """

    def __init__(
        self, rows: Rows, index: IndexConfig | None, metric: Metric, compression: str | None = None, *, huge_pages: bool = True,
        closed: threading.Event | None = None,
    ) -> None:
        self.rows = rows
        #: copy an HNSW graph that stays current onto huge pages (see :mod:`vecnest.search.promote`)
        self.huge_pages = huge_pages
        #: set when the store closes
        self.closed = closed if closed is not None else threading.Event()
        self.compression = compression
        self._tiers: tuple[str, Any] | None = None  # (manifest, TieredIndex) last opened
        self.catalog = rows.catalog
        self.index = index or IndexConfig()
        self.l2 = metric is Metric.L2
        #: sign sketches rank by angle: only unit vectors (cosine) are ranked by them
        self.sketched = metric is Metric.COSINE
        self._snap: Snapshot | None = None
        #: (file, index, its lineage: IndexState.lineage, the (generation, version) it was read at)
        self._ann: tuple[str, AnnIndex, str | None, tuple[int, int]] | None = None
        #: held while an index file is opened and cached (see :meth:`_index`)
        self._index_lock = threading.Lock()
        self._image: tuple[str, tuple[Image, IdBuffer]] | None = None
        self._sketches: SketchBuffer | None = None
        self._all_sketches: SketchBuffer | None = None
        #: the newest segment generation a snapshot was loaded for: no sketch buffer of an older
        #: one is made or kept (a load racing a compaction would code it again, for nothing)
        self._newest_generation = -1
        self._lock = threading.Lock()
        #: index files found damaged, by name (reported once, rebuilt by maintenance)
        self.damaged: dict[str, str] = {}

    @property
    def cached(self) -> Snapshot | None:
        """The last snapshot loaded (maybe stale: check :meth:`fresh`)."""
        return self._snap

    def fresh(self, snap: Snapshot | None) -> bool:
        """Whether ``snap`` is known current without a catalog read (one memory read)."""
        if snap is None:
            return False
        stamp = self.catalog.stamp()
        return stamp is not None and snap.stamp == stamp

    def current(self) -> Snapshot:
        """The snapshot of the latest committed state."""
        snap = self._snap
        if self.fresh(snap):
            return snap  # type: ignore[return-value]
        return self._retrying(None)

    def load(self, conn: sqlite3.Connection, stamp: int | None) -> Snapshot:
        """The snapshot of the state seen by transaction ``conn``, which began after ``stamp``
        was read (``None``: unknown). Raises ``_Missing`` if a named file vanished."""
        state = self.rows.state(conn)
        snap = self._snap
        if snap is not None and snap.version == state.version and snap.generation == state.generation:
            if stamp is not None and (snap.stamp is None or stamp > snap.stamp):
                snap.stamp = stamp  # nothing changed since before this transaction began
            return snap
        index_state = read_state(conn, self.rows.cid)
        ann, problem = self._index(index_state, (state.generation, state.version))
        segment = self.rows.segment(state.generation)
        try:
            vectors = segment.map(state.n_slots)
        except FileNotFoundError:
            raise _Missing(segment.path.name) from None
        prev = self._snap
        base = (
            prev.as_base()  # (a newer snapshot than this transaction's is no base for it)
            if prev is not None and prev.generation == state.generation and prev.version <= state.version
            else None
        )
        if base is None or base.n_slots > state.n_slots:
            base = self._image_base(conn, state.generation, state.n_slots, state.version)
        snap = load_snapshot(
            conn,
            table=self.rows.table,
            version=state.version,
            generation=state.generation,
            stamp=stamp,
            vectors=vectors,
            l2=self.l2,
            ann=ann,
            built_upto=index_state.built_upto,
            calibration=index_state.parsed_calibration() if ann is not None else None,
            metadata_epoch=self.rows.metadata_epoch(conn),
            base=base,
            segment_path=segment.path,
        )
        snap.index_problem = problem
        if ann is not None and self.sketched and sketch.usable(vectors.shape[1]):
            snap.sketches = self._sketches_for(snap)
            snap.all_sketches, snap.sketch_problem = self._all_sketches_for(snap, segment.path)
        else:
            self._drop_sketches_before(snap.generation)
        if self.compression is not None:
            snap.tiers, snap.tier_problem = self._tiers_for(conn, snap, segment.path)
        with self._lock:
            old = self._snap
            if old is None or (old.generation, old.version) < (snap.generation, snap.version):
                self._snap = snap  # never replace a newer snapshot another thread loaded
        return snap

    def _sketches_for(self, snap: Snapshot) -> SketchBuffer | None:
        """The sketch buffer for ``snap``'s delta: the last one made, unless of an older
        generation, starting past the delta, holding mostly rows merged since, or unable to hold
        the delta under the cap from where it starts (a new one starts at the delta: CHANGES, a
        buffer started long before a delta that outgrew it made every search scan the delta
        exactly while it held codes of rows merged since); ``None`` where a newer generation's
        buffer is held (a load racing a compaction: the older one is neither put back nor coded
        a second time, and the delta is scanned exactly)."""
        lo, hi = snap.built_upto, snap.n_slots
        with self._lock:
            buf = self._sketches
            if self._outdated(snap.generation):
                return None
            if (
                buf is None
                or buf.generation < snap.generation
                or buf.start > lo
                or lo - buf.start > max(_SKETCH_REBASE, hi - lo)
                or not buf.fits(hi)
            ):
                buf = SketchBuffer(snap.generation, lo, snap.flat.vectors.shape[1])
                self._sketches = buf
            return buf

    def _outdated(self, generation: int) -> bool:
        """Whether ``generation`` is older than the newest one a snapshot was loaded for (which
        it records); the caller holds ``_lock``."""
        self._newest_generation = max(self._newest_generation, generation)
        return generation < self._newest_generation

    def _drop_sketches_before(self, generation: int) -> None:
        """Forget the sketch buffers of generations older than ``generation``, the generation of
        a snapshot loaded without an index (after a compaction, until its index is built: CHANGES,
        up to twice the cap stayed held for a generation no snapshot reads), and make none for
        them from now on."""
        with self._lock:
            self._outdated(generation)
            if self._sketches is not None and self._sketches.generation < generation:
                self._sketches = None
            if self._all_sketches is not None and self._all_sketches.generation < generation:
                self._all_sketches = None

    def _all_sketches_for(self, snap: Snapshot, path: Path) -> tuple[SketchBuffer | None, str | None]:
        """The sketch buffer of every slot of ``snap``'s generation (coded on first use, from the
        segment's file, then as rows are appended: see :mod:`vecnest.search.sketch_filter`), and
        ``(None, why)`` where the segment's slots would pass the buffer's cap (the buffer kept
        so far is dropped) or a newer generation's buffer is held (a load racing a compaction:
        the older one is neither put back nor coded a second time)."""
        dim = snap.flat.vectors.shape[1]
        with self._lock:
            buf = self._all_sketches
            if self._outdated(snap.generation):
                return None, "a newer segment generation holds this process's sign sketches"
            if buf is None or buf.generation < snap.generation:
                buf = SketchBuffer(snap.generation, 0, dim, path=path)
            if not buf.fits(snap.n_slots):
                self._all_sketches = None
                need = snap.n_slots * buf.nbytes
                return None, (
                    f"the sign sketches of its {snap.n_slots:,} slots (deleted ones included until compaction) "
                    f"would take {need / 2**20:,.0f} MiB, over the {sketch.MAX_BUFFER_BYTES >> 20} MiB cap"
                )
            self._all_sketches = buf
            return buf, None

    def _tiers_for(self, conn: sqlite3.Connection, snap: Snapshot, segment_path: Path) -> tuple[Any, str | None]:
        """The collection's compression tiers over ``snap`` (``(None, why)`` when unusable: the
        snapshot then scans float32 exactly, as a collection without tiers does)."""
        from vecnest.compress.catalog import read_tier_state, tiers_dir
        from vecnest.compress.searcher import open_tiers

        state = read_tier_state(conn, self.rows.cid)
        if state.manifest is None:
            return None, "no tiers coded yet (they are built from 5,000 rows): scanned in float32"
        alive = None if snap.n_live == snap.n_slots else snap.alive
        cached = self._tiers
        try:
            if cached is not None and cached[0] == state.manifest:
                return cached[1].rebind(snap.flat.vectors, alive, segment_path), None
            tiers = open_tiers(
                tiers_dir(self.rows.segments_dir, self.rows.cid), state.manifest, snap.flat.vectors, alive,
                l2=self.l2, generation=snap.generation, segment_path=segment_path,
            )
        except (DerivedDataError, OSError, ValueError) as exc:
            return None, f"tiers {state.manifest} unusable ({str(exc)[:160]}): scanned in float32 until maintenance rebuilds them"
        self._tiers = (state.manifest, tiers)
        return tiers, None

    def _image_base(self, conn: sqlite3.Connection, generation: int, n_slots: int, version: int) -> Base | None:
        """The collection's image as a snapshot base, if it has a usable one (``exact`` when it
        was written at the collection's ``version``: no row added or deleted since)."""
        state = read_image_state(conn, self.rows.cid)
        if state is None or state.generation != generation or state.n_slots > n_slots or state.file in self.damaged:
            return None
        cached = self._image
        if cached is None or cached[0] != state.file:
            try:
                image = load_image(self.rows.segments_dir / state.file)
                cached = (state.file, (image, IdBuffer.scattered(image.live, image.ids, image.n_slots)))
            except FileNotFoundError:
                return None  # replaced meanwhile: a snapshot without it is as correct
            except (OSError, ValueError, KeyError) as exc:
                self._mark_damaged(state.file, str(exc)[:200])
                return None
            self._image = cached
        image, buffer = cached[1]
        return Base(image.live, buffer, image.n_slots, state.generation, state.epoch, image.columns,
                    exact=state.version == version and state.n_slots == n_slots)

    def _retrying(self, first_missing: str | None) -> Snapshot:
        return self.load_with(lambda conn: None, first_missing)[0]

    def load_with(self, read: Callable[[sqlite3.Connection], T], first_missing: str | None = None) -> tuple[Snapshot, T]:
        """A snapshot loaded from a fresh transaction, and ``read(conn)`` of the same
        transaction; a file that vanished is retried on a fresh transaction, one that stays
        missing is marked damaged (the snapshot goes without it)."""
        missing = first_missing
        for _ in range(_ATTEMPTS):
            stamp = self.catalog.stamp()  # before the transaction
            with self.catalog.read() as conn:
                try:
                    return self.load(conn, stamp), read(conn)
                except _Missing as exc:
                    if exc.name == missing:  # still named by the latest state: it is gone
                        self._mark_damaged(exc.name, "the file is missing")
                        continue
                    missing = exc.name
        raise CorruptStoreError(
            f"collection {self.rows.name!r}: its vector segment {missing} is missing although the "
            f"catalog has committed rows in it. Run `vecnest check --db {self.rows.segments_dir.parent}`"
        )

    def reload(self) -> Snapshot:
        """A snapshot loaded from a fresh transaction (after a pinned read found it stale)."""
        return self._retrying(None)

    def _mark_damaged(self, name: str, why: str) -> None:
        if name not in self.damaged:
            log.warning("vecnest: %s in collection %r is damaged (%s); searching exactly until it is rebuilt", name, self.rows.name, why)
        self.damaged[name] = why

    def index_unusable(self, exc: IndexUnusable) -> None:
        """An index opened lazily proved damaged at its first use (``exc``): mark it, and drop
        the snapshot holding it, so the next snapshot loads without it (exact searches)."""
        self._mark_damaged(exc.name, exc.why)
        with self._index_lock:
            if self._ann is not None and self._ann[0] == exc.name:
                self._ann = None
        with self._lock:
            snap = self._snap
            if snap is not None and snap.ann is not None and snap.ann.file == exc.name:
                self._snap = None

    def usable_ann(self, snap: Snapshot) -> AnnIndex | None:
        """``snap``'s index, loaded (``None``: it has none, or it proved damaged: marked)."""
        ann = snap.ann
        if ann is None:
            return None
        try:
            ann.index  # noqa: B018 -- (loads a lazily opened index)
        except IndexUnusable as exc:
            self.index_unusable(exc)
            return None
        return ann

    def _index(self, state: IndexState, at: tuple[int, int]) -> tuple[AnnIndex | None, str | None]:
        """The approximate index the catalog names in ``state`` (read at catalog ``(generation,
        version)`` ``at``), or ``(None, why not)``.

        One thread at a time opens and caches a file (CHANGES: threads that found their snapshot
        stale together each opened the new file and copied what its predecessor's filters had
        learned; the snapshot kept the first thread's index and the cache the last one's, so what
        was learned through the first was lost at the next write). Only a state at least as new
        as the cached index's replaces it, or clears it (no index named any more: a compaction or
        a drop below ``min_rows``, whose graph and learned efforts must not stay alive)."""
        with self._index_lock:
            cached = self._ann
            newer = cached is None or at >= cached[3]
            if state.file is None or self.index.kind is IndexKind.EXACT:
                if newer:
                    self._ann = None
                return None, None
            why = self.damaged.get(state.file)  # (the maintenance thread pops it once a replacement is committed)
            if why is not None:
                return None, f"index file {state.file} is damaged ({why}): searched exactly until it is rebuilt"
            if cached is not None and cached[0] == state.file:
                return cached[1], None
            path = self.rows.segments_dir / state.file
            try:
                ann = AnnIndex.open(path, self.index, l2=self.l2, dim=self.rows.dim, n_indexed=state.n_indexed)
            except FileNotFoundError:
                raise _Missing(state.file) from None
            except (RuntimeError, CorruptStoreError, OSError) as exc:
                self._mark_damaged(state.file, str(exc).splitlines()[0][:200])
                return None, f"index file {state.file} is damaged: searched exactly until it is rebuilt"
            if not newer:  # (a transaction older than the cached index's: its file, not cached)
                return ann, None
            lineage = state.lineage()
            if cached is not None and cached[2] is not None and cached[2] == lineage:
                # a merge's new file: the same graph, grown (its calibration re-measured or not:
                # each learned effort still holds only within a quarter of the matches, the
                # calibrated effort and the index's rows it was measured at, see search.effort);
                # a rebuild is a new graph: it learns again
                effort.inherit(ann, cached[1])
            self._ann = (state.file, ann, lineage, at)
            if self._promotable(ann):
                promote.PROMOTER.schedule(ann, path, dim=self.rows.dim, n_indexed=state.n_indexed, current=self._is_current)
            return ann, None

    def _promotable(self, ann: AnnIndex) -> bool:
        """Whether ``ann`` may move onto huge pages (see :mod:`vecnest.index.promotion`): huge
        pages allowed, an HNSW graph opened lazily (its file >= 16 MiB)."""
        return self.huge_pages and ann.file is not None and self.index.kind is IndexKind.HNSW

    def _is_current(self, ann: AnnIndex) -> bool:
        """Whether ``ann`` is the index this source serves now (and the store is open)."""
        cached = self._ann
        return not self.closed.is_set() and cached is not None and cached[1] is ann

    def warm(self) -> dict[str, Any]:
        """Load the current snapshot and its index now and, where :attr:`huge_pages` allows, move
        a large HNSW graph onto huge pages now rather than in the background. Returns what was
        done: ``{"index_loaded": bool, "huge_pages_bytes": int}``."""
        snap = self.current()
        ann = self.usable_ann(snap)
        huge = 0
        if ann is not None and self._promotable(ann):
            huge = promotion.promote(
                ann, self.rows.segments_dir / ann.file, dim=self.rows.dim, n_indexed=ann.rows, keep=lambda: self._is_current(ann)
            )
        return {"index_loaded": ann is not None, "huge_pages_bytes": huge}
