"""The background maintenance worker: follow-up work after commits, never part of a write's outcome.

A write's outcome is its commit. What it leaves to do (merging fresh rows into an index, later
catching up lexical postings and code tiers) is submitted here as a job keyed by what it
maintains; a key already pending is not queued twice (one merge covers every write since). A
job may also be debounced: submitted with a delay, each submission of its key pushing it back
(work for when writes pause); waiting for the worker runs such a job at once. A
failed job is logged and retried with a growing delay; it never surfaces in the write that
caused it; a job whose collection was dropped meanwhile is discarded (it has nothing left to
do). With ``background=False`` (see :func:`vecnest.open`) jobs run in the writing thread right
after its commit, still without raising.

The worker is one daemon thread per open store, started on first use, joined at ``close()`` and
at interpreter exit (after its running job; pending jobs are dropped — they are redone by the
next write or ``optimize()``, since every job re-derives what is needed from the catalog).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Callable, Hashable

from vecnest._threads import limit_this_thread, maintenance_threads
from vecnest.errors import CollectionNotFoundError

log = logging.getLogger("vecnest")

Job = Callable[[], None]

#: Delays (seconds) before retrying a failed job: 1, 2, 4, ... up to this.
MAX_BACKOFF = 60.0


class Worker:
    """Runs maintenance jobs (see module docstring).

    Args:
        background: run jobs on a daemon thread (``False``: inline, in :meth:`submit`).
        name: thread name suffix (the store's path), for debugging.
    """

    def __init__(self, *, background: bool, name: str) -> None:
        self.background = background
        self.name = name
        self._cv = threading.Condition()
        self._pending: dict[Hashable, Job] = {}
        self._not_before: dict[Hashable, float] = {}
        self._failures: dict[Hashable, int] = {}
        self._debounced: set[Hashable] = set()  # pending keys whose delay a wait() may cut short
        self._running: Hashable | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        _LIVE.add(self)

    def submit(self, key: Hashable, job: Job, *, delay: float = 0.0) -> None:
        """Run ``job`` soon (coalesced with a pending job of the same ``key``), or once
        ``delay`` seconds pass without another submission of ``key`` (debounced: background
        workers only; an inline worker ignores such a job)."""
        if self._closed:
            return
        if not self.background:
            if delay <= 0:
                self._run(key, job)
            return
        with self._cv:
            self._pending[key] = job
            if delay > 0 and (key in self._debounced or key == self._running or key not in self._not_before):  # (not over a retry's backoff)
                self._not_before[key] = time.monotonic() + delay
                self._debounced.add(key)
            thread = self._thread
            if thread is None or not thread.is_alive() or thread.ident is None:  # new, or lost in a fork
                self._thread = threading.Thread(target=self._loop, name=f"vecnest-maintenance:{self.name}", daemon=True)
                self._thread.start()
            self._cv.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no job is pending or running (``True``), or ``timeout`` passes (``False``).

        Jobs waiting out a retry delay count as pending; debounced jobs are made due at once,
        unless ``timeout`` is 0 (a poll must not start work that waits for writes to pause)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            if timeout is None or timeout > 0:
                for key in self._debounced:  # what waits for writes to pause: now
                    self._not_before[key] = 0.0
                self._cv.notify_all()
            while self._pending or self._running is not None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cv.wait(left if left is not None else 1.0)
        return True

    def close(self, timeout: float | None = None) -> None:
        """Stop: drop pending jobs, wait for the running one (up to ``timeout`` seconds)."""
        with self._cv:
            self._closed = True
            self._pending.clear()
            self._debounced.clear()
            self._cv.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread() and thread.is_alive():
            thread.join(timeout)

    def _run(self, key: Hashable, job: Job) -> bool:
        try:
            job()
        except CollectionNotFoundError as exc:  # dropped meanwhile: nothing to do, ever
            log.debug("vecnest: maintenance %r discarded: %s", key, exc)
        except Exception as exc:  # noqa: BLE001 - logged and retried, never raised into a write
            n = self._failures.get(key, 0) + 1
            self._failures[key] = n
            log.warning("vecnest: maintenance %r failed (attempt %d), will retry: %s", key, n, exc, exc_info=log.isEnabledFor(logging.DEBUG))
            return False
        self._failures.pop(key, None)
        return True

    def _loop(self) -> None:
        limit_this_thread(maintenance_threads())  # this thread only: leave a core to searches
        while True:
            with self._cv:
                while True:
                    if self._closed:
                        return
                    now = time.monotonic()
                    ready = [k for k in self._pending if self._not_before.get(k, 0.0) <= now]
                    if ready:
                        key = ready[0]
                        job = self._pending.pop(key)
                        if key in self._debounced:  # (a submission during the run debounces afresh)
                            self._debounced.discard(key)
                            self._not_before.pop(key, None)
                        self._running = key
                        break
                    delays = [self._not_before.get(k, now) - now for k in self._pending]
                    self._cv.wait(min(delays) if delays else None)
            ok = self._run(key, job)
            with self._cv:
                self._running = None
                if ok:
                    if key not in self._debounced:  # (not the delay of a submission during the run)
                        self._not_before.pop(key, None)
                elif not self._closed:
                    delay = min(MAX_BACKOFF, 2.0 ** (self._failures.get(key, 1) - 1))
                    self._not_before[key] = max(self._not_before.get(key, 0.0), time.monotonic() + delay)
                    self._debounced.discard(key)  # (the backoff is not cut short by wait())
                    self._pending.setdefault(key, job)
                self._cv.notify_all()


_LIVE: weakref.WeakSet[Worker] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:  # let a running merge finish before the interpreter tears down
    for worker in list(_LIVE):
        worker.close()
