from __future__ import annotations

import numpy as np
import pytest

from vecnest.search import delta


def _reference(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best k of both answers, row by row in plain Python (ties: ``a`` first)."""
    slots, scores = [], []
    for i in range(len(a[0])):
        pairs = list(zip(a[1][i].tolist() + b[1][i].tolist(), a[0][i].tolist() + b[0][i].tolist(), strict=True))
        best = sorted(range(len(pairs)), key=lambda j: -pairs[j][0])[:k]  # (sorted() is stable)
        scores.append([pairs[j][0] for j in best])
        slots.append([pairs[j][1] if np.isfinite(pairs[j][0]) else -1 for j in best])
    return np.array(slots, dtype=np.int64), np.array(scores, dtype=np.float32)


@pytest.mark.parametrize("wide", [False, True])
def test_merge_keeps_the_best_k_of_both_answers(rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, wide: bool) -> None:
    if wide:  # (the partition path of answers wider than SORT_WIDTH)
        monkeypatch.setattr(delta, "SORT_WIDTH", 4)
    q, k = 5, 10
    a_scores = -np.sort(-rng.integers(0, 6, (q, k)).astype(np.float32), axis=1)  # many ties
    b_scores = -np.sort(-rng.integers(0, 6, (q, k)).astype(np.float32), axis=1)
    a_scores[0, 7:] = -np.inf  # short answers: -inf past their ends, slot -1
    b_scores[1, 3:] = -np.inf
    a = (np.arange(q * k, dtype=np.int64).reshape(q, k), a_scores)
    b = (1000 + np.arange(q * k, dtype=np.int64).reshape(q, k), b_scores)
    a[0][0, 7:] = -1
    b[0][1, 3:] = -1
    slots, scores = delta.merge(a, b, k)
    want_slots, want_scores = _reference(a, b, k)
    np.testing.assert_array_equal(scores, want_scores)
    if wide:  # (a partition breaks ties arbitrarily: the same scores, a set of slots per score)
        for i in range(q):
            for s in set(want_scores[i].tolist()):
                tied = set(a[0][i][a[1][i] == s].tolist()) | set(b[0][i][b[1][i] == s].tolist())
                assert set(slots[i][scores[i] == s].tolist()) <= (tied if np.isfinite(s) else {-1})
    else:
        np.testing.assert_array_equal(slots, want_slots)  # ties: the index's answer first
    short = delta.merge((a[0][:, :2], a[1][:, :2]), (b[0][:, :1], b[1][:, :1]), k)
    assert short[0].shape == (q, 3)  # k wider than both answers: all of them, best first
    assert (np.diff(short[1], axis=1) <= 0).all()


def test_a_sketch_ranking_that_fails_falls_back_to_the_exact_scan(rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    from vecnest.index.flat import FlatIndex
    from vecnest.search import sketch

    vecs = rng.standard_normal((6000, 64)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    flat = FlatIndex(vecs, None, l2=False)
    buf = sketch.SketchBuffer(0, 1000, 64)
    rows = np.arange(1000, 6000, dtype=np.int64)
    q = vecs[[1500]] + 0.01
    _, note = delta.search_delta(flat, buf, 1000, 6000, q, 10, rows, False)
    assert "sign sketches" in note  # (the sketch path, normally)

    def no_memory(*args: object, **kwargs: object) -> np.ndarray:
        raise MemoryError("no room for the codes")

    monkeypatch.setattr(sketch, "hamming_candidates", no_memory)
    (slots, scores), note = delta.search_delta(flat, buf, 1000, 6000, q, 10, rows, False)
    exact = flat.search(q, 10, rows)
    assert note == "" and slots.tolist() == exact[0].tolist()  # the exact scan answered
