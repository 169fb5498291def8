"""Keeping a collection's snapshot image fresh (see :mod:`vecnest.search.image`): the
maintenance worker rewrites it after writes once it covers too little of the collection."""

from __future__ import annotations

import json

from vecnest.search.image import IMAGE_MIN_ROWS, REFRESH_FRACTION, fields_to_keep, read_image_state, save_image
from vecnest.search.reader import SnapshotSource
from vecnest.store.files import MaintenanceLock, publish, remove, storage_error, token
from vecnest.store.rows import Rows


class ImageMaintainer:
    """Keeps one collection's image fresh (run by the maintenance worker after writes).

    Args:
        rows: the collection's rows.
        source: its snapshot source (the image is written from a current snapshot).
        lock: the collection's maintenance lock.
        declared: fields the user asked to index (always imaged).
    """

    def __init__(self, rows: Rows, source: SnapshotSource, lock: MaintenanceLock, declared: tuple[str, ...]) -> None:
        self.rows = rows
        self.source = source
        self.lock = lock
        self.declared = declared

    def needed(self) -> bool:
        """Whether the image is missing or stale enough to rewrite (a few cheap SQL reads)."""
        with self.rows.catalog.read() as conn:
            state = self.rows.state(conn)
            image = read_image_state(conn, self.rows.cid)
            if image is not None and image.file in self.source.damaged:
                return True
            n_live = int(conn.execute(f"SELECT COUNT(*) FROM {self.rows.table}").fetchone()[0])
            if n_live < IMAGE_MIN_ROWS:
                return False
            if image is None or image.generation != state.generation or image.epoch != self.rows.metadata_epoch(conn):
                return True
            grown = state.n_slots - image.n_slots
            dead = image.n_live - int(
                conn.execute(f"SELECT COUNT(*) FROM {self.rows.table} WHERE slot < ?", (image.n_slots,)).fetchone()[0]
            )
        return grown + dead > REFRESH_FRACTION * max(image.n_live, 1)

    def refresh(self, *, wait: float | None) -> str | None:
        """Write a new image of the current state; returns its file name (``None``: skipped)."""
        with self.lock.hold(wait) as got:
            if not got:
                return None
            snap = self.source.current()
            if snap.n_live < IMAGE_MIN_ROWS:
                return None
            with self.rows.catalog.read() as conn:
                if self.rows.state(conn).version != snap.version:
                    return None  # changed meanwhile: the next write's job writes it
                old = read_image_state(conn, self.rows.cid)
                wanted = set(self.declared) | set(snap._columns) | (set(old.fields) if old else set())
                fields = fields_to_keep(conn, self.rows.table, wanted)
                columns = {f: snap._column(f, conn) for f in fields}
            name = f"c{self.rows.cid}.image.{snap.n_slots}.{token()}.arrays"
            path = self.rows.segments_dir / name
            tmp = path.with_name(name + ".tmp")
            try:
                save_image(tmp, snap.live_slots, snap.ids[snap.live_slots], snap.n_slots, columns)
            except OSError as exc:
                remove(tmp)
                raise storage_error(exc, f"write image {name}") from None
            publish(tmp, path)
            try:
                with self.rows.catalog.write() as conn:
                    if self.rows.state(conn).generation != snap.generation:
                        raise LookupError("generation changed")
                    conn.execute(
                        "INSERT OR REPLACE INTO image_state(cid, file, version, generation, epoch, n_slots, n_live, fields) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (self.rows.cid, name, snap.version, snap.generation, snap.metadata_epoch,
                         snap.n_slots, snap.n_live, json.dumps(sorted(columns))),
                    )
            except BaseException:
                remove(path)
                raise
            if old is not None and old.file != name:
                remove(self.rows.segments_dir / old.file)
                self.source.damaged.pop(old.file, None)
            return name

    def run_if_needed(self) -> None:
        """The background job."""
        if self.needed():
            self.refresh(wait=0)
