"""What a filter's match keeps between searches (search.match): charged to the snapshot's budget
before it is made, kept once, given back when dropped."""

from __future__ import annotations

import gc

import numpy as np

from vecnest.search import sketch_filter
from vecnest.search.match import Match, _Budget


def test_kept_sketches_are_charged_to_the_budget_and_dropped_with_the_match() -> None:
    budget = _Budget(10_000)
    mask = np.zeros(100, bool)
    mask[::2] = True
    m = Match(mask, 50, budget)

    def build(slots: np.ndarray) -> sketch_filter.FilterSketch:
        return sketch_filter.FilterSketch(slots.copy(), np.zeros((len(slots), 64), np.uint8), np.zeros(8, np.float32))

    got = m.sketched(build, 50 * 72 + 32)
    assert got is m.sketch and budget.left == 10_000 - got.nbytes
    assert m.sketched(build, 50 * 72 + 32) is got  # (kept: built once)
    m.release()  # (a settled index search gives the gathered rows back: the sketches stay)
    assert m.sketch is got
    m.forget()  # (the match left the snapshot's cache)
    assert m.sketch is None
    del got
    gc.collect()
    assert budget.left == 10_000
    assert Match(mask, 50, _Budget(100)).sketched(build, 50 * 72 + 32) is None  # (no room: never built)


def test_the_budget_charges_what_is_made_and_gives_back_what_fails() -> None:
    budget = _Budget(1000)
    small, larger = budget.charged(400, lambda: np.zeros(100, np.uint8))
    assert small is not None and not larger and budget.left == 900  # (charged what it holds)
    got, larger = budget.charged(500, lambda: np.zeros(2000, np.uint8))
    assert got is None and larger and budget.left == 900  # (larger than expected, no room: dropped)
    assert budget.charged(5000, lambda: 1 / 0) == (None, False)  # (no room: never made)

    def fails() -> np.ndarray:
        raise OSError("unreadable")

    try:
        budget.charged(100, fails)
    except OSError:
        pass
    assert budget.left == 900
    del small
    gc.collect()
    assert budget.left == 1000
