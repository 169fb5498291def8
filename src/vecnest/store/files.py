"""Files of a store beside the catalog: safe creation, publication, locking and removal.

The rules every file vecnest writes follows (see ../shared/STYLE.md, "Patterns that keep a store
honest"):

* **never followed**: files are opened with ``O_NOFOLLOW`` and the store's folders must be real
  folders, so a symlink planted inside a store cannot make vecnest truncate, overwrite or delete
  a file elsewhere;
* **names never reused**: a derived file (an index, later lexical postings and code tiers) gets
  a fresh random token in its name, so two writers never write the same file and a reader never
  maps a file that is being replaced;
* **published atomically**: write a temporary file, fsync it, rename it into place, fsync the
  folder — a crash leaves the old file or the new one, never half of one;
* **removed only when unreferenced**: a file the catalog no longer names may still be mapped by
  a reader (harmless on POSIX: the mapping outlives the name) or about to be opened by a reader
  whose transaction predates the change (it then retries on a fresh snapshot).

Maintenance of one collection (merging its index, sweeping its files) is serialised across
threads and processes by an advisory ``flock`` on ``c<cid>.maint.lock``, which the kernel
releases when a process dies.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vecnest.errors import CorruptStoreError, StorageFullError

_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries so a created, renamed or removed file survives a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def token() -> str:
    """A fresh random token for a derived file's name."""
    return secrets.token_hex(6)


def check_real_dir(path: Path, what: str) -> None:
    """Raise unless ``path`` is a folder and not a symlink (a store's own folders)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise CorruptStoreError(
            f"{path} ({what}) must be a real folder inside the store, not a symlink or a file; "
            "vecnest never follows links inside a store. Move the real folder into place"
        )


def open_nofollow(path: Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` that refuses a symlink at ``path`` (typed error instead of following it)."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CorruptStoreError(
                f"{path} is a symlink; vecnest never follows links inside a store (it could "
                "overwrite a file elsewhere). Remove the link"
            ) from None
        raise storage_error(exc, f"open {path}") from None


def storage_error(exc: OSError, doing: str) -> OSError:
    """``exc`` as a typed :class:`StorageFullError` when the disk is full, else unchanged."""
    if exc.errno in _FULL:
        return StorageFullError(
            f"no space left while trying to {doing}: the write was not stored (the store is "
            "unchanged and still valid). Free disk space or raise the quota, then retry"
        )
    return exc


def fsync_file(path: Path) -> None:
    """fsync one file by name (refusing symlinks)."""
    fd = open_nofollow(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp: Path, final: Path) -> None:
    """Make ``tmp`` durable and rename it to ``final`` atomically (then fsync the folder)."""
    try:
        fsync_file(tmp)
        os.replace(tmp, final)
        fsync_dir(final.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise storage_error(exc, f"write {final.name}") from None


def remove(path: Path) -> None:
    """Remove a file or a folder of files if present (never following symlinks)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        for child in path.iterdir():
            remove(child)
        try:
            path.rmdir()
        except OSError:
            pass
    else:
        path.unlink(missing_ok=True)


class MaintenanceLock:
    """The advisory lock serialising one collection's maintenance across threads and processes.

    ``flock`` locks belong to an open file description, so the same process taking it twice
    through two descriptors would conflict with itself; a process-wide thread lock per path
    is taken first.
    """

    _local_locks: dict[str, threading.Lock] = {}
    _guard = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._guard:
            self._thread_lock = self._local_locks.setdefault(str(path), threading.Lock())

    @contextmanager
    def hold(self, timeout: float | None) -> Iterator[bool]:
        """Yield ``True`` while holding the lock, or ``False`` if it was not free within
        ``timeout`` seconds (``0``: do not wait; ``None``: wait as long as it takes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._thread_lock.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
            yield False
            return
        fd = -1
        try:
            fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if deadline is not None and time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(0.02)
            yield True
        finally:
            if fd >= 0:
                os.close(fd)  # releases the flock
            self._thread_lock.release()

    def is_free(self) -> bool:
        """Whether nobody holds the lock now (a moment's answer)."""
        with self.hold(0) as got:
            return got


def folder_bytes(folder: Path, *, recursive: bool = True) -> int:
    """Bytes of the regular files in ``folder`` (and below, if ``recursive``), links not
    followed; a file removed while the folder is listed (a merge replacing an index file, the
    lexical index's own merges) counts 0, where listing then ``stat`` would raise."""
    total = 0
    for root, _, files in os.walk(folder):  # (os.walk skips a folder that vanished)
        for name in files:
            try:
                info = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
        if not recursive:
            break
    return total
