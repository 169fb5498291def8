"""Write pacing: a writer whose appends outrun the index merges is slowed, not the searches.

Plain ``add()`` calls append rows far faster than one background thread merges them into a
graph (74k arXiv titles on 2 cores: ~13k rows a second appended, ~2.4-3k a second inserted into
an HNSW graph with M=32 / efConstruction=128). Unpaced, the delta — the rows every approximate
search also scans — grows without bound: a writer streaming for 80 s left ~1M unmerged rows and
searches at 50-90 ms instead of 0.13 ms. As LSM stores do with their level-0 files, a write
that leaves the delta of an existing index past ``IndexConfig.delta_limit`` is held after its
commit, for a time proportional to its rows and to how far past the limit the delta is,
reaching the merge rate (the rows a merge of this process took in per second, last measured)
at ``IndexConfig.delta_cap`` and going beyond it past the cap; at most :data:`MAX_HOLD`
seconds, and no longer than until a merge brings the delta back under the limit.

The hold comes after the commit: the write is durable and visible when it starts; only the
call's return waits (an interrupt arriving meanwhile propagates from a call whose write is
stored, as it would a moment after the call returned). Every call of a paced stream is slowed
alike (no call waits for a whole merge). While writes are held at more than half the full
pace, merges use every core (the writer's is idle); otherwise they leave one to the searches.
Not paced: ``bulk()`` (its rows are merged once, at its end), a store opened with
``background=False`` (it merges inline), a collection with no index yet (its first build runs
when ``min_rows`` is reached; searches are exact until then). A server defers the hold (see
:func:`deferred`) and waits it out without holding a worker thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: Weight of the newest measurement in the merge rate's moving average.
_ALPHA = 0.5
#: The delay grows past the cap up to this many times the merge-rate delay.
_MAX_FACTOR = 2.0
#: One call is held at most this many seconds.
MAX_HOLD = 5.0
#: A merge started within this many seconds of a write held at more than half the full pace
#: uses every core (the held writer's too), so a paced stream is indexed as fast as it can be.
HOLD_MEMORY = 5.0
#: Rows per second assumed until a merge of this process has been measured (a cautious
#: figure: 384-dim rows into an M=32 graph go in at ~2-3k a second per core).
PRIOR_RATE = 1_000.0

_local = threading.local()


class _Deferred:
    __slots__ = ("seconds",)

    def __init__(self) -> None:
        self.seconds = 0.0


@contextmanager
def deferred() -> Iterator[_Deferred]:
    """Within this block, writes of the calling thread are not held: the hold they would have
    had is added to the yielded object's ``seconds`` (for a caller that waits it out itself,
    e.g. a server's event loop, without keeping a worker thread)."""
    before = getattr(_local, "deferred", None)
    box = _local.deferred = _Deferred()
    try:
        yield box
    finally:
        _local.deferred = before


class Pacer:
    """The pace of one collection's writes in this process.

    Args:
        soft: delta rows from which writes are slowed (``delta_limit``).
        cap: delta rows at which a write is held for as long as a merge takes to take its
            rows in (``delta_cap``; ``None``: never paced).
    """

    def __init__(self, soft: int, cap: int | None) -> None:
        self.soft = soft
        self.cap = cap
        self._rate: float | None = None
        self._held_at = -1e18
        self._cv = threading.Condition()

    @property
    def rate(self) -> float | None:
        """Rows per second the merges of this process took in (``None``: none measured yet,
        :data:`PRIOR_RATE` is assumed)."""
        return self._rate

    def merged(self, rows: int, seconds: float) -> None:
        """Record a merge (or build) that took ``rows`` rows in in ``seconds``, and wake the
        writers held meanwhile (they check the delta again)."""
        with self._cv:
            if rows > 0 and seconds > 0:
                rate = rows / seconds
                self._rate = rate if self._rate is None else _ALPHA * rate + (1 - _ALPHA) * self._rate
            self._cv.notify_all()

    def holding(self, within: float = HOLD_MEMORY) -> bool:
        """Whether a write was held at more than half the full pace in the last ``within``
        seconds (the writer is waiting for the merges: they may use the core it leaves idle)."""
        return time.monotonic() - self._held_at < within

    def delay(self, written: int, delta: int) -> float:
        """Seconds to hold a write of ``written`` rows that left ``delta`` rows unmerged."""
        rate, cap = self._rate or PRIOR_RATE, self.cap
        if cap is None or written <= 0 or delta <= self.soft:
            return 0.0
        span = max(cap - self.soft, 1)
        factor = min(_MAX_FACTOR, (delta - self.soft) / span) if delta <= cap else min(_MAX_FACTOR, delta / cap)
        return min(MAX_HOLD, written / rate * factor)

    def hold(self, written: int, delta: int, current: Callable[[], int]) -> float:
        """Hold the calling thread after a write of ``written`` rows that left ``delta`` rows
        unmerged (see module docstring); ``current()`` reads the delta again when a merge lands.
        Returns the seconds held (or deferred, inside :func:`deferred`)."""
        wait = self.delay(written, delta)
        if wait <= 0:
            return 0.0
        if self.cap is not None and 2 * delta >= self.soft + self.cap:
            self._held_at = time.monotonic()
        box = getattr(_local, "deferred", None)
        if box is not None:
            box.seconds += wait
            return wait
        start = time.monotonic()
        deadline = start + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            with self._cv:
                woke = self._cv.wait(left)
            if woke and current() <= self.soft:  # a merge caught up: no reason to wait on
                break
        return time.monotonic() - start
