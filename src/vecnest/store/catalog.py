"""The catalog: one SQLite database (WAL mode) holding collections, documents and metadata.

SQLite gives vecnest its write-ahead log, atomic multi-row commits and reader snapshots. Every
write runs in one ``BEGIN IMMEDIATE`` transaction, so a call either commits whole or leaves the
store as it was; ``synchronous=FULL`` makes a returned commit durable. The write lock doubles as
the store's single-writer lock: a second writer waits up to ``lock_timeout`` seconds, then gets
:class:`~vecnest.errors.StorageLockedError`. Readers never block and see the snapshot their
transaction began with.

Each collection ``cid`` owns a table ``c<cid>_docs(slot, id, text, metadata)``; ``slot`` is the
row of the document's vector in the collection's segment file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vecnest.errors import ReadOnlyError, StorageLockedError
from vecnest.store.changes import ChangeCounter

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS collections (
    cid INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0,
    n_slots INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS index_state (
    cid INTEGER PRIMARY KEY,
    file TEXT NOT NULL,
    built_upto INTEGER NOT NULL,
    n_indexed INTEGER NOT NULL,
    calibration TEXT
);
"""

#: SQLite caps bound parameters per statement; id lists are sent in chunks of this size.
PARAM_CHUNK = 900


def docs_table(cid: int) -> str:
    """Name of collection ``cid``'s document table."""
    return f"c{int(cid)}_docs"


def chunks(items: Sequence[Any], size: int = PARAM_CHUNK) -> Iterator[Sequence[Any]]:
    """Consecutive slices of ``items`` of at most ``size`` elements."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Catalog:
    """A SQLite connection with vecnest's transaction discipline. Thread-safe (one lock)."""

    def __init__(self, path: Path, *, read_only: bool, lock_timeout: float) -> None:
        self.path = path
        self.read_only = read_only
        self.lock_timeout = lock_timeout
        self._lock = threading.RLock()
        #: commits made through this connection (SQLite's data_version only counts others')
        self.local_commits = 0
        if read_only:
            uri = f"file:{path}?mode=ro"
            self.conn = sqlite3.connect(
                uri, uri=True, isolation_level=None, check_same_thread=False, timeout=lock_timeout
            )
        else:
            self.conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=lock_timeout
            )
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute(f"PRAGMA busy_timeout={int(lock_timeout * 1000)}")
        self.changes = ChangeCounter(Path(f"{path}-changes"), writable=not read_only)
        #: (change count, stamp) at the last PRAGMA data_version whose count was even
        self._validated: tuple[int, tuple[int, int]] | None = None

    def ensure_schema(self) -> None:
        """Add tables introduced after a store was created (additive, format-compatible)."""
        if self.read_only:
            return
        present = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "index_state" not in present:
            self.init_schema_tables()

    def has_table(self, conn: sqlite3.Connection, name: str) -> bool:
        """Whether the catalog has table ``name``."""
        return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None

    def init_schema_tables(self) -> None:
        """Create any missing catalog table."""
        with self.write() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def init_schema(self, format_version: int, created_by: str) -> None:
        """Create the catalog tables of a new store."""
        with self.write() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany(
                "INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
                [("format_version", str(format_version)), ("created_by", created_by)],
            )

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: everything inside sees one consistent snapshot."""
        with self._lock:
            if self.conn.in_transaction:  # nested inside a write or read: reuse it
                yield self.conn
                return
            self.conn.execute("BEGIN")
            try:
                yield self.conn
            finally:
                self.conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: commits (durably) on success, rolls back on any exception."""
        if self.read_only:
            raise ReadOnlyError(
                f"store {self.path.parent} was opened read_only=True; reopen it without "
                "read_only to write"
            )
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                self.changes.make_even()  # a writer killed mid-write left it odd
                self.changes.bump()  # odd: a write is in progress (see store.changes)
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise StorageLockedError(
                        f"another writer holds the lock on store {self.path.parent} for more "
                        f"than lock_timeout={self.lock_timeout} s; vecnest allows one writer at "
                        "a time. Retry later, open with a larger lock_timeout, or open with "
                        "read_only=True to only read"
                    ) from None
                raise
            try:
                try:
                    yield self.conn
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                self.conn.execute("COMMIT")
                self.local_commits += 1
            finally:
                self.changes.bump()  # even: no write in progress

    def stamp(self) -> tuple[int, int]:
        """Changes to the store, ours and other processes', as a cheap comparable value.

        ``PRAGMA data_version`` answers it; the shared change counter (:mod:`vecnest.store.changes`)
        says when the last answer still holds, so a search between writes pays a memory read.
        """
        count = self.changes.value()
        last = self._validated
        if count is not None and last is not None and last[0] == count and not count % 2:
            return last[1]
        with self._lock:
            stamp = int(self.conn.execute("PRAGMA data_version").fetchone()[0]), self.local_commits
            if count is not None and not count % 2:
                self._validated = (count, stamp)  # the count read before the PRAGMA
            return stamp

    def now(self) -> str:
        """UTC timestamp for created_at columns."""
        return datetime.now(UTC).isoformat(timespec="seconds")

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._validated = None
            self.changes.close()
            self.conn.close()

    def disk_bytes(self) -> int:
        """Bytes of the catalog files (database, WAL, shared memory, change counter)."""
        total = 0
        for suffix in ("", "-wal", "-shm", "-changes"):
            try:
                total += Path(str(self.path) + suffix).stat().st_size
            except FileNotFoundError:
                pass
        return total

    def table_bytes(self, conn: sqlite3.Connection, table: str) -> int | None:
        """Bytes of one table and its indexes, from SQLite's ``dbstat`` (``None`` if absent)."""
        try:
            row = conn.execute(
                "SELECT SUM(pgsize) FROM dbstat WHERE name = ? OR name IN "
                "(SELECT name FROM sqlite_master WHERE tbl_name = ?)",
                (table, table),
            ).fetchone()
        except sqlite3.OperationalError:
            return None
        return int(row[0] or 0)
