"""The catalog: one SQLite database (WAL mode) holding collections, documents and metadata.

SQLite gives vecnest its write-ahead log, atomic multi-row commits and reader snapshots. Every
write runs in one ``BEGIN IMMEDIATE`` transaction, so a call either commits whole or leaves the
store as it was; ``synchronous=FULL`` makes a returned commit durable. The write lock doubles as
the store's single-writer lock: a second writer waits up to ``lock_timeout`` seconds, then gets
:class:`~vecnest.errors.StorageLockedError`.

Concurrency inside a process: every thread reads through its own connection, so searches in
several threads never wait for each other or for a write in progress (WAL readers see the
snapshot their transaction began with). Writes go through one connection, one at a time; a read
made by the thread that holds a write transaction runs inside it and sees its changes.

Each collection ``cid`` owns a table ``c<cid>_docs(slot, id, text, metadata)``; ``slot`` is the
row of the document's vector in the collection's segment file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vecnest.errors import NotAStoreError, ReadOnlyError, StorageFullError, StorageLockedError, StoreClosedError
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
CREATE TABLE IF NOT EXISTS batches (
    cid INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    first_slot INTEGER NOT NULL,
    n_rows INTEGER NOT NULL,
    checksum TEXT NOT NULL,
    PRIMARY KEY (cid, generation, first_slot)
);
CREATE TABLE IF NOT EXISTS image_state (
    cid INTEGER PRIMARY KEY,
    file TEXT NOT NULL,
    version INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    n_slots INTEGER NOT NULL,
    n_live INTEGER NOT NULL,
    fields TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lexical_state (
    cid INTEGER PRIMARY KEY,
    dir TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tier_state (
    cid INTEGER PRIMARY KEY,
    manifest TEXT,
    upto INTEGER NOT NULL
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


class _ThreadConnection:
    """One thread's read connection; closed when the thread ends (its thread-local storage,
    the only strong reference, is dropped then) or when the catalog closes."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass

    def __del__(self) -> None:
        self.close()


def _locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


class Catalog:
    """SQLite connections with vecnest's transaction discipline. Thread-safe.

    Args:
        path: the database file.
        read_only: never write; opens read-only (a store on a read-only folder or mount works).
        lock_timeout: seconds a write waits for another writer's lock.
    """

    def __init__(self, path: Path, *, read_only: bool, lock_timeout: float) -> None:
        self.path = path
        self.read_only = read_only
        self.lock_timeout = lock_timeout
        self._local = threading.local()
        #: each thread's read connection, closed when the thread ends (or at close())
        self._readers: weakref.WeakSet[_ThreadConnection] = weakref.WeakSet()
        self._all_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._writer: threading.Thread | None = None  # the thread inside a write transaction
        self._closed = False
        self._immutable = False
        self._wconn: sqlite3.Connection | None = None
        self.changes = ChangeCounter(Path(f"{path}-changes"), writable=not read_only)
        if not read_only:
            try:
                self._wconn = self._connect()
                self._wconn.execute("PRAGMA journal_mode=WAL")
                self._wconn.execute("PRAGMA synchronous=FULL")
            except (sqlite3.OperationalError, NotAStoreError) as exc:
                self.close()
                if not os.access(path.parent, os.W_OK) or not os.access(path, os.W_OK):
                    raise ReadOnlyError(
                        f"store {path.parent} is on a read-only folder or file system, so it cannot be "
                        "opened for writing; open it with read_only=True to read it"
                    ) from None
                raise self._typed(exc) if isinstance(exc, sqlite3.Error) else exc from None

    # ------------------------------------------------------------------ connections
    def _connect(self) -> sqlite3.Connection:
        timeout = self.lock_timeout
        try:
            if self.read_only:
                conn = self._connect_read_only(timeout)
            else:
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=timeout)
            conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys=OFF")
        except sqlite3.DatabaseError as exc:
            raise NotAStoreError(
                f"{self.path} is not a readable SQLite catalog ({exc}); the store is damaged or "
                "not a vecnest store"
            ) from None
        return conn

    def _connect_read_only(self, timeout: float) -> sqlite3.Connection:
        """A read-only connection; on a read-only folder without a WAL, an immutable one.

        SQLite needs to create ``-shm`` (or find it) to read a WAL database. On a read-only
        folder or mount where the last writer checkpointed and removed its WAL, nothing can
        change the file, so it is opened ``immutable`` (no locks, no shared memory).
        """
        uri = f"file:{self.path}?mode=ro"
        if not self._immutable:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=timeout)
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return conn
            except sqlite3.OperationalError:
                conn.close()
                if Path(f"{self.path}-wal").exists():
                    raise
            self._immutable = True
        return sqlite3.connect(f"{uri}&immutable=1", uri=True, isolation_level=None, check_same_thread=False, timeout=timeout)

    def _reader(self) -> sqlite3.Connection:
        holder = getattr(self._local, "holder", None)
        if holder is None:
            if self._closed:
                raise StoreClosedError(f"store {self.path.parent} was closed; open it again to use it")
            holder = self._local.holder = _ThreadConnection(self._connect())
            with self._all_lock:
                self._readers.add(holder)
        return holder.conn

    # ------------------------------------------------------------------ schema
    def has_table(self, conn: sqlite3.Connection, name: str) -> bool:
        """Whether the catalog has table ``name``."""
        return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None

    def ensure_schema(self) -> None:
        """Add tables introduced after a store was created (additive, format-compatible)."""
        if self.read_only:
            return
        with self.read() as conn:
            present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"index_state", "batches", "image_state", "lexical_state", "tier_state"} <= present:
            self.init_schema_tables()

    def init_schema_tables(self) -> None:
        """Create any missing catalog table."""
        with self.write() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def init_schema(self, format_version: int, created_by: str) -> None:
        """Create the catalog tables of a new store (idempotent: several processes may race)."""
        with self.write() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany(
                "INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
                [("format_version", str(format_version)), ("created_by", created_by)],
            )

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: everything inside sees one consistent snapshot.

        Inside a write transaction of the same thread, the write's connection (and its
        uncommitted changes) is used; a read nested in a read reuses it.
        """
        if self._writer is threading.current_thread():
            yield self._wconn  # type: ignore[misc]
            return
        conn = self._reader()
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: commits (durably) on success, rolls back on any exception."""
        if self.read_only or self._wconn is None:
            raise ReadOnlyError(
                f"store {self.path.parent} was opened read_only=True; reopen it without "
                "read_only to write"
            )
        with self._write_lock:
            if self._closed:
                raise StoreClosedError(f"store {self.path.parent} was closed; open it again to write")
            if self._writer is threading.current_thread():
                raise RuntimeError("nested write transaction")  # a vecnest bug, never user input
            conn = self._wconn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if _locked(exc):
                    raise StorageLockedError(
                        f"another writer holds the lock on store {self.path.parent} for more "
                        f"than lock_timeout={self.lock_timeout} s; vecnest allows one writer at "
                        "a time. Retry later, open with a larger lock_timeout, or open with "
                        "read_only=True to only read"
                    ) from None
                raise self._typed(exc) from None
            self._writer = threading.current_thread()
            try:
                try:
                    self.changes.begin_write()  # odd: a write is in progress (see store.changes)
                    yield conn
                    conn.execute("COMMIT")
                except BaseException as exc:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    if isinstance(exc, sqlite3.Error):
                        typed = self._typed(exc)
                        if typed is not exc:
                            raise typed from None
                    raise
            finally:
                self._writer = None
                self.changes.end_write()  # even: no write in progress

    def _typed(self, exc: sqlite3.Error) -> Exception:
        """``exc`` as vecnest's error when it is a full disk or a read-only file, else itself
        (the transaction is rolled back either way: nothing was stored)."""
        code = getattr(exc, "sqlite_errorcode", None)
        code = None if code is None else code & 0xFF  # the primary code of an extended one
        if code == sqlite3.SQLITE_FULL or "disk is full" in str(exc):
            return StorageFullError(
                f"no space left to commit to {self.path.name}: the write was not stored (the store "
                "is unchanged and still valid). Free disk space or raise the quota, then retry"
            )
        if code == sqlite3.SQLITE_READONLY or "readonly database" in str(exc):
            return ReadOnlyError(
                f"store {self.path.parent} is on a read-only folder or file system: {exc}. Open it "
                "with read_only=True to read it, or make it writable"
            )
        return exc

    def stamp(self) -> int | None:
        """The shared change count if it vouches for "nothing committed since" (even), else
        ``None`` (a write in progress, a dead writer, or no counter): ask the catalog then.

        Read it *before* beginning the read transaction whose snapshot it is to vouch for.
        """
        value = self.changes.value()
        return value if value is not None and not value % 2 else None

    def now(self) -> str:
        """UTC timestamp for created_at columns."""
        return datetime.now(UTC).isoformat(timespec="seconds")

    def close(self) -> None:
        """Close every connection (idempotent). Other threads must have finished their calls."""
        with self._write_lock:
            self._closed = True
            self.changes.close()
            with self._all_lock:
                holders = list(self._readers)
                self._readers = weakref.WeakSet()
            for holder in holders:
                holder.close()
            if self._wconn is not None:
                self._wconn.close()
            self._local = threading.local()

    # ------------------------------------------------------------------ sizes
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
