"""A collection's derived data kept up to date after writes: one job, run by the store's worker.

After every committed write the collection submits :meth:`Maintenance.run` (coalesced per
collection); it compacts a mostly dead segment, merges fresh rows into the approximate index,
catches the lexical index up, and refreshes the snapshot image — each step deciding from the
catalog whether there is work, each under the collection's maintenance lock, none of them ever
raising into the write that caused it (see :mod:`vecnest.store.worker`).
"""

from __future__ import annotations

import logging
from typing import Any

from vecnest._threads import cores, limit_this_thread, maintenance_threads
from vecnest.compress.catalog import TierMaintainer
from vecnest.config import CollectionConfig, IndexConfig, IndexKind, Metric
from vecnest.errors import ReadOnlyError
from vecnest.index.maintain import IndexMaintainer
from vecnest.index.pace import Pacer
from vecnest.lexical.analyzer import AnalyzerConfig
from vecnest.lexical.maintain import LexicalMaintainer
from vecnest.search.image_maintain import ImageMaintainer
from vecnest.search.reader import SnapshotSource
from vecnest.store.compact import AUTO_DEAD_FRACTION, AUTO_MIN_SLOTS, compact, dead_fraction
from vecnest.store.files import MaintenanceLock
from vecnest.store.layout import lock_name
from vecnest.store.handle import StoreHandle
from vecnest.store.rows import Rows

log = logging.getLogger("vecnest")

#: Seconds without writes after which a collection's leftover delta is merged (at least: also
#: twice the last merge's time, so merges after short pauses take at most a third of the time).
SETTLE_AFTER = 1.0


class Maintenance:
    """The derived data of one collection (see module docstring).

    Attributes:
        index: the approximate index's maintainer (``None``: exact collection).
        lexical: the lexical index's maintainer (``None``: no lexical index).
        images: the snapshot image's maintainer.
        lock: the collection's maintenance lock (shared by all of them).
    """

    def __init__(
        self, store: StoreHandle, rows: Rows, source: SnapshotSource, config: CollectionConfig, analyzer: AnalyzerConfig | None
    ) -> None:
        self.store = store
        self.rows = rows
        self.lock = MaintenanceLock(store.segments_dir / lock_name(rows.cid))
        index = config.index or IndexConfig()
        self.index = (
            None if index.kind is IndexKind.EXACT
            else IndexMaintainer(rows, source, index, l2=config.metric is Metric.L2, lock=self.lock)
        )
        self.lexical = LexicalMaintainer(rows, analyzer, self.lock) if analyzer is not None else None
        self.tiers = (
            TierMaintainer(rows, config.compression, l2=config.metric is Metric.L2, lock=self.lock)
            if config.compression is not None else None
        )
        self.images = ImageMaintainer(rows, source, self.lock, config.indexed_fields)
        #: slows writes that outrun the index merges (``None``: exact collection, or no cap)
        self.pacer = (
            Pacer(index.delta_limit, max(index.delta_cap, index.delta_limit))
            if self.index is not None and index.delta_cap is not None else None
        )
        self._key = ("maintain", store.root, rows.cid)
        self._idle_key = ("settle", store.root, rows.cid)
        self._merge_s = 0.0  # how long the last merge took
        self.bulk_depth = 0  # > 0 inside Collection.bulk(): the job waits for its end

    def after_write(self, written: int = 0) -> None:
        """Queue the job after a committed write of ``written`` rows (never raises into the
        write), then hold the call if the write left the index too far behind (see
        :mod:`vecnest.index.pace`)."""
        if self.bulk_depth or self.store.catalog.read_only:
            return
        self.store.worker.submit(self._key, self.run)
        if self.index is not None and self.store.worker.background:  # once writes pause: settle
            self.store.worker.submit(self._idle_key, self.settle, delay=max(SETTLE_AFTER, 2.0 * self._merge_s))
        if written and self.pacer is not None and self.index is not None and self.store.worker.background:
            index = self.index

            def current() -> int:
                try:
                    return index.delta()
                except Exception as exc:  # noqa: BLE001 - the write is committed; pacing is advisory
                    log.debug("vecnest: write pacing skipped: %s", exc)
                    return 0  # (dropped meanwhile): nothing to wait for

            self.pacer.hold(written, current(), current)

    def run(self) -> None:
        """The job: compact a mostly dead segment, merge the index, catch the lexical index up,
        refresh the snapshot image."""
        n_slots, dead = dead_fraction(self.rows)
        if n_slots >= AUTO_MIN_SLOTS and dead >= AUTO_DEAD_FRACTION:
            compact(self.rows, self.lock, wait=0)
        if self.index is not None:
            wide = self.pacer is not None and self.pacer.holding()
            if wide:  # the writer is held for this merge: its core too (this worker thread only)
                limit_this_thread(cores())
            done = None
            try:
                done = self.index.run_if_needed()
            finally:
                if wide:
                    limit_this_thread(maintenance_threads())
                self._merged(done)
        if self.lexical is not None:
            self.lexical.run_if_needed()
        if self.tiers is not None:
            self.tiers.run_if_needed()
        self.images.run_if_needed()

    def settle(self) -> None:
        """The job once writes paused (:data:`SETTLE_AFTER` seconds, or twice the last merge's
        time, after the last one): merge a leftover delta below ``delta_limit`` that every search
        would otherwise scan exactly until the next writes (see ``index.maintain.idle_delta``),
        then refresh the snapshot image."""
        if self.index is None:
            return
        done = self.index.run_if_needed(idle=True)
        self._merged(done)
        if done and done.get("action") == "busy":
            # another thread or process holds the maintenance lock: its merge may predate the
            # rows left over here; look again once it is done
            self.store.worker.submit(self._idle_key, self.settle, delay=max(SETTLE_AFTER, 2.0 * self._merge_s))
            return
        if done:
            self.images.run_if_needed()

    def _merged(self, done: dict[str, Any] | None) -> None:
        if done and done.get("total_seconds") is not None:
            self._merge_s = float(done["total_seconds"])
        if self.pacer is not None:  # a rate to pace by; held writers look again
            self.pacer.merged(int((done or {}).get("rows_added") or 0), float((done or {}).get("total_seconds") or 0.0))

    def end_bulk(self) -> None:
        """At the end of the outermost ``bulk()`` block: merge the index and write the snapshot
        image now, in the calling thread (a failure is logged and retried in the background),
        queue the rest. (The image is what lets the next process open the collection without
        reading every row again; a job left queued would be dropped if the store closed now.)"""
        try:
            if self.index is not None and self.index.needed():
                self.index.optimize(rebuild=False, wait=None)
            if self.images.needed():
                self.images.refresh(wait=None)
        except Exception as exc:  # noqa: BLE001 - the block's writes are committed
            log.warning("vecnest: index merge after bulk() failed, will retry in the background: %s", exc)
        self.after_write()

    def _writable(self, what: str) -> None:
        if self.store.catalog.read_only:
            raise ReadOnlyError(f"store {self.store.root} was opened read_only=True; {what} writes")

    def optimize(self, *, rebuild: bool) -> dict[str, Any]:
        """``Collection.optimize`` (see there): every derived structure brought up to date now,
        in the calling thread (waiting for maintenance another thread or process runs)."""
        self._writable("optimize()")
        if self.index is None:
            out: dict[str, Any] = {"action": "none", "reason": "index kind is exact"}
        else:
            out = self.index.optimize(rebuild=rebuild, wait=None)
        # the rest is reported by stats()/check(), not here: whether it had anything left to do
        # depends on how far the background worker got, and the answer must not
        if self.lexical is not None and self.lexical.needed():
            self.lexical.catch_up(wait=None)
        if self.tiers is not None:
            self.tiers.run_if_needed(wait=None)
        if self.images.needed():
            self.images.refresh(wait=None)
        return out

    def compact(self) -> dict[str, Any]:
        """``Collection.compact`` (see there)."""
        self._writable("compact()")
        result = compact(self.rows, self.lock, wait=None)
        if result["action"] == "compacted":
            self.after_write()
        return result
