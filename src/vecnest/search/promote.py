"""Moving a reader's index onto huge pages in the background, once it has stayed current.

A snapshot maps its index file in place (shared page cache: a warm open costs milliseconds, a
cold one no more than reading the file in order), and searches start on that map at once. An
index that is still the collection's current one :data:`DELAY_S` seconds later is copied into
the process's memory on huge pages by one background thread per process
(:func:`vecnest.index.promotion.promote`: ~50 ms for a 78 MB graph read from the page cache,
the GIL released while FAISS reads), and searches move to the copy: 10-15 % less time per HNSW
walk on the 74k arXiv titles. An index that a merge replaced within the delay, or by the time
its copy is ready, is never swapped in (under steady ingestion each merge's file would
otherwise be copied in turn, for nothing); one that no search has loaded yet (a lazily opened
index) is looked at again later, less and less often, as long as it stays current.

Nothing is held alive for it: the queue keeps weak references, and the thread ends when the
queue is empty (it stays, waking at most every 2 minutes, while a current index waits for its
first search). A forked child keeps the queue (its inherited indexes' jobs) with a thread of its
own. One promotion per index, successful or not (see :func:`vecnest.index.promotion.promote`).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

from vecnest.index import promotion
from vecnest.index.ann import AnnIndex

log = logging.getLogger("vecnest")

#: Seconds an index must stay the collection's current one before it is copied.
DELAY_S = 5.0
#: The longest wait between two looks at an index that no search has loaded yet.
_MAX_WAIT_S = 120.0


class Promoter:
    """The process's queue of indexes to promote and the thread that works through it."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def schedule(
        self, ann: AnnIndex, path: Path, *, dim: int, n_indexed: int, current: Callable[[AnnIndex], bool], delay: float | None = None
    ) -> None:
        """Promote ``ann`` (opened from ``path``) ``delay`` seconds from now (default
        :data:`DELAY_S`) if ``current(ann)`` still holds then and when its copy is ready. Holds
        weak references only; never raises (a speed-up never fails a search)."""
        wait = DELAY_S if delay is None else delay
        ref = weakref.ref(ann)
        owner = getattr(current, "__self__", None)
        check = weakref.WeakMethod(current) if owner is not None else (lambda: current)  # type: ignore[arg-type]

        def wanted() -> AnnIndex | None:
            target, still = ref(), check()
            return target if target is not None and still is not None and still(target) else None

        def job(pause: float) -> None:
            target = wanted()
            if target is None:
                return
            if not target.loaded:  # (no search has needed it yet: look again later)
                nxt = min(max(2 * pause, 1.0), _MAX_WAIT_S)
                self._push(nxt, lambda: job(nxt))
                return
            huge = promotion.promote(target, path, dim=dim, n_indexed=n_indexed, keep=lambda: wanted() is target)
            if huge:
                log.debug("index %s searched from %d MiB of huge pages", path.name, huge >> 20)

        self._push(wait, lambda: job(wait))

    def _push(self, delay: float, job: Callable[[], None]) -> None:
        try:
            with self._cond:
                heapq.heappush(self._queue, (time.monotonic() + delay, next(self._seq), job))
                if self._thread is None or not self._thread.is_alive():
                    thread = threading.Thread(target=self._work, name="vecnest-hugepages", daemon=True)
                    thread.start()
                    self._thread = thread
                self._cond.notify()
        except RuntimeError:  # (no new thread now: at a thread limit, or the interpreter exiting)
            log.debug("no thread for promoting indexes to huge pages", exc_info=True)

    def _work(self) -> None:
        while True:
            with self._cond:
                while True:
                    if not self._queue:
                        if self._thread is threading.current_thread():
                            self._thread = None
                        return
                    due = self._queue[0][0] - time.monotonic()
                    if due <= 0:
                        job = heapq.heappop(self._queue)[2]
                        break
                    self._cond.wait(due)
            try:
                job()
            except Exception:  # noqa: BLE001 -- a speed-up: the map keeps serving
                log.debug("promoting an index to huge pages failed", exc_info=True)

    def pending(self) -> int:
        """Jobs waiting (for tests and diagnostics)."""
        with self._cond:
            return len(self._queue)

    def idle(self) -> bool:
        """Whether no job is waiting or running."""
        with self._cond:
            return not self._queue and (self._thread is None or not self._thread.is_alive())


#: The process's promoter.
PROMOTER = Promoter()



def _after_fork_in_child() -> None:
    """A forked child has no promoter thread, and no promotion runs in it: fresh locks (the
    parent's may have been held at the fork), the same queue (weak references: the jobs of the
    indexes the child inherited), a thread of its own if any job waits."""
    promotion._PROMOTING = threading.Lock()
    PROMOTER._cond = threading.Condition()
    PROMOTER._thread = None
    if PROMOTER._queue:
        PROMOTER._push(0.0, lambda: None)  # (starts the child's thread for the jobs it kept)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
