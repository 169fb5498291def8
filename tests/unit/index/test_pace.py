"""Write pacing: a writer that outruns the index merges is slowed after its commits, smoothly."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

import vecnest
from vecnest.config import IndexConfig, parse_index
from vecnest.errors import InvalidInputError
from vecnest.index.pace import MAX_HOLD, PRIOR_RATE, Pacer, deferred


def test_no_delay_below_the_limit_then_a_ramp_to_the_merge_rate_at_the_cap() -> None:
    p = Pacer(soft=10_000, cap=40_000)
    assert p.rate is None
    assert p.delay(1000, 10_000) == 0.0 and p.delay(0, 90_000) == 0.0
    assert p.delay(1000, 25_000) == pytest.approx(1000 / PRIOR_RATE * 0.5)  # no merge measured yet
    p.merged(6000, 2.0)  # 3,000 rows/s
    assert p.rate == pytest.approx(3000)
    assert p.delay(1000, 40_000) == pytest.approx(1000 / 3000)  # at the cap: the merge rate
    assert p.delay(1000, 25_000) == pytest.approx(1000 / 3000 * 0.5)
    assert p.delay(1000, 60_000) == pytest.approx(1000 / 3000 * 1.5)  # past the cap: slower still
    assert p.delay(1000, 10**9) == pytest.approx(1000 / 3000 * 2)  # bounded
    assert p.delay(10**6, 10**9) == MAX_HOLD  # one call is never held for long
    # continuous at the cap, and monotone in the delta
    deltas = np.arange(10_000, 120_000, 500)
    d = [p.delay(1000, int(x)) for x in deltas]
    assert all(b >= a for a, b in zip(d, d[1:], strict=False))
    p.merged(2000, 2.0)  # 1,000 rows/s: a moving average
    assert 1000 < p.rate < 3000
    p.merged(0, 1.0)  # nothing merged: not a measurement
    assert 1000 < p.rate < 3000
    assert Pacer(soft=10, cap=None).delay(1000, 10**9) == 0.0


def test_a_held_writer_is_released_when_a_merge_catches_up() -> None:
    p = Pacer(soft=1000, cap=2000)
    p.merged(1000, 1.0)  # 1,000 rows/s: 1,000 rows at the cap = 1 s
    delta = [2000]
    done = threading.Event()
    held: list[float] = []

    def writer() -> None:
        held.append(p.hold(1000, delta[0], lambda: delta[0]))
        done.set()

    threading.Thread(target=writer).start()
    time.sleep(0.2)
    assert not done.is_set() and p.holding()  # held at the full pace: merges may take every core
    delta[0] = 500
    p.merged(1500, 0.5)  # a merge landed: the delta is under the limit again
    assert done.wait(2.0) and held[0] < 0.8
    # below half the full pace a hold does not widen the merges
    q = Pacer(soft=1000, cap=2000)
    assert q.hold(10, 1200, lambda: 1200) > 0 and not q.holding()
    # deferred: nothing waits, the caller is told how long it would have
    with deferred() as box:
        t = time.perf_counter()
        assert p.hold(1000, 2000, lambda: 2000) == pytest.approx(box.seconds) and box.seconds > 0.3
        assert time.perf_counter() - t < 0.1


def test_delta_cap_is_validated() -> None:
    assert parse_index(IndexConfig(kind="hnsw", delta_cap=None)).delta_cap is None
    for bad in (0, -5, 2.5, True, "40k"):
        with pytest.raises(InvalidInputError, match="delta_cap"):
            parse_index(IndexConfig(kind="hnsw", delta_cap=bad))  # type: ignore[arg-type]


def _writer_run(path: Path, cap: int | None, vecs: np.ndarray) -> tuple[list[int], list[float], int]:
    deltas, calls = [], []
    with vecnest.open(path) as db:  # background merges: the pacing case
        cfg = IndexConfig(kind="hnsw", min_rows=500, delta_limit=500, delta_cap=cap, ef_construction=200, m=48)
        col = db.create_collection("c", model=None, dim=vecs.shape[1], index=cfg)
        col.add([str(i) for i in range(1000)], vectors=vecs[:1000])
        # (no index yet: nothing to pace against; the background job may have built it first)
        assert col.optimize()["action"] in ("built", "none") and col._source.current().ann is not None
        assert col._maint.index.delta() == 0
        for a in range(1000, len(vecs), 250):
            t = time.perf_counter()
            col.add([str(i) for i in range(a, a + 250)], vectors=vecs[a : a + 250])
            calls.append(time.perf_counter() - t)
            deltas.append(col._maint.index.delta())
        assert col._maint.pacer is None or col._maint.pacer.rate is not None or cap is None
        n = len(col)
    return deltas, calls, n


def test_a_fast_writer_cannot_leave_the_index_far_behind(tmp_path: Path) -> None:
    vecs = np.random.default_rng(0).normal(size=(8000, 96)).astype(np.float32)
    paced, calls, n = _writer_run(tmp_path / "paced", 1000, vecs)
    assert n == len(vecs)  # every write committed
    # merges of ~2.5k rows/s cannot keep up with appends of 250 rows in ~10 ms; paced, the
    # delta stays within a few caps (it may overshoot while a merge is in flight)
    assert max(paced[len(paced) // 2 :]) <= 6000, paced
    assert sum(calls) > 0.5  # the writer was held
    free, _, _ = _writer_run(tmp_path / "free", None, vecs)
    assert max(free) > max(paced[len(paced) // 2 :])  # unpaced, the delta runs further ahead


def test_no_pacing_without_an_index_to_merge_into(tmp_path: Path) -> None:
    vecs = np.random.default_rng(1).normal(size=(3000, 16)).astype(np.float32)
    with vecnest.open(tmp_path / "s") as db:
        cfg = IndexConfig(kind="hnsw", min_rows=10**6, delta_limit=10, delta_cap=20)  # never built
        col = db.create_collection("c", model=None, dim=16, index=cfg)
        t = time.perf_counter()
        for a in range(0, 3000, 500):
            col.add([str(i) for i in range(a, a + 500)], vectors=vecs[a : a + 500])
        assert col._maint.index.delta() == 0 and time.perf_counter() - t < 5.0  # never held
