"""What one filter matches in one snapshot (:class:`Match`), and what it keeps between searches:
its mask and count, its sorted slots and packed bits, the planner's decisions, and, charged to
the snapshot's byte budget (:class:`_Budget`), its rows gathered into one block and its sign
sketches, each given back when dropped."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

#: A match keeps its sorted slots only when they are few (at most one byte per slot in all).
_SLOTS_KEPT_FRACTION = 0.125


class _Budget:
    """Bytes left for gathered row blocks in one snapshot (shared by its matches)."""

    __slots__ = ("left", "lock")

    def __init__(self, limit: int) -> None:
        self.left = limit
        # (re-entrant: a dropped block's finalizer gives its bytes back, taking the lock, and
        # may run wherever the last reference goes, even inside a section holding it)
        self.lock = threading.RLock()

    def take(self, n: int) -> bool:
        with self.lock:
            if n > self.left:
                return False
            self.left -= n
            return True

    def give(self, n: int) -> None:
        with self.lock:
            self.left += n

    def charged(self, nbytes: int, make: Callable[[], Any]) -> tuple[Any, bool]:
        """``make()`` (an object with ``nbytes``) charged to this budget: ``nbytes`` (what the
        caller expects it to hold) before it is made, what it holds after, given back when it is
        gone. ``(None, False)``: no room for ``nbytes`` (never made); ``(None, True)``: it came
        out larger than expected and there is no room for the rest (dropped)."""
        if not self.take(nbytes):
            return None, False
        try:
            got = make()
        except BaseException:
            self.give(nbytes)
            raise
        size = int(got.nbytes)
        if size > nbytes and not self.take(size - nbytes):
            self.give(nbytes)
            return None, True
        if size < nbytes:  # (smaller: the rest back now)
            self.give(nbytes - size)
        weakref.finalize(got, self.give, size)  # bytes back when it is gone
        return got, False


class Match:
    """The rows one filter matches in one snapshot, cached with it: the read-only ``(n_slots,)
    bool`` mask and its count, and, computed on first use, the sorted matching slots (for
    exact scans of few rows) and the mask packed into bits (what FAISS selectors read), so a
    repeated filter pays neither again. Unpacks as ``mask, count``."""

    __slots__ = (
        "count", "half_unsuited", "mapped", "mask", "params", "plans", "sketch_plans", "_budget", "_packed", "_rows", "_sketch",
        "_slots", "_uses",
    )

    def __init__(self, mask: np.ndarray, count: int, budget: _Budget | None = None) -> None:
        self.mask = mask
        self.count = count
        self._budget = budget
        self._uses = 0
        #: an exact scan that keeps what it maps read these rows in place (see FlatIndex.search)
        self.mapped = False
        #: its rows proved too close for a half-precision block to certify: kept in float32
        self.half_unsuited = False
        self._rows: Any = None  # (the kept block: float32 rows or a half.HalfBlock)
        self._sketch: Any = None  # (the kept sign sketches: a sketch_filter.FilterSketch)
        self._slots: np.ndarray | None = None
        self._packed: dict[int, np.ndarray] = {}
        #: FAISS search parameters built over this match's packed bits (see AnnIndex.search)
        self.params: dict[Any, Any] = {}
        #: the planner's decisions for this match, by search options (see planner.execute)
        self.plans: dict[Any, Any] = {}
        #: whether searches of this match rank by sign sketches, by options and k (see
        #: search.sketch_filter.choice)
        self.sketch_plans: dict[Any, Any] = {}

    def __iter__(self) -> Iterator[Any]:
        return iter((self.mask, self.count))

    @property
    def slots(self) -> np.ndarray:
        """Sorted ``int64`` slots of the matching rows."""
        slots = self._slots
        if slots is None:
            slots = np.flatnonzero(self.mask)
            if self.count <= _SLOTS_KEPT_FRACTION * len(self.mask):
                self._slots = slots
        return slots

    def gathered(self, read: Callable[[np.ndarray], Any], dim: int, *, first_use: bool = True, itemsize: int = 4) -> Any:
        """The matching rows as ``read(slots)`` returns them from the snapshot's segment in slot
        order (``(count, dim) float32``, or another block with ``nbytes``, such as a
        :class:`~vecnest.index.half.HalfBlock`), gathered once and kept for the next searches;
        ``None`` when the snapshot's gather budget
        (:data:`vecnest.search.snapshot.GATHER_CACHE_BYTES`) cannot hold it, or, with
        ``first_use=False``, on the match's first use (a filter used once is scanned in place
        rather than copied), so the caller scans in place. The budget is charged ``count × dim
        × itemsize`` bytes (what the caller expects the block to hold) before the read, and
        what the block holds after it (a block larger than expected that the budget cannot
        hold is dropped: ``None``). The block's bytes return to the budget when it is dropped
        (the match left the cache and no search holds it)."""
        block = self._rows
        if block is None:
            self._uses += 1
            if not first_use and self._uses < 2:
                return None
            budget = self._budget
            if budget is None:
                return None
            slots = self.slots
            block, larger = budget.charged(self.count * dim * itemsize, lambda: _frozen_block(read(slots)))
            if block is None:
                if larger:  # (expected float16, got float32, and no room: expect that next time)
                    self.half_unsuited = True
                return None
            with budget.lock:  # two threads may gather the same match: keep one block
                if self._rows is None:
                    self._slots = slots  # (kept with the block, whatever their number)
                    self._rows = block
                kept = self._rows
            # (a losing thread's own block is dropped here, outside the lock: its finalizer
            # gives its bytes back, taking the lock)
            block = kept
        return block

    @property
    def sketch(self) -> Any:
        """The sign sketches :meth:`sketched` kept, if any."""
        return self._sketch

    def sketched(self, build: Callable[[np.ndarray], Any], nbytes: int) -> Any:
        """The matching rows' sign sketches, ``build(slots)`` (an object with ``nbytes``) made
        on first use and kept, charged to the snapshot's gather budget: ``nbytes`` (what the
        caller expects them to hold) before they are built, what they hold after (``None``
        when it cannot hold them, never built: the caller searches otherwise)."""
        got = self._sketch
        if got is not None:
            return got
        budget = self._budget
        if budget is None:
            return None
        slots = self.slots
        got, _ = budget.charged(nbytes, lambda: build(slots))
        if got is None:
            return None
        with budget.lock:  # (two threads may build at once: keep one)
            if self._sketch is None:
                self._sketch = got
            kept = self._sketch
        return kept

    def forget(self) -> None:
        """Drop everything kept (the match left the snapshot's cache): the gathered block and
        the sign sketches."""
        self._rows = None
        self._sketch = None

    def release(self, block: Any = None) -> None:
        """Drop the gathered block (the match left the snapshot's cache), or, given ``block``,
        only if it is still the one kept (a search that judged it is not to drop its successor)."""
        if block is None:
            self._rows = None
            return
        budget = self._budget
        if budget is None:
            if self._rows is block:
                self._rows = None
            return
        with budget.lock:
            dropped = self._rows if self._rows is block else None
            if dropped is not None:
                self._rows = None
        del dropped  # (its finalizer gives its bytes back: outside the lock, though re-entrant)

    def packed(self, upto: int) -> np.ndarray:
        """``mask[:upto]`` as little-endian packed bits (an ``IDSelectorBitmap``'s input)."""
        bits = self._packed.get(upto)
        if bits is None:
            bits = np.packbits(self.mask[:upto], bitorder="little")
            if len(self._packed) < 4:
                self._packed[upto] = bits
        return bits


def _frozen_block(block: Any) -> Any:
    """A gathered block as kept: float32 rows contiguous and read-only (other blocks as they are)."""
    if isinstance(block, np.ndarray):
        block = np.ascontiguousarray(block, dtype=np.float32)
        block.flags.writeable = False
    return block
