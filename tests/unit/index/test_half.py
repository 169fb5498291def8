"""Kept float16 blocks of a filter's rows (index.half): exact answers, certified or scanned
again in float32, half the budget, no page of the segment mapped, float32 where half precision
cannot hold or tell apart the rows, and safe when threads gather one match at once."""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vecnest.compress.memory import mapped_rss
from vecnest.index import half
from vecnest.index.flat import FlatIndex
from vecnest.search.match import Match, _Budget
from vecnest.store.segments import map_file


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Half blocks from 500 rows of 16 dimensions (the defaults are sized for 384-d rows)."""
    monkeypatch.setattr(half, "MIN_ROWS", 500)
    monkeypatch.setattr(half, "MIN_DIM", 16)


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_certified_answers_are_the_float32_scans(rng: np.random.Generator) -> None:
    """Unit rows (cosine) and rows of different norms (dot), k from 1 to what the block allows:
    every certified answer is the float32 scan's (the same slots in the same order; scores
    equal up to the summation order of the scan's kernel), and ordinary data is certified."""
    for spread in (None, (0.6, 1.15)):
        v = _unit(rng, 8000, 48)
        if spread:
            v *= rng.uniform(*spread, size=(len(v), 1)).astype(np.float32)
        slots = np.sort(rng.choice(len(v), 6000, replace=False)).astype(np.int64)
        block = half.encode(v[slots], slots)
        assert block is not None and block.nbytes == 6000 * 48 * 2
        q = rng.standard_normal((40, 48)).astype(np.float32)
        want_index = FlatIndex(v, None, l2=False)
        for k in (1, 10, 180):
            assert half.suits(block, k)
            got, scores, certified = half.search(block, lambda s: v[s], q, k)
            want, want_scores = want_index.search(q, k, slots)
            assert certified.mean() >= 0.9, (spread, k)
            np.testing.assert_array_equal(got[certified], want[certified])
            np.testing.assert_allclose(scores[certified], want_scores[certified], rtol=1e-6)
        assert not half.suits(block, 190)  # (380 candidates: more than 1/16 of the rows)
        with pytest.raises(ValueError, match="expected"):
            half.search(block, lambda s: v[s], q[:, :40], 10)
        with pytest.raises(ValueError, match="k >= 1"):
            half.search(block, lambda s: v[s], q, 0)


def _clustered(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """6,000 rows: 5 unit rows, each copied 1,200 times and moved by ~1e-6 (closer than half
    precision resolves)."""
    base = _unit(rng, 5, 32)
    v = np.repeat(base, 1200, axis=0) + rng.normal(scale=1e-6, size=(6000, 32)).astype(np.float32)
    return base, v


def test_a_query_the_bound_cannot_certify_is_scanned_in_float32_and_such_rows_stay_float32(rng: np.random.Generator) -> None:
    """Near-duplicate rows cannot be told apart in float16: the block reports those queries
    uncertified and the flat index answers them from the float32 rows, exactly, in a batch
    with certified ones; once most of its queries needed that, the match drops the block and
    keeps its rows in float32."""
    base, v = _clustered(rng)
    v = np.vstack([v, _unit(rng, 2000, 32)])  # (and rows spread out, for certified queries)
    mask = np.zeros(len(v), dtype=bool)
    mask[rng.choice(len(v), 1500, replace=False)] = True  # (under GATHER_FRACTION: kept)
    slots = np.flatnonzero(mask)
    near = base[:3] + rng.normal(scale=1e-3, size=(3, 32)).astype(np.float32)
    q = np.vstack([near, rng.standard_normal((3, 32)).astype(np.float32)])
    block = half.encode(v[slots], slots)
    assert block is not None
    _, _, certified = half.search(block, lambda s: v[s], q, 10)
    assert not certified[:3].any() and certified[3:].any()
    flat = FlatIndex(v, None, l2=False)
    want = flat.search(q, 10, slots)
    match = Match(mask, int(mask.sum()), _Budget(1 << 30))
    seen_half = False
    for _ in range(half.JUDGED_AFTER // 3 + 3):
        got = flat.search(q[:3], 10, match)
        np.testing.assert_array_equal(got[0], want[0][:3])
        np.testing.assert_array_equal(got[1], want[1][:3])
        seen_half |= isinstance(match._rows, half.HalfBlock)
    mixed = flat.search(q, 10, match)
    np.testing.assert_array_equal(mixed[0], want[0])
    assert seen_half and match.half_unsuited and isinstance(match._rows, np.ndarray)


def test_rows_half_precision_cannot_hold_stay_float32(rng: np.random.Generator) -> None:
    """Too few rows or dimensions, a component beyond float16's range or not finite, a row
    far longer than the rest: no block; the L2 metric keeps float32 rows (its bound is not the
    inner product's)."""
    v = _unit(rng, 800, 16)
    slots = np.arange(800)
    assert half.encode(v[:499], slots[:499]) is None
    assert half.encode(v[:, :15], slots) is None
    assert half.encode(v, slots) is not None
    for row, value in ((7, 70000.0), (7, np.inf), (7, np.nan), (8, -70000.0)):
        w = v.copy()
        w[row, 3] = value
        assert half.encode(w, slots) is None, value
    w = v.copy()
    w[9] *= 2.5  # (one row 2.5x the median norm: every query's bound would widen with it)
    assert half.encode(w, slots) is None
    mask = np.zeros(len(v), dtype=bool)
    mask[:550] = True  # (under GATHER_FRACTION of the 2,400 rows below: kept)
    rows = np.vstack([v, _unit(rng, 1600, 16)])
    mask = np.concatenate([mask, np.zeros(1600, dtype=bool)])
    for l2, kind in ((False, half.HalfBlock), (True, np.ndarray)):
        match = Match(mask, int(mask.sum()), _Budget(1 << 30))
        flat = FlatIndex(rows, None, l2=l2)
        want = flat.search(rows[:3], 5, np.flatnonzero(mask))
        for _ in range(2):
            got = flat.search(rows[:3], 5, match)
            np.testing.assert_array_equal(got[0], want[0])
        assert isinstance(match._rows, kind)
        # a search asking for more than the block is for: the float32 rows, the same answers
        many = flat.search(rows[:2], 200, match)
        np.testing.assert_array_equal(many[0], flat.search(rows[:2], 200, np.flatnonzero(mask))[0])


def test_a_half_block_is_charged_its_own_bytes_and_maps_no_page(tmp_path: Path, rng: np.random.Generator) -> None:
    """The budget is charged the float16 bytes, so a block fits where its float32 rows would
    not; they come back when the match leaves the cache; searches, transient or not, rescore
    from the segment's file and leave none of its pages mapped; a block expected in half
    precision that turns out float32 is dropped when the budget cannot hold it."""
    v = _unit(rng, 65_536, 32)  # (8 MiB)
    path = tmp_path / "c1.g0.f32"
    v.tofile(path)
    view = map_file(path, v.nbytes).view(np.float32).reshape(v.shape)
    flat = FlatIndex(view, None, l2=False, path=path)
    mask = np.zeros(len(v), dtype=bool)  # (under SELECT_FRACTION: gathered from the file at first use)
    mask[rng.choice(len(v), 1500, replace=False)] = True
    count = int(mask.sum())
    limit = count * 32 * 3  # (room for the float16 block, not the float32 rows)
    budget = _Budget(limit)
    match = Match(mask, count, budget)
    q = rng.standard_normal((2, 32)).astype(np.float32)
    want = FlatIndex(v, None, l2=False).search(q, 10, np.flatnonzero(mask))
    for transient in (False, True, False):
        for _ in range(4):
            got = flat.search(q, 10, match, transient=transient)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
        assert mapped_rss([path])[str(path.resolve())] < 64 * 1024, transient
    assert isinstance(match._rows, half.HalfBlock)
    assert budget.left == limit - count * 32 * 2
    match.release()
    gc.collect()
    assert budget.left == limit
    # rows out of float16's range: expected half, read float32, and the budget cannot hold them
    w = v.copy()
    w[np.flatnonzero(mask)[0], 0] = 1e6
    wide = Match(mask, count, budget)
    for _ in range(3):
        got = FlatIndex(w, None, l2=False).search(q, 10, wide)
    assert wide._rows is None and budget.left == limit


def test_threads_gathering_one_match_at_once_keep_one_block(rng: np.random.Generator) -> None:
    """Threads whose first searches of one filter race to gather it keep one block, give the
    other copies' bytes back, and none of them hangs (a losing copy's finalizer gives its bytes
    back under the budget's lock)."""
    v = _unit(rng, 20_000, 32)
    flat = FlatIndex(v, None, l2=False)
    q = rng.standard_normal((1, 32)).astype(np.float32)
    for rows in (1500, 300):  # (a half block; float32 rows)
        mask = np.zeros(len(v), dtype=bool)
        mask[rng.choice(len(v), rows, replace=False)] = True
        want = flat.search(q, 10, np.flatnonzero(mask))
        for _ in range(10):
            budget = _Budget(1 << 30)
            match = Match(mask, rows, budget)
            match._uses = 1  # (past its first use: every thread gathers)
            barrier = threading.Barrier(6)
            errors: list[BaseException] = []

            def search() -> None:
                try:
                    barrier.wait()
                    got = flat.search(q, 10, match)
                    np.testing.assert_array_equal(got[0], want[0])
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=search, daemon=True) for _ in range(6)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 20
            for t in threads:
                t.join(timeout=max(0.0, deadline - time.monotonic()))
            assert not any(t.is_alive() for t in threads), "a thread hung gathering the match"
            assert not errors, errors
            gc.collect()
            kept = match._rows
            assert kept is not None
            assert budget.left == (1 << 30) - int(kept.nbytes)


def _segment(tmp_path: Path, v: np.ndarray, name: str = "c1.g0.f32") -> FlatIndex:
    path = tmp_path / name
    v.tofile(path)
    view = map_file(path, v.nbytes).view(np.float32).reshape(v.shape)
    return FlatIndex(view, None, l2=False, path=path)


def test_searches_a_kept_block_is_not_for_leave_no_page_mapped_and_switch_it_to_float32(tmp_path: Path, rng: np.random.Generator) -> None:
    """Queries the bound cannot certify, and a search for more results than the block is for,
    are scanned in float32 through the map and its pages released (nothing stays mapped, not
    even in a search that keeps what it maps); a large-``k`` search makes the match keep float32
    rows from then on; the answers never change."""
    base, clusters = _clustered(rng)
    v = np.vstack([clusters, _unit(rng, 58_000, 32)])  # (8 MiB)
    flat = _segment(tmp_path, v)
    path = tmp_path / "c1.g0.f32"
    mask = np.zeros(len(v), dtype=bool)
    mask[rng.choice(6000, 1200, replace=False)] = True  # (the near-duplicates: never certified)
    mask[6000 + rng.choice(58_000, 600, replace=False)] = True
    q = np.vstack([base[:2] + rng.normal(scale=1e-3, size=(2, 32)).astype(np.float32), rng.standard_normal((2, 32)).astype(np.float32)])
    exact = FlatIndex(v, None, l2=False)
    match = Match(mask, int(mask.sum()), _Budget(1 << 30))
    for _ in range(3):
        got = flat.search(q, 10, match)
        np.testing.assert_array_equal(got[0], exact.search(q, 10, np.flatnonzero(mask))[0])
    assert isinstance(match._rows, half.HalfBlock) and not match.half_unsuited  # (mixed batches so far)
    assert mapped_rss([path])[str(path.resolve())] < 64 * 1024
    many = flat.search(q[2:], 120, match)  # (240 candidates: more than 1/16 of the 1,800 rows)
    np.testing.assert_array_equal(many[0], exact.search(q[2:], 120, np.flatnonzero(mask))[0])
    assert mapped_rss([path])[str(path.resolve())] < 64 * 1024
    assert match.half_unsuited and match._rows is None
    flat.search(q, 10, match)
    assert isinstance(match._rows, np.ndarray)  # (float32 rows, read from the file)


def test_a_block_refused_for_want_of_budget_is_not_gathered_again(rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows expected to fit in float16 that stay float32 (one far longer than the rest) and do
    not fit the budget in float32 are gathered once: later searches scan in place."""
    v = _unit(rng, 12_000, 32)
    mask = np.zeros(len(v), dtype=bool)
    mask[:1000] = True
    v[5] *= 3.0  # (a norm 3x the median: no float16 block)
    reads: list[int] = []
    real = half.encode

    def counted(rows: np.ndarray, slots: np.ndarray) -> half.HalfBlock | None:
        reads.append(len(rows))  # (each gather of the rows comes here)
        return real(rows, slots)

    monkeypatch.setattr(half, "encode", counted)
    budget = _Budget(1000 * 32 * 3)  # (float16 fits, float32 does not)
    match = Match(mask, 1000, budget)
    flat = FlatIndex(v, None, l2=False)
    want = flat.search(v[:2], 10, np.flatnonzero(mask))
    for _ in range(6):
        np.testing.assert_array_equal(flat.search(v[:2], 10, match)[0], want[0])
    assert reads == [1000] and match._rows is None and budget.left == 1000 * 32 * 3


def test_a_gone_segment_file_and_a_stale_release_leave_the_answers_alone(tmp_path: Path, rng: np.random.Generator) -> None:
    """A segment file unlinked before the first float16 search (a compacted generation the
    snapshot still maps) is read through the map; releasing a block that is no longer the
    match's keeps its successor."""
    v = _unit(rng, 20_000, 32)
    flat = _segment(tmp_path, v)
    mask = np.zeros(len(v), dtype=bool)
    mask[rng.choice(len(v), 1000, replace=False)] = True
    match = Match(mask, 1000, _Budget(1 << 30))
    want = FlatIndex(v, None, l2=False).search(v[:2], 10, np.flatnonzero(mask))
    flat.search(v[:2], 10, match)
    flat.search(v[:2], 10, match)  # (gathered: read from the file while it is there)
    assert isinstance(match._rows, half.HalfBlock)
    (tmp_path / "c1.g0.f32").unlink()
    np.testing.assert_array_equal(flat.search(v[:2], 10, match)[0], want[0])
    old = match._rows
    match.release(old)
    flat.search(v[:2], 10, match)
    successor = match._rows
    assert successor is not None and successor is not old
    match.release(old)  # (a stale verdict on the old block)
    assert match._rows is successor
