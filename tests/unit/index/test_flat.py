from __future__ import annotations

import numpy as np

from vecnest.index.flat import FlatIndex
from vecnest.kernels.distance import squared_norms


def _brute(q: np.ndarray, v: np.ndarray, allowed: np.ndarray, k: int, l2: bool) -> np.ndarray:
    if l2:
        s = -((q[:, None, :] - v[None, :, :]) ** 2).sum(-1)
    else:
        s = q @ v.T
    s[:, ~allowed] = -np.inf
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def test_flat_matches_brute_force_with_dead_slots_and_filters(rng: np.random.Generator) -> None:
    v = rng.normal(size=(500, 12)).astype(np.float32)
    q = rng.normal(size=(7, 12)).astype(np.float32)
    alive = rng.random(500) > 0.2
    for l2 in (False, True):
        index = FlatIndex(v, alive, l2=l2)
        slots, _ = index.search(q, 10)
        np.testing.assert_array_equal(slots, _brute(q, v, alive, 10, l2))
        for frac in (0.05, 0.6):  # gather path and mask path
            cand = np.flatnonzero(alive & (rng.random(500) < frac))
            allowed = np.zeros(500, bool)
            allowed[cand] = True
            slots, _ = index.search(q, 10, cand)
            np.testing.assert_array_equal(slots, _brute(q, v, allowed, 10, l2))


def test_flat_pads_with_minus_one_when_few_candidates() -> None:
    v = np.eye(4, dtype=np.float32)
    index = FlatIndex(v, None, l2=False)
    slots, scores = index.search(np.ones((1, 4), np.float32), 3, np.array([2], dtype=np.int64))
    assert [s for s in slots[0].tolist() if s >= 0] == [2]
    slots, scores = index.search(np.ones((1, 4), np.float32), 3, np.array([0, 1, 2], dtype=np.int64)[:0])
    assert slots.shape == (1, 0)
    alive = np.array([True, False, False, False])
    slots, scores = FlatIndex(v, alive, l2=False).search(np.ones((1, 4), np.float32), 3)
    assert slots.tolist() == [[0, -1, -1]]
    assert np.isneginf(scores[0, 1:]).all()


def test_l2_norms_cached_per_snapshot(rng: np.random.Generator) -> None:
    v = rng.normal(size=(20, 3)).astype(np.float32)
    index = FlatIndex(v, None, l2=True)
    np.testing.assert_allclose(index.sq_norms, squared_norms(v))
    assert index.sq_norms is index.sq_norms
